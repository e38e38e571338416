"""Threads of the fused loop: bit-identical results for any thread count, the partition helpers against NumPy,
the barrier's abort path, and the thread-count option's errors."""

from __future__ import annotations

import numpy as np
import pytest

from biosim.engine import build as build_module
from biosim.engine import codegen
from biosim.engine.equations import EquationNeuron
from biosim.engine.network import Network, Normal, Uniform
from biosim.engine.neurons import LIFCuba, LIFDelta
from biosim.engine.simulation import Simulation
from biosim.engine.sources import PoissonSource, SpikeGenerator
from biosim.engine.threads import BLOCK_ALIGN, barrier, block_bounds, resolve_threads, row_segments, run_parallel
from biosim.rules.spiking_projection.stdp import STDP

pytestmark = pytest.mark.filterwarnings("ignore:.* threads on .* cores")  # 3 threads on this 2-core machine

NOISY = EquationNeuron(  # counter-based white noise: the draws must not depend on the block a neuron is in
    equations="""dv/dt = (e_l - v + i_ext) / tau_m + sigma * xi / sqrt(tau_m) : volt (unless refractory)
                 i_ext : volt""",
    threshold="v > v_th", reset="v = e_l", refractory="2 ms", method="euler",
    parameters={"e_l": "-65 mV", "tau_m": "10 ms", "sigma": "4 mV", "v_th": "-55 mV"})


PLASTIC = "poisson_to_cuba"


def every_path(seed: int = 3) -> Network:
    """Every per-step operation a thread splits: updates (hand-written and generated, with noise and input),
    delays (one and many), delay-0 input to a clamped variable, drives, current steps, sources, plasticity,
    state monitors on both sides of a block bound."""
    net = Network(dt=1e-4, seed=seed)
    net.add_population("exc", 700, LIFDelta(t_ref=2e-3), init={"v": Uniform(0.0, 20e-3)})
    net.add_population("cuba", 300, LIFCuba(), init={"v": Uniform(-60e-3, -50e-3)})
    net.add_population("noisy", 200, NOISY)
    net.add_population("poisson", 150, PoissonSource(rate=30.0))
    net.add_population("gen", 3, SpikeGenerator(times=[0.01, 0.02, 0.03], indices=[0, 1, 2]))
    net.add_poisson_drive("exc", "v", 1000, 20.0, 0.11e-3)
    net.add_current_steps("cuba", [(0.0, 12e-3), (0.05, 14e-3)])
    net.add_current_steps("noisy", [(0.0, 8e-3)])
    net.connect("exc", "exc", target="v", connector={"name": "fixed_indegree", "k": 80}, weight=0.1e-3,
                delay=1.5e-3)
    net.connect("exc", "cuba", target="ge", connector={"name": "fixed_probability", "p": 0.05}, weight=0.5e-3,
                delay=Uniform(0.1e-3, 3e-3))
    net.connect("exc", "cuba", target="gi", connector={"name": "fixed_outdegree", "k": 5},
                weight=Normal(-0.05e-3, 0.02e-3, -np.inf, 0.0, redraw=True), delay=Uniform(0.05e-3, 2e-3),
                name="exc_to_cuba_gi")  # the only writer of its ring: a write-combining queue when asked
    net.connect("poisson", "exc", target="v", connector={"name": "fixed_indegree", "k": 20}, weight=0.2e-3)
    net.connect("poisson", "cuba", target="ge", connector={"name": "fixed_indegree", "k": 30}, weight=1e-3,
                delay=1e-3, rule=STDP(w_max=3e-3), name=PLASTIC)
    net.connect("gen", "noisy", target="v", connector="all_to_all", weight=2e-3)
    net.connect("cuba", "noisy", target="v", connector={"name": "fixed_probability", "p": 0.1}, weight=0.3e-3,
                delay=0.5e-3)
    net.record_spikes("exc", "cuba", "noisy", "poisson")
    net.record_rates("exc")
    net.record_state("exc", ["v"], [0, 63, 64, 65, 699], every=2e-4)
    net.record_state("noisy", ["v"], [0, 199])
    net.record_weights(PLASTIC)
    return net


def outcome(threads: int, duration: float = 0.12, **kw) -> dict:
    sim = Simulation(every_path(), threads=threads, **kw)
    rec = sim.run(duration)
    out = {f"spikes/{k}/{i}": np.asarray(a) for k, v in rec.spikes.items() for i, a in enumerate(v)}
    out |= {f"state/{k}/{v}": np.asarray(a) for k, table in rec.states.items() for v, a in table.items()}
    out |= {f"weights/{k}/{v}": np.asarray(a) for k, table in rec.weights.items() for v, a in table.items()}
    out |= {f"S/{k}": p.S.copy() for k, p in sim.net.populations.items() if p.S is not None}
    out |= {f"count/{k}": p.counts.count.copy() for k, p in sim.net.populations.items()}
    out["rates"] = np.asarray(rec.rates["exc"])
    return out


def test_every_thread_count_gives_the_same_bits():
    one = outcome(1)
    assert one["spikes/exc/0"].size > 500 and one["spikes/cuba/0"].size > 50 and one["spikes/noisy/0"].size > 20
    for threads in (2, 3):
        other = outcome(threads)
        assert other.keys() == one.keys()
        for key, value in one.items():
            assert np.array_equal(value, other[key]), (threads, key)


