"""Analysis of any run's spikes: statistics and rate spectra (:mod:`.spikes`), spike-train distances and
weight-recovery measures (:mod:`.distances`), neuronal avalanches and their power-law fits (:mod:`.avalanches`).

Only NumPy is imported here: Numba kernels, SciPy and ``powerlaw`` load when the function that needs them runs
(every spiking run imports this package)."""

from __future__ import annotations

from biosim.analysis.spikes import (
    cv_of,
    isi_cv,
    isis,
    population_summary,
    rate_rhythm,
    rate_spectrum,
    spike_statistics,
    summary_of,
)

__all__ = ["cv_of", "isi_cv", "isis", "population_summary", "rate_rhythm", "rate_spectrum", "spike_statistics",
           "summary_of"]
