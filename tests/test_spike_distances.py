"""Spike-train distances of biosim.analysis.distances against Elephant and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from biosim.analysis.distances import (
    PAPER_KERNEL,
    bin_spikes,
    count_statistics,
    isi_distance,
    kernel_distances,
    van_rossum,
    victor_purpura,
    weight_recovery,
)


def train_pairs(seed: int, count: int = 60):
    """Pairs of random trains on [0, 2) s, some sharing spikes, some empty, with random tau (s) and q (1/s)."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        a = np.sort(rng.uniform(0, 2, rng.integers(0, 50)))
        b = np.sort(rng.uniform(0, 2, rng.integers(0, 50)))
        if k % 3 == 0:
            b = np.sort(np.concatenate((a[: a.size // 2] + rng.normal(0, 1e-3, a.size // 2), b)))
        yield a, b, float(rng.choice([1e-3, 1e-2, 0.1, 1.0])), float(rng.choice([1.0, 10.0, 100.0, 1e3]))


def elephant(name: str, a, b, parameter: float, unit: str, **kwargs) -> float:
    """Elephant's distance ``name`` between two trains (times in s), ``parameter`` in ``unit``. Imported here, inside
    the test: importing Elephant puts a 'once' filter for UserWarning in front of pytest's warning filters."""
    import neo
    import quantities as pq
    from elephant import spike_train_dissimilarity

    trains = [neo.SpikeTrain(t * pq.s, t_stop=2.1 * pq.s) for t in (a, b)]
    return float(getattr(spike_train_dissimilarity, name)(trains, parameter * pq.Quantity(1.0, unit), **kwargs)[0, 1])


def relative_error(ours: float, theirs: float, floor: float) -> float:
    return abs(ours - theirs) / max(abs(theirs), floor)


def test_van_rossum_is_elephants():
    """Exact pair sums equal Elephant's (Houghton-Kreuz) van Rossum distance to 1e-9 relative, Elephant's
    normalisation: an empty train is at distance 1 from one spike, sqrt(n) from n spikes far apart."""
    worst = max(relative_error(van_rossum(a, b, tau), elephant("van_rossum_distance", a, b, tau, "s"), 1e-300)
                for a, b, tau, _ in train_pairs(1) if a.size + b.size)
    assert worst < 1e-9
    assert van_rossum(np.array([0.5]), np.array([]), 0.01) == pytest.approx(1.0)
    assert van_rossum(np.array([0.0, 1.0, 2.0]), np.array([]), 1e-3) == pytest.approx(np.sqrt(3.0))
    assert van_rossum(np.array([]), np.array([]), 0.01) == 0.0


@pytest.mark.parametrize(("algorithm", "pairs"), [("fast", 40), ("intuitive", 6)])  # 'intuitive' is slow
def test_victor_purpura_is_elephants(algorithm, pairs):
    worst = max(relative_error(victor_purpura(a, b, q),
                               elephant("victor_purpura_distance", a, b, q, "1/s", algorithm=algorithm), 1.0)
                for a, b, _, q in train_pairs(2, pairs))
    assert worst < 1e-9


def test_victor_purpura_hand_worked():
    """Shift below cost 2 (q|dt| = 0.5), a shift too dear (delete + insert = 2), q = 0 counts, q = inf pairs only
    coincident spikes."""
    assert victor_purpura(np.array([1.0]), np.array([1.05]), 10.0) == pytest.approx(0.5)
    assert victor_purpura(np.array([1.0]), np.array([1.5]), 10.0) == pytest.approx(2.0)
    assert victor_purpura(np.array([1.0, 2.0, 3.0]), np.array([7.0]), 0.0) == 2.0
    assert victor_purpura(np.array([1.0, 2.0]), np.array([2.0, 5.0]), np.inf) == 2.0
    assert victor_purpura(np.array([]), np.array([0.1, 0.2]), 5.0) == 2.0


def test_per_neuron_distances_are_each_neurons_pair():
    """(times, indices) trains of n neurons give each neuron's distance, neurons without spikes included."""
    rng = np.random.default_rng(4)
    n = 5
    a = (rng.uniform(0, 1, 40), rng.integers(0, n - 1, 40))  # neuron 4 silent in a
    b = (rng.uniform(0, 1, 30), rng.integers(0, n, 30))
    for function, parameter in ((van_rossum, 0.02), (victor_purpura, 50.0)):
        each = function(a, b, parameter, n=n)
        single = [function(np.sort(a[0][a[1] == k]), np.sort(b[0][b[1] == k]), parameter) for k in range(n)]
        np.testing.assert_allclose(each, single, rtol=1e-12)
    with pytest.raises(ValueError, match="indices must lie"):
        van_rossum(a, b, 0.02, n=3)
    with pytest.raises(ValueError, match="tau > 0"):
        van_rossum(a, b, 0.0, n=n)


def test_kernel_distances_are_the_papers_definition():
    """D_P and D_A equal the definition written out with np.convolve ('same', per neuron) on binned trains."""
    rng = np.random.default_rng(5)
    n, steps, dt = 6, 400, 3e-3
    times = [rng.integers(0, steps, 50) * dt for _ in range(2)]
    neurons = [rng.integers(0, n, 50) for _ in range(2)]
    model, reference = (bin_spikes(t, i, n, dt, steps) for t, i in zip(times, neurons, strict=True))
    assert model.sum() == 50 and model[neurons[0][0], round(times[0][0] / dt)] >= 1
    smooth = np.array([[np.convolve(row, PAPER_KERNEL, "same") for row in m] for m in (model, reference)])
    d_p = ((smooth[1] - smooth[0]) ** 2).mean(axis=1).sum()
    d_a = ((smooth[1].sum(axis=0) - smooth[0].sum(axis=0)) ** 2).mean() / n
    got = kernel_distances(model, reference)
    assert got.per_neuron == pytest.approx(d_p, rel=1e-10)
    assert got.aggregate == pytest.approx(d_a, rel=1e-10)
    assert kernel_distances(model, model).per_neuron == 0.0
    assert kernel_distances(model > 0, reference > 0) == kernel_distances((model > 0) * 1, (reference > 0) * 1)
    from scipy.signal import fftconvolve

    for kernel in (np.array([3.0, 1.0, 0.5, 0.2]), rng.random(7), rng.random(steps + 9)):  # asymmetric, even, > T
        diff = (reference - model).astype(float)
        smooth = fftconvolve(diff, kernel[None, :], mode="same", axes=1)
        got = kernel_distances(model, reference, kernel)
        assert got.per_neuron == pytest.approx((smooth**2).mean(axis=1).sum(), rel=1e-10)
        assert got.aggregate == pytest.approx((smooth.sum(axis=0) ** 2).mean() / n, rel=1e-10)
    with pytest.raises(ValueError, match="dtype"):
        kernel_distances(model.astype(str), reference.astype(str))
    with pytest.raises(ValueError, match="one shape"):
        kernel_distances(model, reference[:, 1:])
    with pytest.raises(ValueError, match="outside the grid"):
        bin_spikes(np.array([steps * dt]), np.array([0]), n, dt, steps)


def test_isi_distance_and_count_statistics():
    regular = (np.arange(10) * 0.1, np.zeros(10, int))  # ISIs all 0.1 s
    mixed = (np.array([0.0, 0.1, 0.4]), np.zeros(3, int))  # ISIs 0.1, 0.3 s
    assert isi_distance(regular, regular) == 0.0
    # bins [0, 0.2), [0.2, 0.4]: histograms (1, 0) and (1/2, 1/2) -> sqrt(1/4 + 1/4)
    assert isi_distance(regular, mixed, bins=np.array([0.0, 0.2, 0.4])) == pytest.approx(np.sqrt(0.5))
    assert isi_distance((np.array([1.0]), np.array([0])), (np.array([]), np.array([], int))) == 0.0
    with pytest.raises(ValueError, match="no inter-spike interval"):
        isi_distance(regular, (np.array([1.0]), np.array([0])))
    stats = count_statistics(np.array([0, 0, 0, 2]), 3)  # counts (3, 0, 1)
    assert (stats.mean, stats.sd) == (pytest.approx(4 / 3), pytest.approx(np.std([3, 0, 1], ddof=1)))
    assert count_statistics(np.array([], int), 1).sd == 0.0


def test_weight_recovery():
    rng = np.random.default_rng(6)
    w_ref = rng.uniform(-1, 1, (20, 20))
    excitatory = np.zeros((20, 20), bool)
    excitatory[:16] = True  # rows: presynaptic neurons 0..15 excitatory
    w = w_ref.copy()
    w[16:] = rng.uniform(-1, 1, (4, 20))  # only the inhibitory rows differ
    got = weight_recovery(w, w_ref, excitatory)
    assert got.correlation == pytest.approx(1.0)
    assert got.mean_abs_error == pytest.approx(np.abs(w - w_ref).mean())
    assert weight_recovery(w, w_ref).correlation < 0.99
    assert np.isnan(weight_recovery(np.zeros((3, 3)), w_ref[:3, :3]).correlation)
