"""temporal_memory"""