def test_projections_looped_over_typed_lists_give_the_same_bits(monkeypatch):
    """Runs of projections of one kind become one loop over typed lists (``codegen.LIST_MIN`` of them; the
    microcircuit's 64): with every run listed, every kind (delays per synapse, one delay, none; plastic, clamped
    target) gives the bits of one call per projection, on any thread count."""
    one = outcome(1)
    monkeypatch.setattr(codegen, "LIST_MIN", 1)
    for threads in (1, 2):
        listed = outcome(threads)
        for key, value in one.items():
            assert np.array_equal(value, listed[key]), (threads, key)


def test_write_combining_queues_give_the_same_bits(monkeypatch):
    """Rings larger than ``build.QUEUE_MIN_BYTES`` that only synapses with their own delays write are filled
    through per-thread queues: with every such ring queued and queues of 3 events (flushed often, at different
    moments on each thread), the bits are those of direct writes, on any thread count."""
    one = outcome(1)
    monkeypatch.setattr(build_module, "QUEUE_MIN_BYTES", 0)
    monkeypatch.setattr(build_module, "QUEUE_CAPACITY", 3)
    assert build_module.build(every_path(), 2).queues.keys() == {"1_2"}  # cuba's gi
    for threads in (1, 2, 3):
        queued = outcome(threads)
        for key, value in one.items():
            assert np.array_equal(value, queued[key]), (threads, key)


def test_threads_stopping_early_when_the_spike_buffer_fills_agree():
    """The spike monitor's capacity makes every thread leave the chunk at the same step."""
    small = outcome(1, spike_capacity=64, chunk=0.05)
    for key, value in outcome(2, spike_capacity=64, chunk=0.05).items():
        assert np.array_equal(value, small[key]), key


def test_restart_with_threads_repeats_the_run():
    sim = Simulation(every_path(), threads=2)
    first = sim.run(0.05).spikes["exc"][1].copy()
    sim.restart()
    assert np.array_equal(sim.run(0.05).spikes["exc"][1], first) and first.size > 100


@pytest.mark.parametrize(("n", "threads"), [(0, 2), (1, 3), (63, 2), (64, 2), (700, 3), (12500, 2), (100, 8)])
def test_block_bounds_cover_the_population_in_aligned_blocks(n, threads):
    bounds = block_bounds(n, threads)
    assert bounds.size == threads + 1 and bounds[0] == 0 and bounds[-1] == n and (np.diff(bounds) >= 0).all()
    assert (bounds[:-1] % BLOCK_ALIGN == 0).all()
    assert np.diff(bounds).max() <= -(-n // threads) + BLOCK_ALIGN


def test_row_segments_are_numpys_searchsorted_per_row():
    rng = np.random.default_rng(0)
    counts = rng.integers(2, 40, 50)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate([np.sort(rng.choice(300, c, replace=False)) for c in counts]).astype(np.int32)
    bounds = block_bounds(300, 3)
    seg, ordered = row_segments(indptr, indices, bounds)
    assert ordered
    unsorted = indices.copy()
    unsorted[indptr[3]:indptr[4]] = unsorted[indptr[3]:indptr[4]][::-1]  # row 3 has > 1 target (counts[3])
    assert not row_segments(indptr, unsorted, bounds)[1]
    for i in range(50):
        row = indices[indptr[i]:indptr[i + 1]]
        np.testing.assert_array_equal(seg[i], indptr[i] + np.searchsorted(row, bounds))
        for c in range(3):
            assert (row[seg[i, c] - indptr[i]:seg[i, c + 1] - indptr[i]] >= bounds[c]).all()


def test_an_exception_in_one_thread_aborts_the_others_and_is_raised():
    """Thread 1 fails before its barrier; thread 0, waiting there, leaves instead of spinning for ever."""
    def kernel(c, threads, t0, n, bar):
        if c == 1:
            raise RuntimeError("thread 1 failed")
        return 0 if barrier(bar, threads) else -1

    bar = np.zeros(2, np.int64)
    with pytest.raises(RuntimeError, match="thread 1 failed"):
        run_parallel(kernel, 2, bar, 0, 1, [bar])


def test_more_threads_than_cores_warn():
    from biosim.engine.threads import available_cores, check_threads

    with pytest.warns(UserWarning, match="wait for each other"):
        assert check_threads(available_cores() + 1) == available_cores() + 1


def test_a_plug_in_model_with_the_old_update_signature_is_refused_by_name():
    from numba import njit

    from biosim.engine.neurons import reset_v

    @njit
    def old_update(S, last, P, has_input, t, flags, spk):
        return 0

    class Old(LIFDelta):
        pass

    Old.update, Old.reset = old_update, reset_v
    net = Network(dt=1e-4)
    net.add_population("n", 10, Old())
    with pytest.raises(ValueError, match=r"update\(S, last, P, has_input, t, flags, spk, lo, hi\)"):
        Simulation(net, threads=1)


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", True])
def test_bad_thread_counts_are_refused_with_the_option_named(value):
    net = Network(dt=1e-4)
    net.add_population("n", 10, LIFDelta())
    with pytest.raises(ValueError, match=r"threads must be 'auto' or a positive whole number of threads, got"):
        Simulation(net, threads=value)


def test_auto_uses_one_thread_per_ten_thousand_neurons_or_the_environment(monkeypatch):
    monkeypatch.delenv("BIOSIM_THREADS", raising=False)
    assert resolve_threads("auto", 5_000) == 1
    assert 1 <= resolve_threads("auto", 10**6) <= resolve_threads("auto", 10**7)
    monkeypatch.setenv("BIOSIM_THREADS", "3")
    assert resolve_threads("auto", 5_000) == 3 and resolve_threads(2, 5_000) == 2
    monkeypatch.setenv("BIOSIM_THREADS", "many")
    with pytest.raises(ValueError, match="environment variable BIOSIM_THREADS must be"):
        resolve_threads("auto", 5_000)
