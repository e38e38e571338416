"""biosim.analysis against the libraries it stands in for (it avoids their import cost in every run)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from biosim.analysis import rate_rhythm, rate_spectrum

DT = 1e-4


@pytest.mark.parametrize(("frequency", "bins"), [(40.0, 1000), (180.0, 3000), (7.0, 700)])
def test_rate_spectrum_is_welchs_with_a_hann_window(frequency, bins):
    """The rhythm's peak is the peak of scipy.signal.welch's spectrum of the 1 ms binned rate (same Hann window,
    256-bin segments, half overlap, mean removed), within one frequency bin of the sine put in."""
    rng = np.random.default_rng(3)
    t = np.arange(bins * 10) * DT  # 10 steps of 0.1 ms per 1 ms bin
    rate = 20.0 + 15.0 * np.sin(2 * np.pi * frequency * t) + rng.normal(0, 5.0, t.size)
    binned = rate.reshape(-1, 10).mean(axis=1)
    size = min(binned.size, 256)
    freqs, density = signal.welch(binned, fs=1e3, window=np.hanning(size), nperseg=size, noverlap=size // 2,
                                  detrend="constant")
    rhythm = rate_rhythm(rate, DT)
    ours = rate_spectrum(rate, DT)
    np.testing.assert_allclose(ours[0], freqs)
    np.testing.assert_allclose(ours[1], density, rtol=1e-10)
    assert rhythm["rate_peak_hz"] == pytest.approx(freqs[1:][np.argmax(density[1:])])
    assert abs(rhythm["rate_peak_hz"] - frequency) <= freqs[1]
    assert rhythm["rate_cv"] == pytest.approx(binned.std() / binned.mean())


def test_importing_the_package_loads_no_fitting_library():
    """Every spiking run imports biosim.analysis: powerlaw, Elephant and scipy.signal load only in the functions
    that use them, and the names importers use stay importable from the package."""
    code = ("import sys, biosim.analysis as a; from biosim.analysis import cv_of, isi_cv, isis, population_summary, "
            "rate_rhythm, spike_statistics, summary_of; "
            "print(sorted(m for m in ('powerlaw', 'elephant', 'scipy.signal', 'neo') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
