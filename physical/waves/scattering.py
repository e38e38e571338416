"""A multiple-scattering medium or chaotic cavity as a transmission matrix: E_out = T E_in, detected as intensity.

T (M x n, complex) is drawn i.i.d. CN(0, 1/n) (``gaussian``) or as the first n columns of an M x M Haar-random
unitary (``unitary``: a lossless cavity, M >= n, so |E_out|^2 summed equals |E_in|^2 summed). The input enters as
the field's amplitude (E_in = x) or phase (E_in = exp(i pi x)), scaled to unit mean power per input mode when
``normalise`` is set; the detector reads the intensity I = |E_out|^2, optionally saturating as I / (1 + I / I_sat),
or, for the linear-physics control, the real field Re(E_out).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from pydantic import Field, model_validator
from scipy.stats import unitary_group

from biosim.params import Params
from biosim.registry import register


@dataclass(frozen=True)
class TransmissionMedium:
    """A built medium: T (M x n complex) and how inputs enter and outputs are read."""

    T: np.ndarray
    encoding: str
    detector: str
    i_sat: float | None
    normalise: bool
    unitary: bool

    @property
    def n_outputs(self) -> int:
        return self.T.shape[0]

    def field_in(self, x: np.ndarray) -> np.ndarray:
        """E_in (batch x n) of inputs ``x``."""
        x = np.asarray(x, np.float64)
        E = x.astype(np.complex128) if self.encoding == "amplitude" else np.exp(1j * np.pi * x)
        if self.normalise:
            power = np.mean(np.abs(E) ** 2, axis=1, keepdims=True)
            E = E / np.sqrt(np.maximum(power, 1e-300))
        return E

    def field_out(self, x: np.ndarray) -> np.ndarray:
        """E_out = T E_in (batch x M)."""
        return self.field_in(x) @ self.T.T

    def __call__(self, x: np.ndarray) -> np.ndarray:
        E = self.field_out(x)
        if self.detector == "field":
            return E.real
        intensity = np.abs(E) ** 2
        return intensity if self.i_sat is None else intensity / (1 + intensity / self.i_sat)

    def picture(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """For one input x (n,): the input power per mode and the detected output per mode."""
        x = np.asarray(x, np.float64)[None]
        return {"picture_input": np.abs(self.field_in(x)[0]) ** 2, "picture_output": self(x)[0]}

    def perturbed(self, amount: float, rng: np.random.Generator) -> TransmissionMedium:
        """T mixed with an independent draw, T' = sqrt(1 - a^2) T + a T_new (a = ``amount``: the relative change
        of the matrix, its statistics kept; a unitary T is then projected back to the nearest unitary)."""
        new = draw(self.T.shape, self.unitary, rng)
        T = np.sqrt(1 - amount ** 2) * self.T + amount * new
        if self.unitary:
            U, _, Vh = np.linalg.svd(T, full_matrices=False)
            T = U @ Vh
        return replace(self, T=T)


def draw(shape: tuple[int, int], unitary: bool, rng: np.random.Generator) -> np.ndarray:
    """An M x n transmission matrix: i.i.d. CN(0, 1/n), or n columns of a Haar-random M x M unitary."""
    M, n = shape
    if unitary:
        return unitary_group.rvs(M, random_state=rng)[:, :n]
    return (rng.standard_normal((M, n)) + 1j * rng.standard_normal((M, n))) / np.sqrt(2 * n)


@register("physics", "scattering")
class Scattering(Params):
    """A frozen scattering medium (transmission matrix) with intensity detection."""

    outputs: int = Field(..., gt=0, description="output modes M (detector pixels)")
    matrix: Literal["gaussian", "unitary"] = Field(
        "gaussian", description="gaussian: i.i.d. CN(0, 1/n); unitary: Haar-random, lossless (needs M >= n)")
    encoding: Literal["amplitude", "phase"] = Field("amplitude", description="E_in = x, or exp(i pi x)")
    detector: Literal["intensity", "field"] = Field(
        "intensity", description="intensity |E|^2, or the real field Re(E) (the linear-physics control)")
    i_sat: float | None = Field(None, gt=0, description="saturable detector I / (1 + I / I_sat); unset: linear in I")
    normalise: bool = Field(True, description="scale each input to unit mean power per mode")

    @model_validator(mode="after")
    def _saturation_needs_intensity(self) -> Scattering:
        if self.i_sat is not None and self.detector != "intensity":
            raise ValueError("i_sat saturates an intensity detector; with detector: field there is none")
        return self

    def build(self, n_inputs: int, rng: np.random.Generator) -> TransmissionMedium:
        if self.matrix == "unitary" and self.outputs < n_inputs:
            raise ValueError(f"a unitary (lossless) medium needs outputs >= inputs: {self.outputs} < {n_inputs}")
        return TransmissionMedium(draw((self.outputs, n_inputs), self.matrix == "unitary", rng), self.encoding,
                                  self.detector, self.i_sat, self.normalise, self.matrix == "unitary")
