"""Simulation engine: populations, projections (CSR), the fused Numba step loop and monitors."""
