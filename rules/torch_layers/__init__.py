"""torch_layers"""
