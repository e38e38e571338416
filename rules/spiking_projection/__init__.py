"""spiking_projection"""
