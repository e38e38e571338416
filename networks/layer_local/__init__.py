"""layer_local"""
