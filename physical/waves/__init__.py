"""Wave layers: frozen simulated physical systems (scattering media, wave equations, coupled oscillators)."""
