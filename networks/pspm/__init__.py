"""pspm"""
