"""Memristive device models and the frozen state of a programmed array (units: S, s).

A device is described by its conductance window [G_min, G_max], a number of levels, how programming misses its
target (noise frozen at write), read noise (fresh every read), conductance drift G(t) = G_p ((t + t0) / t0)^-nu
with a per-device nu, and stuck-at-ON / stuck-at-OFF faults drawn once per device. Conductances are handled
normalised, g = G / G_max in [g_min, 1]. Presets: ``memristor`` (ideal unless told otherwise), ``pcm`` (aihwkit's
PCM-like inference model: G_max 25 uS, the programming-noise polynomial and the conductance-dependent drift of
Nandakumar et al. 2019 / Joshi et al. 2020) and ``rram`` (lognormal programming noise, read noise 1%).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from biosim.params import Conductance, Params, PositiveConductance, PositiveTime
from biosim.registry import register

#: aihwkit's PCM programming-noise polynomial, sigma in uS at G_max = 25 uS of g = G / G_max
PCM_PROGRAMMING = (0.26348, 1.9650, -1.1731)
PCM_G_MAX = 25e-6


@dataclass(frozen=True)
class DeviceArray:
    """Programmed devices (any shape): conductance g_p (normalised) right after writing, drift exponents nu, and
    the stuck devices (which hold their value and do not drift)."""

    g: np.ndarray
    nu: np.ndarray
    stuck: np.ndarray
    t0: float

    def at(self, t: float) -> np.ndarray:
        """The normalised conductance ``t`` seconds after programming."""
        if t < 0:
            raise ValueError(f"time since programming must be >= 0 s, got {t} s")
        if t == 0 or not self.nu.any():
            return self.g
        return np.where(self.stuck, self.g, self.g * ((t + self.t0) / self.t0) ** -self.nu)


@register("device", "memristor")
class Memristor(Params):
    """A generic two-terminal memristive device; every non-ideality is off by default."""

    g_max: PositiveConductance = Field(25e-6, description="largest programmable conductance")
    g_min: Conductance = Field(0.0, ge=0, description="smallest conductance (the OFF state; G_max / on-off ratio)")
    levels: int | None = Field(None, ge=2, description="programmable levels from G_min to G_max (null: continuous)")
    programming: Literal["none", "gaussian", "lognormal", "pcm"] = Field(
        "none", description="how a write misses its target: gaussian (sigma_programming x G_max), lognormal "
                            "(G exp(sigma xi - sigma^2/2)), pcm (aihwkit's polynomial x sigma_programming)")
    sigma_programming: float = Field(0.0, ge=0, description="programming-noise scale (see programming)")
    sigma_read: float = Field(0.0, ge=0, description="relative read noise, drawn afresh for every read")
    drift: Literal["constant", "pcm"] = Field(
        "constant", description="drift exponent per device: |N(nu, nu_std)|, or the PCM model's conductance-"
                                "dependent mean and spread")
    nu: float = Field(0.0, ge=0, description="mean drift exponent (constant drift)")
    nu_std: float = Field(0.0, ge=0, description="device-to-device spread of the drift exponent (constant drift)")
    t0: PositiveTime = Field(20.0, description="drift reference time after programming")
    stuck_on: float = Field(0.0, ge=0, lt=1, description="fraction of devices stuck at G_max")
    stuck_off: float = Field(0.0, ge=0, lt=1, description="fraction of devices stuck at G_min")
    sigma_write: float = Field(0.0, ge=0, description="noise of one incremental update (in level steps when "
                                                      "levels are set, else in units of G_max)")
    update: Literal["nearest", "stochastic"] = Field(
        "nearest", description="how a synaptic update lands on the levels: the nearest level, or a stochastic "
                               "rounding that is unbiased on average")

    @model_validator(mode="after")
    def _window(self) -> Memristor:
        if self.g_min >= self.g_max:
            raise ValueError(f"g_min ({self.g_min:g} S) must be below g_max ({self.g_max:g} S)")
        if self.stuck_on + self.stuck_off >= 1:
            raise ValueError("stuck_on + stuck_off must be below 1")
        return self

    @property
    def g_floor(self) -> float:
        """G_min / G_max."""
        return self.g_min / self.g_max

    @property
    def step(self) -> float:
        """One level in normalised conductance (0 when continuous)."""
        return 0.0 if self.levels is None else (1 - self.g_floor) / (self.levels - 1)

    def quantise(self, g: np.ndarray) -> np.ndarray:
        """The nearest level of normalised conductances ``g`` (clipped to the window first)."""
        g = np.clip(g, self.g_floor, 1.0)
        if self.levels is None:
            return g
        return self.g_floor + np.rint((g - self.g_floor) / self.step) * self.step

    def programming_sigma(self, g: np.ndarray) -> np.ndarray:
        """Standard deviation of the written conductance (normalised) for targets ``g`` (gaussian and pcm)."""
        if self.programming == "gaussian":
            return np.full_like(g, self.sigma_programming)
        c0, c1, c2 = PCM_PROGRAMMING
        return self.sigma_programming * (c0 + c1 * g + c2 * g**2) * 1e-6 / PCM_G_MAX

    def drift_exponents(self, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per-device nu >= 0 for programmed conductances ``g``."""
        if self.drift == "constant":
            mean, std = np.full_like(g, self.nu), np.full_like(g, self.nu_std)
        else:
            logg = np.log(np.maximum(g, 1e-12))
            mean = np.clip(-0.0155 * logg + 0.0244, 0.049, 0.1)
            std = np.clip(-0.0125 * logg - 0.0059, 0.008, 0.045)
        if not (mean.any() or std.any()):
            return np.zeros_like(g)
        return np.abs(mean + std * rng.standard_normal(g.shape))

    def program(self, target: np.ndarray, rng: np.random.Generator) -> DeviceArray:
        """Write normalised target conductances: quantise to the levels, miss by the programming noise, clip to
        [0, 1], then the stuck devices (drawn once) take G_max or G_min."""
        g = self.quantise(np.asarray(target, np.float64))
        if self.programming in ("gaussian", "pcm") and self.sigma_programming > 0:
            g = g + self.programming_sigma(g) * rng.standard_normal(g.shape)
        elif self.programming == "lognormal" and self.sigma_programming > 0:
            s = self.sigma_programming
            g = g * np.exp(s * rng.standard_normal(g.shape) - s**2 / 2)
        g = np.clip(g, 0.0, 1.0)
        stuck = np.zeros(g.shape, bool)
        if self.stuck_on or self.stuck_off:
            u = rng.random(g.shape)
            on, off = u < self.stuck_on, (u >= self.stuck_on) & (u < self.stuck_on + self.stuck_off)
            g = np.where(on, 1.0, np.where(off, self.g_floor, g))
            stuck = on | off
        nu = np.where(stuck, 0.0, self.drift_exponents(g, rng))
        return DeviceArray(g=g, nu=nu, stuck=stuck, t0=self.t0)

    def synapses(self, weights: np.ndarray, bounds: tuple[float, float], dt: float, rng: np.random.Generator):
        """The spiking engine's device for a projection's weights (:mod:`biosim.physical.crossbar.synapse`)."""
        from biosim.physical.crossbar.synapse import synapses

        return synapses(self, weights, bounds, dt, rng)


@register("device", "pcm")
class PCM(Memristor):
    """aihwkit's PCM-like inference device (PCMLikeNoiseModel): G_max 25 uS, G_min 0, programming noise by the
    polynomial sigma = 0.26348 + 1.9650 g - 1.1731 g^2 uS, drift nu ~ |N(mu(g), sigma(g))|, t0 = 20 s."""

    programming: Literal["none", "gaussian", "lognormal", "pcm"] = "pcm"
    sigma_programming: float = 1.0
    drift: Literal["constant", "pcm"] = "pcm"


@register("device", "rram")
class RRAM(Memristor):
    """A filamentary RRAM cell (our choice of defaults): G_max 40 uS (aihwkit's Wan 2022 reference), on/off 10,
    lognormal programming noise 5%, read noise 1% (the aihwkit docstring's advice), no drift."""

    g_max: PositiveConductance = 40e-6
    g_min: Conductance = 4e-6
    programming: Literal["none", "gaussian", "lognormal", "pcm"] = "lognormal"
    sigma_programming: float = 0.05
    sigma_read: float = 0.01
