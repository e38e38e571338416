"""graph_local"""
