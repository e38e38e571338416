"""Memristive synapses for the spiking engine: a plastic projection's weights held on devices.

One device per synapse; its conductance window [G_min, G_max] is the rule's weight range [w_min, w_max]:
w = w_min + (w_max - w_min) u with u = (g - g_min) / (1 - g_min) (g = G / G_max). The initial weights are written as
any device is (levels, programming noise, stuck faults, drift exponents). During the run the rule proposes a new
weight and the device lands it (:func:`write`): a stuck device keeps its value; with levels the change becomes a
whole number of level steps (identical pulses) from where the device is now, drifted or not (``update: nearest``
rounds, so a change under half a level is lost; ``stochastic`` rounds up with probability equal to the remainder,
unbiased on average); each write that moves the device adds ``sigma_write`` x N(0, 1) (in level steps with
levels, else in units of G_max), then the conductance is clipped to the window. Drift
G(t) = G_p ((t - t_write + t0) / t0)^-nu acts on the conductance since the device's last write (:func:`age`,
every ``DRIFT_EVERY`` of simulated time); the read weight is clipped to the rule's bounds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from biosim.engine.plasticity import SynapseDevice

READ, PROGRAMMED, WRITTEN, NU, STUCK = range(5)  # rows of the per-synapse state
DRIFT_EVERY = 10e-3  # s of simulated time between drift updates


class DeviceParams(NamedTuple):
    w_min: float
    w_span: float
    step: float  # one level in u (0: continuous)
    stochastic: bool
    sigma_write: float  # in u
    g_floor: float
    t0_steps: float  # t0 in steps of dt


@njit(cache=True)
def write(s, w, state, p, rng, t):
    """Land the rule's proposal w[s] on device s; w[s] becomes the device's weight."""
    if w[s] == state[READ, s]:
        return
    if state[STUCK, s] != 0.0:
        w[s] = state[READ, s]
        return
    u = (w[s] - p.w_min) / p.w_span
    if p.step > 0.0:
        x = (w[s] - state[READ, s]) / p.w_span / p.step  # the change in level steps
        k = np.floor(x)
        if p.stochastic:
            if rng.random() < x - k:
                k += 1.0
        elif x - k >= 0.5:
            k += 1.0
        if k == 0.0:  # no pulse: the device keeps its (possibly drifted) state
            w[s] = state[READ, s]
            return
        u = (state[READ, s] - p.w_min) / p.w_span + k * p.step + p.sigma_write * p.step * rng.standard_normal()
    elif p.sigma_write > 0.0:
        u += p.sigma_write * rng.standard_normal()
    else:  # an exact device takes the rule's weight as it is (within the bounds)
        w[s] = min(max(w[s], p.w_min), p.w_min + p.w_span)
    u = min(max(u, 0.0), 1.0)
    state[PROGRAMMED, s] = u
    state[WRITTEN, s] = t
    if p.step > 0.0 or p.sigma_write > 0.0:
        w[s] = p.w_min + p.w_span * u
    state[READ, s] = w[s]


@njit(cache=True)
def age(w, state, p, t):
    """Drift every unstuck device's conductance since its last write; w becomes the read weights."""
    for s in range(w.shape[0]):
        nu = state[NU, s]
        if nu == 0.0:
            continue
        g = p.g_floor + state[PROGRAMMED, s] * (1.0 - p.g_floor)
        g *= ((t - state[WRITTEN, s] + p.t0_steps) / p.t0_steps) ** -nu
        u = (g - p.g_floor) / (1.0 - p.g_floor)
        w[s] = min(max(p.w_min + p.w_span * u, p.w_min), p.w_min + p.w_span)
        state[READ, s] = w[s]


def synapses(device, weights: np.ndarray, bounds: tuple[float, float], dt: float,
             rng: np.random.Generator) -> SynapseDevice:
    """Program ``weights`` (within ``bounds``, the rule's [w_min, w_max]) onto one ``device`` each."""
    w_min, w_max = bounds
    span = w_max - w_min
    floor = device.g_floor
    u0 = (np.asarray(weights, np.float64) - w_min) / span
    target = floor + u0 * (1 - floor)
    written = device.program(target, rng)
    u = np.clip((written.g - floor) / (1 - floor), 0.0, 1.0)
    state = np.zeros((5, len(u)))
    state[PROGRAMMED], state[NU], state[STUCK] = u, written.nu, written.stuck
    # a device written exactly holds the weight as given (no round trip through the conductance)
    state[READ] = np.where(written.g == target, weights, w_min + span * u)
    step = 0.0 if device.levels is None else 1.0 / (device.levels - 1)
    sigma = device.sigma_write / (1 - floor) if device.levels is None else device.sigma_write
    params = DeviceParams(w_min, span, step, device.update == "stochastic", sigma, floor, device.t0 / dt)
    drifting = bool(written.nu.any())
    every = max(1, round(DRIFT_EVERY / dt))
    return SynapseDevice(write, age if drifting else None, every, params, state, state[READ].copy())
