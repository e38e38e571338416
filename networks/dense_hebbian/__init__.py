"""dense_hebbian"""
