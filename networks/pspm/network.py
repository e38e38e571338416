"""The PSPM paper's recurrent network on the engine: N ``lif_euler`` neurons, all to all (self-connections
included), Dale's law by presynaptic type, a frozen Gaussian input current replayed in every simulation.

One :class:`~biosim.engine.simulation.Simulation` is built once and restarted with new weights for every training
iteration, so each iteration's 5000 steps are one compiled call with the kernel loaded once. Weights are
``W[i, x]`` (V), from presynaptic ``x`` onto ``i``; the engine stores a static projection's weights as float32
(relative rounding 6e-8, 1e-10 V at these weights), and so the simulated network uses ``W`` rounded so.
"""

from __future__ import annotations

import numpy as np

from biosim.engine.connectors import AllToAll
from biosim.engine.network import Network
from biosim.engine.simulation import Simulation
from biosim.interrupts import Interrupts
from biosim.networks.pspm.neuron import LIFEuler

POPULATION, PROJECTION = "lif", "recurrent"


def inhibitory_neurons(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """bool[n]: a random round(fraction n) of the neurons are inhibitory (their outgoing weights <= 0)."""
    mask = np.zeros(n, bool)
    mask[rng.choice(n, round(fraction * n), replace=False)] = True
    return mask


def uniform_weights(inhibitory: np.ndarray, levels: int, unit: float, rng: np.random.Generator) -> np.ndarray:
    """W[i, x] = U{0..levels-1} x unit (V), negative where presynaptic x is inhibitory (the paper's 1000 levels of
    1.5 uV for the ground truth and the uniform naive network)."""
    n = inhibitory.size
    magnitude = rng.integers(0, levels, (n, n)) * unit
    return np.where(inhibitory[None, :], -magnitude, magnitude)


def gaussian_current(steps: int, n: int, mean: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """An independent Gaussian current (A) per step and neuron, (steps, n)."""
    return mean + sd * rng.standard_normal((steps, n))


class PspmNetwork:
    """The network whose weights a PSPM rule trains: ``raster(W)`` simulates ``steps`` steps with weights ``W``
    (V, n x n) and the frozen ``current`` (A, steps x n) and returns the raster, uint8[steps, n]."""

    def __init__(self, neuron: LIFEuler, current: np.ndarray, dt: float, seed: int):
        steps, n = current.shape
        self.n, self.steps, self.dt = n, steps, dt
        net = Network(dt=dt, seed=seed)
        net.add_population(POPULATION, n, neuron)
        net.add_timed_input(POPULATION, current)
        net.connect(POPULATION, POPULATION, target="syn", connector=AllToAll(), weight=np.zeros(n * n),
                    name=PROJECTION)
        net.record_spikes(POPULATION)
        # one compiled call per simulation: the chunk is the whole run, the spike buffer holds every possible spike
        self.simulation = Simulation(net, chunk=steps * dt, spike_capacity=steps * n)
        self.pre, self.post = self.simulation.synapses(PROJECTION)

    def raster(self, W: np.ndarray, interrupts: Interrupts | None = None) -> np.ndarray:
        """The spikes of one simulation with weights ``W[i, x]`` (V): uint8[steps, n], 1 where neuron i spiked.
        A stop requested through ``interrupts`` (the caller's Ctrl-C/SIGTERM handler) ends it early, recorded."""
        self.simulation.restart(weights={PROJECTION: W[self.post, self.pre]})
        rec = self.simulation.run(self.steps * self.dt, interrupts=interrupts)
        times, neurons = rec.spikes[POPULATION]
        S = np.zeros((self.steps, self.n), np.uint8)
        S[np.rint(times / self.dt).astype(np.int64), neurons] = 1
        return S
