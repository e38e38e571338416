"""Differentiable digital twins of the media (torch), for physics-aware training: the same physics with a
configurable reality gap, drawn once from the layer's twin stream.

* ``coupling``: a relative error of the coupling matrix (the transmission matrix T, or the oscillators' J):
  M_twin = M + coupling * |M|_rms * N, N standard normal (complex for T).
* ``nonlinearity``: a mismatch eta of the nonlinear response: the twin's intensity detector |E|^(2 (1 + eta)), the
  twin oscillators' restoring and coupling terms with (1 + eta) sin.

A twin is a plain callable on CPU float64 tensors (not a module: nothing of it is a trained or saved parameter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biosim.physical.waves.oscillators import OscillatorNetwork
from biosim.physical.waves.scattering import TransmissionMedium


@dataclass(frozen=True)
class Gap:
    """The reality gap between a medium and its twin (both relative, dimensionless)."""

    coupling: float = 0.0
    nonlinearity: float = 0.0


def perturbed_matrix(M: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """M + amount |M|_rms N (N: standard normal, complex where M is)."""
    noise = rng.standard_normal(M.shape)
    if np.iscomplexobj(M):
        noise = (noise + 1j * rng.standard_normal(M.shape)) / np.sqrt(2)
    return M + amount * np.sqrt(np.mean(np.abs(M) ** 2)) * noise


class ScatteringTwin:
    """|T' E_in|^2 (or Re(T' E_in), or the saturating detector) with the medium's encoding, in float64."""

    def __init__(self, medium: TransmissionMedium, gap: Gap, rng: np.random.Generator):
        self.medium, self.eta = medium, gap.nonlinearity
        self.T = torch.from_numpy(perturbed_matrix(medium.T, gap.coupling, rng))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        m = self.medium
        x = x.double()
        E = x.to(torch.complex128) if m.encoding == "amplitude" else torch.exp(1j * torch.pi * x)
        if m.normalise:
            E = E / torch.sqrt(torch.clamp((E.abs() ** 2).mean(dim=1, keepdim=True), min=1e-300))
        out = E @ self.T.T
        if m.detector == "field":
            return out.real
        intensity = (out.abs() ** 2 + 1e-300) ** (1 + self.eta)
        return intensity if m.i_sat is None else intensity / (1 + intensity / m.i_sat)


class OscillatorTwin:
    """RK4 of q'' = (1 + eta) [-sin q + J' (sin q) - rowsum(J') sin q] + e from q(0) = (x, 0), in float64."""

    def __init__(self, medium: OscillatorNetwork, gap: Gap, rng: np.random.Generator):
        self.medium, self.eta = medium, gap.nonlinearity
        J = perturbed_matrix(medium.J, gap.coupling, rng)
        self.J = torch.from_numpy((J + J.T) / 2)
        self.drive = torch.from_numpy(medium.drive)

    def acceleration(self, q: torch.Tensor) -> torch.Tensor:
        s = (1 + self.eta) * torch.sin(q)
        return -s + s @ self.J.T - self.J.sum(dim=1) * s + self.drive

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        m = self.medium
        q = torch.cat([x.double(), x.new_zeros(len(x), len(self.J) - x.shape[1], dtype=torch.float64)], dim=1)
        v = torch.zeros_like(q)
        h = m.t_end / m.steps
        for _ in range(m.steps):
            a1 = self.acceleration(q)
            a2 = self.acceleration(q + 0.5 * h * v)
            a3 = self.acceleration(q + 0.5 * h * v + 0.25 * h * h * a1)
            a4 = self.acceleration(q + h * v + 0.5 * h * h * a2)
            q, v = q + h * v + h * h / 6 * (a1 + a2 + a3), v + h / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
        return q


def twin(medium, gap: Gap, rng: np.random.Generator):
    """The digital twin of ``medium``."""
    if isinstance(medium, TransmissionMedium):
        return ScatteringTwin(medium, gap, rng)
    if isinstance(medium, OscillatorNetwork):
        return OscillatorTwin(medium, gap, rng)
    raise ValueError(f"no differentiable twin of {type(medium).__name__} yet (physics-aware training needs one): "
                     f"use scattering or oscillators")
