"""rate_hebbian"""
