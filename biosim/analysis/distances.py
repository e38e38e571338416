"""Distances between spike trains and between weight matrices.

Trains come as the engine's ``(times s, indices)`` pairs (``Recording.spikes``) or, for the Gaussian-kernel
distances the PSPM paper defines on a time grid, as per-neuron spike counts per step (:func:`bin_spikes`).

- :func:`kernel_distances`: the paper's per-neuron D_P and aggregate D_A (spec ``hebbian.md`` §2.3, ``vRossum.m``).
- :func:`van_rossum`: the van Rossum distance, exact over spike pairs (no grid), in Elephant's normalisation.
- :func:`victor_purpura`: the Victor-Purpura distance by its dynamic programme.
- :func:`isi_distance`, :func:`count_statistics`, :func:`weight_recovery`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from biosim.analysis.spikes import isis

# the paper's smoothing kernel, exp(-0.005 x^2) sampled at 100 points of [-20, 20] (x in steps; sigma ~ 24.7 steps)
PAPER_KERNEL = np.exp(-0.005 * np.linspace(-20.0, 20.0, 100) ** 2)

Trains = tuple[np.ndarray, np.ndarray]  # (times s, neuron indices), as Recording.spikes


@dataclass(frozen=True)
class KernelDistances:
    """The paper's distances between model and reference trains on a grid (dimensionless: squared counts)."""

    per_neuron: float  # D_P = sum_i mean_t (k*s_ref_i - k*s_i)^2
    aggregate: float  # D_A = (1/N) mean_t (sum_i k*s_ref_i - sum_i k*s_i)^2


@dataclass(frozen=True)
class CountStatistics:
    """Spike counts per neuron over a run."""

    mean: float  # spikes per neuron
    sd: float  # spikes per neuron (ddof = 1, MATLAB's std as in the authors' scripts; 0 for one neuron)


@dataclass(frozen=True)
class WeightRecovery:
    """How close learned weights W are to the ground truth W_ref."""

    mean_abs_error: float  # mean |W - W_ref| over all synapses (units of W)
    correlation: float  # Pearson r of W with W_ref over the masked (excitatory) synapses; NaN if either is constant


def bin_spikes(times: np.ndarray, indices: np.ndarray, n: int, dt: float, steps: int) -> np.ndarray:
    """Spike counts (n, steps) of ``n`` neurons per step of ``dt`` s: spike at t falls in step floor(t/dt)
    (times on the grid, k*dt, land in step k). Spikes outside [0, steps*dt) are a ValueError."""
    if dt <= 0 or steps < 0 or n < 0:
        raise ValueError(f"bin_spikes needs dt > 0, steps >= 0 and n >= 0 (got dt={dt}, steps={steps}, n={n})")
    indices = np.asarray(indices, np.int64)
    step = np.floor(np.round(np.asarray(times, np.float64) / dt, 6)).astype(np.int64)
    if step.size and (step.min() < 0 or step.max() >= steps or indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"spikes outside the grid of {n} neurons x {steps} steps of {dt} s")
    counts = np.zeros((n, steps), np.int64)
    np.add.at(counts, (indices, step), 1)
    return counts


def kernel_distances(model: np.ndarray, reference: np.ndarray, kernel: np.ndarray = PAPER_KERNEL) -> KernelDistances:
    """D_P and D_A between binned ``model`` and ``reference`` trains (both (N, T) counts per step): each neuron's
    train difference convolved with ``kernel`` (mode 'same': T samples centred as ``scipy.signal.fftconvolve``'s, and
    ``np.convolve``'s when T >= len(kernel); the paper's kernel by default), D_P = sum_i mean_t (k*s_ref_i -
    k*s_i)^2, D_A = (1/N) mean_t (k*(sum_i s_ref_i - sum_i s_i))^2. Compiled over the non-zero differences only
    (O(spikes x kernel + N T); tested against ``np.convolve`` and ``fftconvolve``). Bool rasters count as 0/1."""
    model, reference = (_counts(a) for a in (model, reference))
    if model.ndim != 2 or model.shape != reference.shape or 0 in model.shape:
        raise ValueError(f"kernel_distances needs two non-empty (neurons, steps) arrays of one shape "
                         f"(got {model.shape} and {reference.shape})")
    kernel = np.ascontiguousarray(kernel, np.float64)
    if kernel.ndim != 1 or kernel.size == 0:
        raise ValueError(f"kernel_distances needs a non-empty 1-D kernel (got shape {kernel.shape})")
    per_neuron, aggregate = _kernel_distances(model, reference, kernel)
    return KernelDistances(per_neuron=float(per_neuron), aggregate=float(aggregate))


def _counts(a: np.ndarray) -> np.ndarray:
    """Binned trains as numbers (bool rasters as 0/1 bytes); ValueError for anything else."""
    a = np.asarray(a)
    if a.dtype == np.bool_:
        return a.view(np.uint8)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"kernel_distances needs spike counts (numbers or bools), got dtype {a.dtype}")
    return a


