"""Coupled nonlinear oscillators (the physics-aware-training demo's system, Wright et al. 2022): N pendula with
all-to-all sine coupling,

    q_i'' = -sin q_i + sum_j J_ij (sin q_j - sin q_i) + e_i,   J = (C + C^T) / 2,

started from rest at q(0) = (x, 0...) (the input sets the first n angles, rad) and integrated by RK4 (``steps``
steps to ``t_end``, dimensionless time). The outputs are the final angles of all N oscillators. C and the drive e
are frozen random draws; one fused Numba kernel runs every sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit
from pydantic import Field

from biosim.params import Params
from biosim.registry import register


@njit(cache=True)
def _acceleration(q, J, drive, out):
    s = np.sin(q)
    N = q.shape[0]
    for i in range(N):
        total = -s[i] + drive[i]
        for j in range(N):
            total += J[i, j] * (s[j] - s[i])
        out[i] = total


@njit(cache=True)
def integrate(q0, J, drive, t_end, steps, out):
    """RK4 of q'' = a(q) from q(0) = q0[b], q'(0) = 0 for every sample b; writes q(t_end) into ``out``."""
    batch, N = q0.shape
    h = t_end / steps
    a1, a2, a3, a4 = np.empty(N), np.empty(N), np.empty(N), np.empty(N)
    for b in range(batch):
        q = q0[b].copy()
        v = np.zeros(N)
        for _ in range(steps):
            _acceleration(q, J, drive, a1)
            _acceleration(q + 0.5 * h * v, J, drive, a2)
            _acceleration(q + 0.5 * h * v + 0.25 * h * h * a1, J, drive, a3)
            _acceleration(q + h * v + 0.5 * h * h * a2, J, drive, a4)
            q_new = q + h * v + h * h / 6.0 * (a1 + a2 + a3)
            v = v + h / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
            q = q_new
        out[b] = q


@dataclass(frozen=True)
class OscillatorNetwork:
    """A built network: couplings J (N x N, symmetric), drive e (N), integration time and steps."""

    J: np.ndarray
    drive: np.ndarray
    t_end: float
    steps: int

    @property
    def n_outputs(self) -> int:
        return len(self.J)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        q0 = np.zeros((len(x), len(self.J)))
        q0[:, :x.shape[1]] = x
        out = np.empty_like(q0)
        integrate(q0, self.J, self.drive, self.t_end, self.steps, out)
        return out

    def picture(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """For one input x (n,): the angles of every oscillator after each RK4 step (steps + 1 x N, rad) and the
        step times."""
        q0 = np.zeros((1, len(self.J)))
        q0[0, :len(x)] = x
        trajectory = [q0[0].copy()]
        out = np.empty_like(q0)
        for j in range(1, self.steps + 1):  # the same RK4 steps, h = t_end / steps, stopped after j of them
            integrate(q0, self.J, self.drive, self.t_end * j / self.steps, j, out)
            trajectory.append(out[0].copy())
        return {"picture_trajectory": np.array(trajectory), "picture_times": np.linspace(0, self.t_end,
                                                                                        self.steps + 1)}

    def perturbed(self, amount: float, rng: np.random.Generator) -> OscillatorNetwork:
        """Couplings changed by a relative ``amount`` (a symmetric random change of that relative norm)."""
        C = rng.standard_normal(self.J.shape)
        change = (C + C.T) / 2
        change *= amount * np.linalg.norm(self.J) / np.linalg.norm(change)
        return replace(self, J=self.J + change)


@register("physics", "oscillators")
class Oscillators(Params):
    """A frozen network of all-to-all sine-coupled oscillators (RK4)."""

    extra: int = Field(10, ge=0, description="oscillators beyond the n input ones (outputs: all n + extra)")
    coupling: float = Field(1.0, ge=0, description="scale of the random couplings C (entries N(0, coupling^2 / N))")
    drive: float = Field(0.1, ge=0, description="scale of the random constant drive e (entries N(0, drive^2))")
    t_end: float = Field(0.5, gt=0, description="integration time (dimensionless)")
    steps: int = Field(5, gt=0, description="RK4 steps")

    def build(self, n_inputs: int, rng: np.random.Generator) -> OscillatorNetwork:
        N = n_inputs + self.extra
        C = rng.standard_normal((N, N)) * self.coupling / np.sqrt(N)
        return OscillatorNetwork((C + C.T) / 2, rng.standard_normal(N) * self.drive, self.t_end, self.steps)
