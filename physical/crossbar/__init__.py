"""Memristor crossbars: device models (levels, programming noise, drift, stuck-at faults), tiles with their
converters and wire resistance, the in-memory nonlinear ramp ADC (NL-ADC), and analog layers built on them."""