@njit(cache=True)
def _kernel_distances(model, reference, kernel):  # pragma: no cover - compiled
    """(D_P, D_A): each neuron's difference smoothed by adding the kernel at its non-zero steps ('same' mode:
    output t takes full-convolution sample t + (K - 1) // 2), the smoothed population sum accumulated alongside."""
    n, steps = model.shape
    K = kernel.size
    start = (K - 1) // 2
    smooth = np.zeros(steps)
    total = np.zeros(steps)
    per_neuron = 0.0
    for i in range(n):
        smooth[:] = 0.0
        for s in range(steps):
            d = float(reference[i, s]) - float(model[i, s])
            if d != 0.0:
                lo, hi = max(0, s - start), min(steps, s - start + K)
                for t in range(lo, hi):
                    smooth[t] += d * kernel[t + start - s]
        squares = 0.0
        for t in range(steps):
            squares += smooth[t] * smooth[t]
            total[t] += smooth[t]
        per_neuron += squares / steps
    squares = 0.0
    for t in range(steps):
        squares += total[t] * total[t]
    return per_neuron, squares / steps / n


@njit(cache=True)
def _exp_pair_sum(x: np.ndarray, y: np.ndarray, tau: float) -> float:  # pragma: no cover - compiled
    """sum_ij exp(-|x_i - y_j| / tau) of sorted x, y in O(len x + len y): running sums of the y before (at or
    before) and after each x_i, each carried from the previous y by one decay factor."""
    n, m = x.size, y.size
    total = 0.0
    acc, j = 0.0, 0  # acc = sum_{j' < j} exp(-(y_{j-1} - y_j') / tau)
    for i in range(n):
        while j < m and y[j] <= x[i]:
            acc = (acc * np.exp(-(y[j] - y[j - 1]) / tau) if j > 0 else 0.0) + 1.0
            j += 1
        if j > 0:
            total += acc * np.exp(-(x[i] - y[j - 1]) / tau)
    acc, j = 0.0, m - 1  # acc = sum_{j' > j} exp(-(y_j' - y_{j+1}) / tau)
    for i in range(n - 1, -1, -1):
        while j >= 0 and y[j] > x[i]:
            acc = (acc * np.exp(-(y[j + 1] - y[j]) / tau) if j < m - 1 else 0.0) + 1.0
            j -= 1
        if j < m - 1:
            total += acc * np.exp(-(y[j + 1] - x[i]) / tau)
    return total


@njit(cache=True)
def _van_rossum_pair(a: np.ndarray, b: np.ndarray, tau: float) -> float:  # pragma: no cover - compiled
    d2 = _exp_pair_sum(a, a, tau) + _exp_pair_sum(b, b, tau) - 2.0 * _exp_pair_sum(a, b, tau)
    return np.sqrt(max(d2, 0.0))


@njit(cache=True)
def _victor_purpura_pair(a: np.ndarray, b: np.ndarray, q: float) -> float:  # pragma: no cover - compiled
    """G[i, j] = min(G[i-1, j] + 1, G[i, j-1] + 1, G[i-1, j-1] + q |a_i - b_j|), one row kept."""
    m = b.size
    row = np.arange(m + 1).astype(np.float64)
    for i in range(1, a.size + 1):
        diagonal, row[0] = row[0], float(i)
        for j in range(1, m + 1):
            gap = abs(a[i - 1] - b[j - 1])
            shift = diagonal + (q * gap if gap > 0.0 else 0.0)
            diagonal = row[j]
            row[j] = min(row[j] + 1.0, row[j - 1] + 1.0, shift)
    return row[m]


@njit(cache=True)
def _per_neuron(kind: int, ta: np.ndarray, oa: np.ndarray, tb: np.ndarray, ob: np.ndarray,
                parameter: float) -> np.ndarray:  # pragma: no cover - compiled
    """Distance of each neuron's trains, neuron k's spikes being t[o[k]:o[k+1]]: 0 van Rossum, 1 Victor-Purpura."""
    out = np.empty(oa.size - 1)
    for k in range(out.size):
        a, b = ta[oa[k]:oa[k + 1]], tb[ob[k]:ob[k + 1]]
        out[k] = _van_rossum_pair(a, b, parameter) if kind == 0 else _victor_purpura_pair(a, b, parameter)
    return out


def _grouped(trains: Trains, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Times sorted by (neuron, time) and the offsets (n + 1) of each neuron's spikes."""
    times, indices = np.asarray(trains[0], np.float64), np.asarray(trains[1], np.int64)
    if times.shape != indices.shape or times.ndim != 1:
        raise ValueError(f"spike trains are (times, indices) of one length (got shapes {times.shape}, "
                         f"{indices.shape})")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"neuron indices must lie in [0, {n}) (got {indices.min()}..{indices.max()})")
    order = np.lexsort((times, indices))
    offsets = np.concatenate(([0], np.cumsum(np.bincount(indices, minlength=n))))
    return times[order], offsets


