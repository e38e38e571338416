"""biosim: an event-driven, Numba-compiled simulator for spiking networks and local learning rules."""

__version__ = "0.1.0"
