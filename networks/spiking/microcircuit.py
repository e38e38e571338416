"""The Potjans & Diesmann (2014) cortical microcircuit: 77,169 LIF neurons in eight populations of layers 2/3, 4,
5 and 6, about 3e8 synapses, as in the paper (Cereb. Cortex 24:785) and NEST's ``Potjans_2014`` example.

Neurons are NEST's ``iaf_psc_exp`` (C_m = 250 pF, tau_m = 10 ms, tau_syn = 0.5 ms): with R = tau_m / C_m, a PSC
of J (A) is a jump of R J (V) in biosim's ``lif_cuba`` (voltage form, the same exact integration). Each pair of
populations is connected by ``fixed_total_number`` with K = log(1 - p) / log(1 - 1/(N_pre N_post)) synapses (the
paper's eq. 1), scaled by the neuron and in-degree factors; weights are normal (sd 10% of the mean, redrawn to keep
their sign), PSPs of 0.15 mV, inhibition g = -4 times excitation, L4e -> L2/3e doubled; delays normal (mean 1.5 ms
excitatory, 0.75 ms inhibitory, sd 50%, redrawn below dt/2). Background: Poisson (K_ext inputs at 8 Hz) or its DC
equivalent. Scaling in-degrees by k < 1 scales weights by 1/sqrt(k) and adds the DC that keeps each neuron's mean
input (with NEST's full-scale rates), as NEST's example does. An optional thalamic pulse (902 Poisson neurons).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.analysis import summary_of
from biosim.analysis.spikes import spike_statistics
from biosim.config import Source, Strict
from biosim.engine.connectors import FixedTotalNumber
from biosim.engine.network import Network, Normal, check_duration
from biosim.engine.neurons import LIFCuba
from biosim.engine.simulation import Recording
from biosim.engine.sources import SpikeGenerator
from biosim.family import Outcome, Run, number
from biosim.networks.spiking.family import Spiking, SpikingRun, add_monitors
from biosim.params import Frequency, PositiveCapacitance, PositiveTime, Time, Voltage
from biosim.streams import stream

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
FULL_SIZES = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
# connection probabilities [target, source] (paper's Table 5)
CONN_PROBS = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443]])
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])  # external in-degrees
# initial membrane potentials (mV): NEST's 'optimized' per-population normals
V0_MEAN = np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]) * 1e-3
V0_STD = np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]) * 1e-3
FULL_MEAN_RATES = np.array([0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851])  # Hz, NEST 3's example
THALAMUS_PROBS = np.array([0.0, 0.0, 0.0983, 0.0619, 0.0, 0.0, 0.0512, 0.0196])
INHIBITORY = np.array([name.endswith("I") for name in POPULATIONS])


def total_synapses(p: np.ndarray, n_pre: np.ndarray, n_post: np.ndarray) -> np.ndarray:
    """Synapses that connect a pair with probability ``p`` when drawn at random with multapses (paper eq. 1):
    K = log(1 - p) / log(1 - 1 / (N_pre N_post)); ``p`` is [target, source]."""
    pairs = np.outer(n_post, n_pre).astype(np.float64)
    return np.log1p(-p) / np.log1p(-1.0 / pairs)


def psp_peak(tau_m: float, tau_syn: float) -> float:
    """The peak of v (V) after a 1 V jump of an exponential current (tau_syn, s) into a membrane of tau_m (s)."""
    t_peak = math.log(tau_m / tau_syn) * tau_m * tau_syn / (tau_m - tau_syn)
    return tau_syn / (tau_m - tau_syn) * (math.exp(-t_peak / tau_m) - math.exp(-t_peak / tau_syn))


class Scale(Strict):
    """Fractions of the full model: neurons per population and in-degrees (synapses per neuron)."""

    neurons: float = Field(1.0, gt=0, le=1)
    indegrees: float = Field(1.0, gt=0, le=1)


class Neuron(Strict):
    """NEST's ``iaf_psc_exp`` parameters of the model (the paper's Table 5)."""

    c_m: PositiveCapacitance = 250e-12
    tau_m: PositiveTime = 10e-3
    tau_syn: PositiveTime = 0.5e-3
    e_l: Voltage = -65e-3
    v_th: Voltage = -50e-3
    v_reset: Voltage = -65e-3
    t_ref: Time = 2e-3


class Thalamus(Strict):
    """A pulse of ``n`` Poisson neurons at ``rate`` from ``start`` for ``duration`` onto layers 4 and 6."""

    n: int = Field(902, ge=1)
    rate: Frequency = 120.0
    start: Time = 0.7
    duration: PositiveTime = 10e-3
    psp: Voltage = 0.15e-3
    delay: PositiveTime = 1.5e-3


class Microcircuit(Strict):
    """The model's parameters, defaults from the paper and NEST's example."""

    scale: Scale = Scale()
    neuron: Neuron = Neuron()
    background: Literal["poisson", "dc"] = Field("poisson", description="Poisson inputs or their mean as a DC")
    v0: Literal["optimized", "original"] = Field(
        "optimized", description="initial v: per-population normals (NEST's 'optimized') or N(-58, 10) mV")
    psp: Voltage = Field(0.15e-3, description="mean PSP amplitude of an excitatory synapse")
    g: float = Field(-4.0, lt=0, description="inhibitory weight / excitatory weight")
    l4e_to_l23e: float = Field(2.0, gt=0, description="factor on the L4e -> L2/3e weights")
    weight_rel_std: float = Field(0.1, ge=0)
    delay_exc: PositiveTime = 1.5e-3
    delay_inh: PositiveTime = 0.75e-3
    delay_rel_std: float = Field(0.5, ge=0)
    bg_rate: Frequency = 8.0
    thalamus: Thalamus | None = None

    def sizes(self) -> np.ndarray:
        """Neurons per population."""
        return np.maximum(np.rint(FULL_SIZES * self.scale.neurons), 1).astype(int)

    def synapse_counts(self) -> np.ndarray:
        """Synapses [target, source] of the scaled model (NEST's rounding of the scaled full-model counts)."""
        full = total_synapses(CONN_PROBS, FULL_SIZES, FULL_SIZES)
        return np.rint(full * self.scale.neurons * self.scale.indegrees).astype(np.int64)

    def weights(self) -> np.ndarray:
        """Mean jumps of v's synaptic input (V) [target, source] at full in-degree: PSP / peak, g for inhibitory
        sources, L4e -> L2/3e times ``l4e_to_l23e``."""
        w_exc = self.external_weight()
        w = np.where(INHIBITORY[None, :], self.g * w_exc, w_exc) * np.ones((8, 1))
        w[POPULATIONS.index("L23E"), POPULATIONS.index("L4E")] *= self.l4e_to_l23e
        return w

    def external_weight(self) -> float:
        """The jump (V) of one background input."""
        return self.psp / psp_peak(self.neuron.tau_m, self.neuron.tau_syn)

    def dc(self) -> np.ndarray:
        """Constant input (V, as ``i_ext``) per population: the background's mean for ``background: dc``, plus,
        when in-degrees are scaled by k < 1, (1 - sqrt(k)) of the full model's mean synaptic input (at NEST's
        full-scale rates) that the weights scaled by 1/sqrt(k) no longer bring."""
        tau_syn, k = self.neuron.tau_syn, self.scale.indegrees
        background = tau_syn * self.bg_rate * K_EXT * self.external_weight()
        indegrees = total_synapses(CONN_PROBS, FULL_SIZES, FULL_SIZES) / FULL_SIZES[:, None]
        internal = tau_syn * (indegrees * self.weights()) @ FULL_MEAN_RATES
        missing = (1 - math.sqrt(k)) * (internal + (background if self.background == "poisson" else 0.0))
        return missing + (background if self.background == "dc" else 0.0)


def _delay(mean: float, rel_std: float, dt: float) -> Normal | float:
    return Normal(mean, rel_std * mean, dt / 2, np.inf, redraw=True) if rel_std > 0 else mean


def _weight(mean: float, rel_std: float) -> Normal | float:
    if rel_std == 0:
        return mean
    low, high = (0.0, np.inf) if mean > 0 else (-np.inf, 0.0)
    return Normal(mean, rel_std * abs(mean), low, high, redraw=True)


def build_microcircuit(model: Microcircuit, dt: float = 1e-4, seed: int = 0, **network: Any) -> Network:
    """The microcircuit as a :class:`Network` (populations ``L23E`` ... ``L6I``, projections ``<source>_to_<target>``,
    the pulse as population ``thalamus``); ``network`` goes to :class:`Network` (``source``, ``max_spikes``)."""
    net = Network(dt=dt, seed=seed, **network)
    cell = model.neuron
    lif = LIFCuba(tau_m=cell.tau_m, tau_e=cell.tau_syn, tau_i=cell.tau_syn, e_l=cell.e_l, v_th=cell.v_th,
                  v_reset=cell.v_reset, t_ref=cell.t_ref)
    k, sizes, dc = model.scale.indegrees, model.sizes(), model.dc()
    for p, name in enumerate(POPULATIONS):
        v0 = (Normal(V0_MEAN[p], V0_STD[p]) if model.v0 == "optimized" else Normal(-58e-3, 10e-3))
        net.add_population(name, int(sizes[p]), lif, {"v": v0})
        if model.background == "poisson":
            net.add_poisson_drive(name, "ge", max(int(round(K_EXT[p] * k)), 1), model.bg_rate,
                                  model.external_weight() / math.sqrt(k))
        if dc[p] != 0:
            net.add_current_steps(name, [(0.0, float(dc[p]))])
    counts, weights = model.synapse_counts(), model.weights() / math.sqrt(k)
    for target, post in enumerate(POPULATIONS):
        for source, pre in enumerate(POPULATIONS):
            if counts[target, source] == 0:
                continue
            inhibitory = INHIBITORY[source]
            net.connect(pre, post, target="gi" if inhibitory else "ge",
                        connector=FixedTotalNumber(n=int(counts[target, source])),
                        weight=_weight(weights[target, source], model.weight_rel_std),
                        delay=_delay(model.delay_inh if inhibitory else model.delay_exc, model.delay_rel_std, dt))
    if model.thalamus is not None:
        _add_thalamus(net, model, seed)
    return net


def _add_thalamus(net: Network, model: Microcircuit, seed: int) -> None:
    """902 neurons firing as Poisson processes (at most once per step) during the pulse, drawn from the stream
    ``thalamus``, connected like the cortical populations (K from the paper's thalamic probabilities, scaled by
    the in-degree factor only, as NEST's example does: fewer neurons get more thalamic synapses each)."""
    th, dt = model.thalamus, net.dt
    steps = int(round(th.duration / dt))
    fired = stream(seed, "thalamus").random((steps, th.n)) < th.rate * dt
    step, index = np.nonzero(fired)
    net.add_population("thalamus", th.n, SpikeGenerator(times=(step * dt + th.start).tolist(), indices=index.tolist()))
    full = total_synapses(THALAMUS_PROBS[:, None], np.array([th.n]), FULL_SIZES)[:, 0]
    counts = np.rint(full * model.scale.indegrees).astype(np.int64)  # as NEST's example: not by scale.neurons
    weight = th.psp / psp_peak(model.neuron.tau_m, model.neuron.tau_syn) / math.sqrt(model.scale.indegrees)
    for target, post in enumerate(POPULATIONS):
        if counts[target]:
            net.connect("thalamus", post, target="ge", connector=FixedTotalNumber(n=int(counts[target])),
                        weight=_weight(weight, model.weight_rel_std), delay=_delay(th.delay, model.delay_rel_std, dt))


# -- the experiment family ------------------------------------------------------------------------------
class MicrocircuitExperiment(SpikingRun):
    """A microcircuit experiment (family ``microcircuit``): the model's parameters under ``microcircuit:``, and
    ``transient``, the start discarded from the steady-state rates and CVs (NEST's example: 0.5 s)."""

    family: str = "microcircuit"
    microcircuit: Microcircuit = Microcircuit()
    transient: Time = Field(0.1, ge=0)
    plots: list[str] = ["microcircuit", "rates"]


def steady_state(rec: Recording, transient: float, populations: tuple[str, ...] = POPULATIONS) -> dict[str, Any]:
    """Per population, over [transient, end]: ``rate_hz`` (mean over all neurons) and ``cv_isi`` (mean over
    neurons with at least 3 spikes there), from the recorded spikes."""
    span = rec.duration - transient
    out = {}
    for pop in populations:
        times, idx = rec.spikes[pop]
        keep = times >= transient
        out[pop] = summary_of(spike_statistics(times[keep], idx[keep], rec.sizes[pop]), span)
    return out


@registry.register("family", "microcircuit")
class MicrocircuitFamily(Spiking):
    """The Potjans & Diesmann (2014) microcircuit (:func:`build_microcircuit`) with the spiking family's run,
    monitors and figures, and steady-state metrics after the transient."""

    schema = MicrocircuitExperiment
    plots = ("microcircuit", *Spiking.plots)

    def prepare(self, exp: MicrocircuitExperiment, source: Source) -> Network:
        """The validated network: the duration, the transient and the monitors checked, the memory estimated."""
        check_duration(exp.duration, exp.dt, source)
        if exp.transient >= exp.duration:
            raise source.error(f"the transient ({exp.transient:g} s) must be shorter than the duration "
                               f"({exp.duration:g} s)", ("transient",))
        net = build_microcircuit(exp.microcircuit, exp.dt, exp.seed, source=source,
                                 max_spikes=exp.monitors.max_spikes)
        add_monitors(exp, net)
        net.check_memory(exp.duration)
        return net

    def execute(self, network: Network, exp: MicrocircuitExperiment, run: Run) -> Outcome:
        """The spiking family's run; ``steady_state`` adds the rates and CVs after the transient."""
        outcome = super().execute(network, exp, run)
        rec = outcome.results
        if rec.duration > exp.transient and all(pop in rec.spikes and pop not in rec.truncated for pop in POPULATIONS):
            outcome.metrics["steady_state"] = {"transient_s": exp.transient, **steady_state(rec, exp.transient)}
        outcome.metrics["synapses_per_projection"] = {name: int(n) for name, n in zip(
            [f"{pre}_to_{post}" for post in POPULATIONS for pre in POPULATIONS],
            exp.microcircuit.synapse_counts().ravel(), strict=True) if n}
        return outcome

    def summary(self, metrics: dict[str, Any]) -> str:
        """Steady-state rate and CV per population, in one line."""
        steady = metrics.get("steady_state")
        if steady is None:
            return super().summary(metrics)
        return f"after {steady['transient_s']:g} s: " + "; ".join(
            f"{pop} {number(steady[pop]['rate_hz'], 3)} Hz (CV {number(steady[pop]['cv_isi'], 2)})"
            for pop in POPULATIONS)
