"""Engine behaviour: delays, reproducibility, chunking, monitors, divergence, interrupts, caching."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from biosim.analysis import population_summary, spike_statistics, summary_of
from biosim.engine.connectors import FixedProbability, FromArrays, OneToOne
from biosim.engine.network import Network, Uniform
from biosim.engine.neurons import LIFCuba, LIFDelta
from biosim.engine.simulation import Simulation
from biosim.engine.sources import PoissonSource, SpikeGenerator


def cuba(seed=1, n=800):
    net = Network(dt=1e-4, seed=seed)
    model = LIFCuba(t_ref=5e-3, e_l=-49e-3)  # CUBA: e_l above threshold drives it
    net.add_population("exc", n * 4 // 5, model, init={"v": Uniform(-60e-3, -50e-3)})
    net.add_population("inh", n // 5, model, init={"v": Uniform(-60e-3, -50e-3)})
    for pre, target, w in (("exc", "ge", 1.62e-3 * 5), ("inh", "gi", -9e-3 * 5)):
        for post in ("exc", "inh"):
            net.connect(pre, post, target=target, connector=FixedProbability(p=0.02), weight=w)
    net.record_spikes("exc", "inh")
    net.record_rates("exc")
    return net


def spikes_of(rec):
    return {p: (t.copy(), i.copy()) for p, (t, i) in rec.spikes.items()}


def test_same_seed_same_spikes_different_seed_different():
    a, b, c = (spikes_of(Simulation(cuba(seed)).run(0.5)) for seed in (1, 1, 2))
    assert a["exc"][0].size > 1000
    for pop in a:
        np.testing.assert_array_equal(a[pop][0], b[pop][0])
        np.testing.assert_array_equal(a[pop][1], b[pop][1])
    assert a["exc"][0].size != c["exc"][0].size or not np.array_equal(a["exc"][1], c["exc"][1])


def test_poisson_sources_reproducible_and_at_rate():
    def run(seed):
        net = Network(dt=1e-4, seed=seed)
        net.add_population("p", 2000, PoissonSource(rate=20.0))
        net.record_spikes("p")
        return Simulation(net).run(1.0).spikes["p"]

    (t1, i1), (_, i2), (t3, _) = run(5), run(5), run(6)
    np.testing.assert_array_equal(i1, i2)
    assert t1.size == pytest.approx(40_000, rel=0.03)  # 2000 x 20 Hz x 1 s, 5 sigma ~ 2.5%
    assert t3.size != t1.size
    assert np.bincount(i1, minlength=2000).var() == pytest.approx(20.0, rel=0.15)  # Poisson: var = mean


def test_chunk_size_and_spike_buffer_size_do_not_change_results():
    reference = spikes_of(Simulation(cuba(), chunk=0.1).run(0.4))
    small_chunks = spikes_of(Simulation(cuba(), chunk=0.0037).run(0.4))
    tiny_buffer = spikes_of(Simulation(cuba(), spike_capacity=16).run(0.4))  # forces early returns
    split = Simulation(cuba())
    split.run(0.15)
    split_rec = spikes_of(split.run(0.25))
    for other in (small_chunks, tiny_buffer, split_rec):
        for pop in reference:
            np.testing.assert_array_equal(reference[pop][0], other[pop][0])
            np.testing.assert_array_equal(reference[pop][1], other[pop][1])


def test_rate_monitor_counts_match_spikes():
    rec = Simulation(cuba()).run(0.3)
    t, _ = rec.spikes["exc"]
    counts = np.rint(rec.rates["exc"] * rec.sizes["exc"] * rec.dt).astype(int)
    assert counts.sum() == t.size
    np.testing.assert_array_equal(np.flatnonzero(counts), np.unique(np.rint(t / rec.dt).astype(int)))


@pytest.mark.parametrize("delays", [[0.0, 0.0], [1.0e-3, 1.0e-3], [0.3e-3, 2.5e-3]], ids=["none", "const", "hetero"])
def test_spike_arrives_after_its_delay(delays):
    """Two input spikes at 5 ms through synapses with given delays: v jumps exactly delay later."""
    net = Network(dt=1e-4)
    net.add_population("src", 1, SpikeGenerator(times=[5e-3], indices=[0]))
    net.add_population("dst", 2, LIFDelta(e_l=0.0, tau_m=1e9))
    net.connect("src", "dst", target="v", connector=FromArrays(pre=[0, 0], post=[0, 1]), weight=1e-3,
                delay=delays)
    net.record_state("dst", ["v"], [0, 1], 1e-4)
    rec = Simulation(net).run(0.01)
    v, t = rec.states["dst.v"]["values"], rec.states["dst.v"]["t"]
    for k, delay in enumerate(delays):
        # the input lands after the update of step 50 + d; the state monitor sees it at the next step
        first = t[np.argmax(v[:, k] > 0.5e-3)]
        assert first == pytest.approx(5e-3 + delay + 1e-4, abs=1e-9)


def test_input_to_refractory_neuron_is_discarded():
    net = Network(dt=1e-4)
    net.add_population("src", 1, SpikeGenerator(times=[0.0, 1e-3, 3e-3], indices=[0, 0, 0]))
    net.add_population("dst", 1, LIFDelta(e_l=0.0, v_reset=0.0, v_th=1.0, t_ref=2e-3, tau_m=1e9),
                       init={"v": 2.0})  # spikes at step 0, refractory until step 20
    net.connect("src", "dst", target="v", connector=OneToOne(), weight=1e-3)
    net.record_state("dst", ["v"], [0], 1e-4)
    v = Simulation(net).run(5e-3).states["dst.v"]["values"][:, 0]
    assert v[25] == 0.0 and v[-1] == pytest.approx(1e-3)  # the 1 ms spike was lost, the 3 ms one counted


@pytest.mark.parametrize("model", [LIFCuba(v_th=1.0, e_l=0.0), LIFDelta(v_th=1.0, e_l=0.0)],
                         ids=["lif_cuba", "lif_delta"])
def test_external_input_from_init_and_from_a_later_step(model):
    """Kernels skip i_ext while no neuron has input; input set at build and by a step due in a later
    run() must both be seen, and the voltage relaxes exactly towards e_l + i_ext (tau_m = 20 ms)."""
    net = Network(dt=1e-4)
    net.add_population("init", 2, model, init={"i_ext": Uniform(0.0, 0.0)})
    net.add_population("driven", 2, model, init={"i_ext": 10e-3})
    net.add_population("stepped", 2, model)
    net.add_current_steps("stepped", [(15e-3, 10e-3)])
    for pop in ("init", "driven", "stepped"):
        net.record_state(pop, ["v"], [0], 1e-4)
    sim = Simulation(net)
    sim.run(10e-3)
    rec = sim.run(10e-3)
    t = np.arange(200) * 1e-4
    relax = 10e-3 * (1 - np.exp(-(t + 1e-4) / 20e-3))  # v after the step that starts at t
    np.testing.assert_allclose(rec.states["driven.v"]["values"][1:, 0], relax[:-1], rtol=1e-12, atol=1e-15)
    assert not rec.states["init.v"]["values"].any()
    stepped = rec.states["stepped.v"]["values"][:, 0]
    assert not stepped[:151].any()
    np.testing.assert_allclose(stepped[151:], relax[:49], rtol=1e-12, atol=1e-15)


def test_divergence_stops_cleanly_and_keeps_data():
    net = Network(dt=1e-4)
    net.add_population("n", 10, LIFCuba(tau_e=5e-3), init={"v": -0.06, "ge": 1e300})
    net.add_population("src", 10, PoissonSource(rate=100.0))
    net.connect("src", "n", target="ge", connector=OneToOne(), weight=1e308)
    net.record_rates("n")
    sim = Simulation(net, chunk=0.01)
    rec = sim.run(1.0)
    assert not rec.complete and "diverged" in rec.stop_reason
    assert 0 < rec.duration < 1.0 and rec.rates["n"].size == round(rec.duration / 1e-4)


def test_ctrl_c_stops_cleanly_and_keeps_data():
    sim = Simulation(cuba(), chunk=0.01)

    def interrupt(step):
        if step >= 1000:
            os.kill(os.getpid(), signal.SIGINT)

    rec = sim.run(1.0, callback=interrupt)
    assert not rec.complete and rec.stop_reason == "interrupted"
    assert rec.duration == pytest.approx(0.1)
    assert rec.rates["exc"].size == 1000 and rec.spikes["exc"][0].max() < 0.1


def test_spike_monitor_is_bounded_and_counters_are_not():
    """A truncated monitor keeps max_spikes spikes and says so; the per-neuron counters (rates, CVs) see all."""
    full = Simulation(cuba()).run(0.3)
    net = cuba()
    net.max_spikes = 500
    rec = Simulation(net).run(0.3)
    assert rec.spikes["exc"][0].size == 500 and rec.complete and rec.truncated == {"exc", "inh"}
    assert any("max_spikes" in note for note in rec.notes) and not full.truncated
    for pop in ("exc", "inh"):
        expected = spike_statistics(*full.spikes[pop], full.sizes[pop])
        for column in ("count", "isi_sum", "isi_sq"):
            np.testing.assert_allclose(rec.spike_stats[pop][column], expected[column], rtol=1e-9)
        assert summary_of(rec.spike_stats[pop], rec.duration) == pytest.approx(
            population_summary(*full.spikes[pop], full.sizes[pop], full.duration), rel=1e-9)


def test_second_process_loads_cached_kernel(tmp_path):
    """The fused kernel is compiled once; a new process with the same structure loads machine code."""
    code = (
        "import sys; sys.path.insert(0, 'tests'); from test_engine import cuba\n"
        "from biosim.engine.simulation import Simulation\n"
        "sim = Simulation(cuba(seed=int(sys.argv[1])))\n"
        "stats = sim._kernel.stats\n"
        "print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))\n"
    )
    env = {**os.environ, "BIOSIM_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code, "1"], capture_output=True, text=True, env=env, check=True)
    second = subprocess.run([sys.executable, "-c", code, "2"], capture_output=True, text=True, env=env, check=True)
    assert first.stdout.split() == ["0", "1"]  # compiled (cache miss)
    hits, misses = map(int, second.stdout.split())
    assert hits >= 1 and misses == 0  # another seed (runtime data), same structure: loaded, not compiled


@pytest.mark.parametrize("size", [1, 2, 7, 64, 65, 1001])
def test_collect_spikes_lists_flagged_neurons(size):
    from biosim.engine.neurons import FLAG_BLOCK, NEVER, collect_spikes

    rng = np.random.default_rng(size)
    padded = -(-size // FLAG_BLOCK) * FLAG_BLOCK
    for density in (0.0, 0.05, 0.5, 1.0):
        flags = np.zeros(padded, np.uint8)
        flags[:size] = rng.random(size) < density
        expected = np.flatnonzero(flags)
        spk, last = np.zeros(size, np.int32), np.full(size, NEVER, np.int32)
        n = collect_spikes(flags, spk, last, 42, 0, size)
        np.testing.assert_array_equal(spk[:n], expected)
        np.testing.assert_array_equal(np.flatnonzero(last == 42), expected)
        for lo in range(0, size, FLAG_BLOCK):  # one block, as a thread collects it: its spikes at spk[lo:]
            hi = min(size, lo + FLAG_BLOCK)
            spk[:], last[:] = -1, NEVER
            n = collect_spikes(flags, spk, last, 7, lo, hi)
            np.testing.assert_array_equal(spk[lo:lo + n], expected[(expected >= lo) & (expected < hi)])
            assert (spk[:lo] == -1).all() and (spk[lo + n:] == -1).all()
            np.testing.assert_array_equal(np.flatnonzero(last == 7), spk[lo:lo + n])


def test_runs_longer_than_int32_steps_are_refused():
    net = Network(dt=1e-4)
    net.add_population("n", 1, LIFCuba())
    with pytest.raises(ValueError, match="limited to 2147483647 steps"):
        Simulation(net).run(3e5)


def timed_network(seed=3, n=6, steps=400):
    """LIF delta neurons driven by a per-neuron, per-step input replayed from an array, recurrently coupled."""
    net = Network(dt=1e-4, seed=seed)
    net.add_population("n", n, LIFDelta(v_th=8e-3, v_reset=0.0))
    drive = np.random.default_rng(seed).normal(15e-3, 10e-3, (steps, n))
    net.add_timed_input("n", drive)
    net.connect("n", "n", target="v", connector="all_to_all", weight=Uniform(0.0, 1e-3), name="rec")
    net.record_spikes("n")
    net.record_state("n", ["v", "i_ext"], list(range(n)), 1e-4)
    return net, drive


def test_timed_input_is_replayed_row_by_row_and_its_last_row_holds():
    net, drive = timed_network()
    rec = Simulation(net, chunk=7e-4).run(0.05)  # 500 steps: 100 past the trace
    i_ext = rec.states["n.i_ext"]["values"]  # recorded at the start of each step, before the input is set
    np.testing.assert_array_equal(i_ext[1:401], drive)
    np.testing.assert_array_equal(i_ext[401:], np.broadcast_to(drive[-1], (99, drive.shape[1])))
    assert rec.spikes["n"][0].size > 10


def test_timed_input_refuses_a_wrong_shape_and_a_second_input():
    net, _ = timed_network()
    with pytest.raises(Exception, match=r"already has an input"):
        net.add_timed_input("n", np.zeros((5, 6)))
    other = Network(dt=1e-4)
    other.add_population("n", 4, LIFDelta())
    with pytest.raises(Exception, match=r"shape \(steps, 4\)"):
        other.add_timed_input("n", np.zeros((5, 3)))
    other.add_current_steps("n", [(0.0, 1e-3)])
    with pytest.raises(Exception, match=r"already has an input"):
        other.add_timed_input("n", np.zeros((5, 4)))


def test_restart_replays_the_run_and_takes_new_weights():
    """A restarted Simulation is the one just built: the same spikes again; with new weights, the spikes of a
    Simulation built with those weights (and the Poisson streams start over too)."""
    net, _ = timed_network()
    net.add_population("src", 6, PoissonSource(rate=200.0))
    net.connect("src", "n", target="v", connector=OneToOne(), weight=2e-3)
    sim = Simulation(net, chunk=3e-3)
    first = spikes_of(sim.run(0.04))
    sim.restart()
    again = spikes_of(sim.run(0.04))
    for pop in first:
        np.testing.assert_array_equal(first[pop][0], again[pop][0])
        np.testing.assert_array_equal(first[pop][1], again[pop][1])
    pre, post = sim.synapses("rec")
    W = np.random.default_rng(9).uniform(0.0, 3e-3, (6, 6))  # W[post, pre]
    sim.restart(weights={"rec": W[post, pre]})
    changed = spikes_of(sim.run(0.04))
    fresh_net, _ = timed_network()
    fresh_net.add_population("src", 6, PoissonSource(rate=200.0))
    fresh_net.connect("src", "n", target="v", connector=OneToOne(), weight=2e-3)
    fresh_net.projections["rec"].weight = W[post, pre]
    fresh = spikes_of(Simulation(fresh_net).run(0.04))
    assert changed["n"][0].size != first["n"][0].size or not np.array_equal(changed["n"][1], first["n"][1])
    for pop in fresh:
        np.testing.assert_array_equal(changed[pop][0], fresh[pop][0])
        np.testing.assert_array_equal(changed[pop][1], fresh[pop][1])
    with pytest.raises(ValueError, match="has 36 synapses"):
        sim.restart(weights={"rec": np.zeros(5)})
    with pytest.raises(ValueError, match="one shared weight"):
        sim.restart(weights={"src_to_n": np.zeros(6)})
    with pytest.raises(ValueError, match=r"no projection 'recc' \(did you mean 'rec'\?\)"):
        sim.synapses("recc")
    rest = spikes_of(sim.run(0.02))  # a refused restart changed nothing: the run continues where it was
    assert rest["n"][0].size > changed["n"][0].size and rest["n"][0][-1] > 0.04
    net.populations["n"].model = LIFDelta(v_th=9e-3, v_reset=0.0)  # a changed parameter needs a new Simulation
    with pytest.raises(ValueError, match="network changed since this Simulation was built"):
        sim.restart()
