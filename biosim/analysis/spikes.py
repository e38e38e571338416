"""Spike-train statistics of a run: firing rates, ISI coefficients of variation, rate spectra."""

from __future__ import annotations

import numpy as np


def isi_cv(times: np.ndarray, indices: np.ndarray, n: int, min_spikes: int = 3) -> np.ndarray:
    """CV of the inter-spike intervals of each neuron with at least ``min_spikes`` spikes."""
    return cv_of(spike_statistics(times, indices, n), min_spikes)


def cv_of(statistics: dict[str, np.ndarray], min_spikes: int = 3) -> np.ndarray:
    """Per-neuron ISI CVs from :func:`spike_statistics` (neurons with at least ``min_spikes`` spikes)."""
    counts = statistics["count"]
    m = np.maximum(counts - 1, 1)
    mean = statistics["isi_sum"] / m
    var = np.maximum(statistics["isi_sq"] / m - mean**2, 0.0)
    valid = (counts >= min_spikes) & (mean > 0)
    return np.sqrt(var[valid]) / mean[valid]


def isis(times: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """All inter-spike intervals (s), pooled over neurons."""
    order = np.lexsort((times, indices))
    t, i = times[order], indices[order]
    return np.diff(t)[np.diff(i) == 0]


def spike_statistics(times: np.ndarray, indices: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per-neuron spike ``count`` and the sum and sum of squares of the inter-spike intervals (``isi_sum`` s,
    ``isi_sq`` s^2): what the native engine's counters keep during a run, here from complete spike arrays."""
    order = np.lexsort((times, indices))
    t, i = np.asarray(times, np.float64)[order], np.asarray(indices)[order]
    same = np.diff(i) == 0
    isi, owner = np.diff(t)[same], i[1:][same]
    return {"count": np.bincount(i, minlength=n).astype(np.int64),
            "isi_sum": np.bincount(owner, weights=isi, minlength=n),
            "isi_sq": np.bincount(owner, weights=isi * isi, minlength=n)}


def summary_of(statistics: dict[str, np.ndarray], duration: float, min_spikes: int = 3) -> dict[str, float]:
    """rate_hz (mean over neurons, over ``duration`` s), cv_isi (mean ISI CV over neurons with at least
    ``min_spikes`` spikes; NaN when none), spike_count and neurons_with_cv, from :func:`spike_statistics`."""
    counts = statistics["count"]
    cvs = cv_of(statistics, min_spikes)
    total = int(counts.sum())
    return {
        "rate_hz": float(total / (counts.size * duration)) if duration > 0 and counts.size else 0.0,
        "cv_isi": float(cvs.mean()) if cvs.size else float("nan"),
        "spike_count": total,
        "neurons_with_cv": int(cvs.size),
    }


def population_summary(times: np.ndarray, indices: np.ndarray, n: int, duration: float) -> dict[str, float]:
    """:func:`summary_of` the spikes ``(times s, indices)`` of ``n`` neurons over ``duration`` s."""
    return summary_of(spike_statistics(times, indices, n), duration)


def _binned(rate: np.ndarray, dt: float, bin_width: float) -> np.ndarray:
    """The rate averaged over bins of ``bin_width`` (s); a partial last bin is dropped."""
    per_bin = max(1, round(bin_width / dt))
    return rate[: rate.size // per_bin * per_bin].reshape(-1, per_bin).mean(axis=1)


def rate_spectrum(rate: np.ndarray, dt: float, bin_width: float = 1e-3) -> tuple[np.ndarray, np.ndarray] | None:
    """Power spectrum of a population rate (Hz per step) binned to ``bin_width`` (s): frequencies (Hz) and power
    (Hz^2/Hz) by Welch's method (Hann-windowed segments of 256 bins, half overlapping, DC removed); None for
    fewer than 16 bins or no spikes."""
    binned = _binned(rate, dt, bin_width)
    if binned.size < 16 or binned.mean() == 0:
        return None
    # NumPy's FFT (scipy.signal.welch would add ~0.3 s of imports to every run; the test checks against it)
    size = min(binned.size, 256)
    starts = range(0, binned.size - size + 1, size // 2)
    window = np.hanning(size)
    segments = np.array([binned[a:a + size] - binned[a:a + size].mean() for a in starts]) * window
    step = max(1, round(bin_width / dt)) * dt
    power = (np.abs(np.fft.rfft(segments, axis=1)) ** 2).mean(axis=0) * step / (window ** 2).sum()
    power[1: size - size // 2] *= 2  # one-sided: every bin but DC and (even size) Nyquist counts twice
    return np.fft.rfftfreq(size, step), power


def rate_rhythm(rate: np.ndarray, dt: float, bin_width: float = 1e-3) -> dict[str, float]:
    """Synchrony of a population from its rate: the peak of the rate's power spectrum (:func:`rate_spectrum`)
    and the coefficient of variation of the binned rate (0 for asynchronous)."""
    spectrum = rate_spectrum(rate, dt, bin_width)
    if spectrum is None:
        return {"rate_peak_hz": float("nan"), "rate_cv": float("nan")}
    freqs, power = spectrum
    binned = _binned(rate, dt, bin_width)
    return {"rate_peak_hz": float(freqs[1:][np.argmax(power[1:])]), "rate_cv": float(binned.std() / binned.mean())}