def _distances(kind: int, a: Trains | np.ndarray, b: Trains | np.ndarray, n: int | None,
               parameter: float) -> float | np.ndarray:
    if n is None:  # one train each: 1-D arrays of times
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.ndim != 1 or b.ndim != 1:
            raise ValueError("single trains are 1-D arrays of spike times (s); pass n for (times, indices) pairs")
        a, b = (a, np.zeros(a.size, np.int64)), (b, np.zeros(b.size, np.int64))
        return float(_per_neuron(kind, *_grouped(a, 1), *_grouped(b, 1), parameter)[0])
    return _per_neuron(kind, *_grouped(a, n), *_grouped(b, n), parameter)


def van_rossum(a: Trains | np.ndarray, b: Trains | np.ndarray, tau: float, n: int | None = None) -> float | np.ndarray:
    """Van Rossum distance with the causal kernel exp(-t/tau) (tau s), in closed form over spike pairs:
    D^2 = sum_ij e^{-|a_i-a_j|/tau} + sum_ij e^{-|b_i-b_j|/tau} - 2 sum_ij e^{-|a_i-b_j|/tau} (dimensionless).
    This is Elephant's normalisation (an empty train vs one spike: 1); van Rossum's 2001 paper's is D/sqrt(2).
    ``a``, ``b``: 1-D arrays of spike times (s) -> float; or ``(times s, indices)`` pairs of ``n`` neurons ->
    the distance of each neuron's two trains, shape (n,)."""
    if not tau > 0 or not np.isfinite(tau):
        raise ValueError(f"van_rossum needs a finite time constant tau > 0 s (got {tau})")
    return _distances(0, a, b, n, float(tau))


def victor_purpura(a: Trains | np.ndarray, b: Trains | np.ndarray, q: float,
                   n: int | None = None) -> float | np.ndarray:
    """Victor-Purpura distance with cost ``q`` (1/s) per second of shift, 1 per inserted or deleted spike
    (dimensionless), by its dynamic programme. q = 0 gives |len a - len b|; q = inf lets only coincident spikes
    pair (Elephant's q = inf shortcut returns len a + len b even then). Trains as in :func:`van_rossum`."""
    if not q >= 0:
        raise ValueError(f"victor_purpura needs a cost q >= 0 1/s (got {q})")
    return _distances(1, a, b, n, float(q))


def isi_distance(a: Trains, b: Trains, bins: int | np.ndarray = 50) -> float:
    """L2 distance between the ISI histograms of two sets of trains ``(times s, indices)`` (intervals pooled over
    neurons), each normalised to unit sum over shared bins: ``bins`` edges (s), or that many equal bins spanning
    both sets' intervals. 0 if neither has an interval; ValueError if only one has."""
    da, db = isis(*map(np.asarray, a)), isis(*map(np.asarray, b))
    if da.size == 0 and db.size == 0:
        return 0.0
    if da.size == 0 or db.size == 0:
        raise ValueError("isi_distance: one set of trains has no inter-spike interval (no neuron spiked twice)")
    if np.ndim(bins) == 0:
        lo, hi = min(da.min(), db.min()), max(da.max(), db.max())
        if hi - lo <= 1e-9 * hi:  # every interval (nearly) the same: one shared bin, equal histograms
            return 0.0
        edges = np.linspace(lo, hi, int(bins) + 1)
    else:
        edges = np.asarray(bins, np.float64)
    ha, hb = np.histogram(da, edges)[0], np.histogram(db, edges)[0]
    if ha.sum() == 0 or hb.sum() == 0:
        raise ValueError("isi_distance: no inter-spike interval falls inside the given bins for one set")
    return float(np.sqrt(((ha / ha.sum() - hb / hb.sum()) ** 2).sum()))


def count_statistics(indices: np.ndarray, n: int) -> CountStatistics:
    """Mean and sd of the spike counts of ``n`` neurons from the spikes' neuron ``indices``."""
    if n < 1:
        raise ValueError(f"count_statistics needs n >= 1 neurons (got {n})")
    counts = np.bincount(np.asarray(indices, np.int64), minlength=n)
    if counts.size > n:
        raise ValueError(f"neuron indices must lie in [0, {n}) (got up to {counts.size - 1})")
    return CountStatistics(mean=float(counts.mean()), sd=float(counts.std(ddof=1)) if n > 1 else 0.0)


def weight_recovery(w: np.ndarray, w_ref: np.ndarray, mask: np.ndarray | None = None) -> WeightRecovery:
    """mean |W - W_ref| over all entries and the correlation of W with W_ref over the entries where ``mask``
    (e.g. the excitatory synapses; all when None) is true."""
    w, w_ref = np.asarray(w, np.float64), np.asarray(w_ref, np.float64)
    if w.shape != w_ref.shape or w.size == 0:
        raise ValueError(f"weight_recovery needs two non-empty weight arrays of one shape "
                         f"(got {w.shape} and {w_ref.shape})")
    selected = np.ones(w.shape, bool) if mask is None else np.asarray(mask, bool)
    if selected.shape != w.shape:
        raise ValueError(f"the synapse mask has shape {selected.shape}, the weights {w.shape}")
    x, y = w[selected], w_ref[selected]
    constant = x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0
    return WeightRecovery(mean_abs_error=float(np.abs(w - w_ref).mean()),
                          correlation=float("nan") if constant else float(np.corrcoef(x, y)[0, 1]))
