"""Differentiable digital twins of the media (torch), for physics-aware training: the same physics with a
configurable reality gap, drawn once from the layer's twin stream.

* ``coupling``: a relative error of the coupling matrix (the transmission matrix T, or the oscillators' J):
  M_twin = M + coupling * |M|_rms * N, N standard normal (complex for T); of a wave medium, its speed map:
  c_twin = c (1 + coupling N) per cell (capped at the CFL speed).
* ``nonlinearity``: a mismatch eta of the nonlinear response: the twin's intensity detector |E|^(2 (1 + eta)), the
  twin oscillators' restoring and coupling terms with (1 + eta) sin, the wave medium's Kerr coefficient times
  (1 + eta).

A twin is a plain callable on CPU float64 tensors (not a module: nothing of it is a trained or saved parameter).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from biosim.physical.waves import fdtd
from biosim.physical.waves.oscillators import OscillatorNetwork
from biosim.physical.waves.scattering import TransmissionMedium
from biosim.physical.waves.wave import SILENCE, WaveMedium


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


class WaveTwin:
    """The leapfrog update of ``fdtd.leapfrog`` as torch operations (differentiable in the input), float64:
    source signals linear in the (centred) input, walls fixed, probe intensities per time window, divided by
    their mean when the medium normalises."""

    def __init__(self, medium: WaveMedium, gap: Gap, rng: np.random.Generator):
        self.medium = m = medium
        cap = fdtd.cfl_speed(m.dt, m.dims)
        c = np.clip(m.c0 * (1 + gap.coupling * rng.standard_normal(m.c0.shape)), 1e-6, cap)
        self.c, self.cap = torch.from_numpy(c), cap
        self.kerr = torch.from_numpy(m.kerr * (1 + gap.nonlinearity))
        self.damping, self.saturable = torch.from_numpy(m.damping), torch.from_numpy(m.saturable)
        self.basis: torch.Tensor | None = None  # drawn up at the first call, for its input width
        inject = np.zeros((len(m.sources), m.c0.size))  # NumPy first: a net may be built on the meta device
        inject[np.arange(len(m.sources)), m.sources[:, 0] * m.c0.shape[1] + m.sources[:, 1]] = 1.0
        self.inject = torch.from_numpy(inject)

    def _basis(self, n: int) -> torch.Tensor:
        """signals(x) = x @ basis (n x steps x sources): the medium's encoding is linear in the centred x."""
        return torch.from_numpy(replace(self.medium, centre=False).signals(np.eye(n)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        m = self.medium
        x = x.double()
        if m.centre:
            x = x - x.mean(dim=1, keepdim=True)
        if self.basis is None or len(self.basis) != x.shape[1]:
            self.basis = self._basis(x.shape[1])
        signals = torch.einsum("bn,nts->bts", x, self.basis)
        B, (nx, ny) = len(x), m.c0.shape
        two_d = ny > 1
        inner = (slice(None), slice(1, nx - 1), slice(1, ny - 1) if two_d else slice(None))
        c0, kerr, b0, sat = (t[inner[1:]] for t in (self.c, self.kerr, self.damping, self.saturable))
        u_prev = u = x.new_zeros(B, nx, ny)
        windows = m.windows
        out = x.new_zeros(B, len(m.probes), windows)
        window_of = [(t * windows) // m.steps for t in range(m.steps)]
        rows, cols = torch.from_numpy(m.probes[:, 0]), torch.from_numpy(m.probes[:, 1])
        for t in range(m.steps):
            v = u[inner]
            lap = u[:, 2:, inner[2]] + u[:, :-2, inner[2]] - (4 if two_d else 2) * v
            if two_d:
                lap = lap + u[:, 1:-1, 2:] + u[:, 1:-1, :-2]
            c = torch.clamp(c0 + kerr * v * v, max=self.cap)
            a = 0.5 * (b0 + sat / (1 + (v / m.u_th) ** 2)) * m.dt
            new = (2 * v - (1 - a) * u_prev[inner] + (c * m.dt) ** 2 * lap) / (1 + a)
            new = torch.nn.functional.pad(new, (1, 1, 1, 1) if two_d else (0, 0, 1, 1))
            new = new + (m.dt ** 2 * signals[:, t] @ self.inject).view(B, nx, ny)
            u_prev, u = u, new
            probe = u[:, rows, cols]
            out[:, :, window_of[t]] = out[:, :, window_of[t]] + probe * probe * m.dt
        out = out.reshape(B, -1)
        return out / (out.mean(dim=1, keepdim=True) + SILENCE) if m.normalise else out


def twin(medium, gap: Gap, rng: np.random.Generator):
    """The digital twin of ``medium``."""
    if isinstance(medium, TransmissionMedium):
        return ScatteringTwin(medium, gap, rng)
    if isinstance(medium, OscillatorNetwork):
        return OscillatorTwin(medium, gap, rng)
    if isinstance(medium, WaveMedium):
        return WaveTwin(medium, gap, rng)
    raise ValueError(f"no differentiable twin of {type(medium).__name__} (physics-aware training needs one)")
