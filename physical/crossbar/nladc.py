"""The in-memory nonlinear ramp ADC (NL-ADC; Yang, Mao et al., Nat. Commun. 16, 2025).

A single-slope ADC counts the clock steps during which a ramp stays below the held column signal. Here the ramp is
made by an extra column of memristors read at the same V_read and through the same integrator as the weight
columns: step j adds V_read G_j, so the ramp's thresholds are T_j = kappa (sum_{i<=j} g_i - b) and, placed at
T_j = f^-1(lo + j LSB), the code c = #{j : z > T_j} approximates the monotone function f of the column signal z
(reconstructed at the midpoint y = lo + (c + 1/2) LSB, LSB = (hi - lo) / 2^bits). Because the ramp and the signal
scale together with V_read, the codes do not depend on it. The offset b comes from the bias-calibration devices
(5 on the paper's chip); calibration reads the written ramp back and rewrites them, coarse to fine, so that the
thresholds' mean error vanishes. The ramp's devices get the same programming noise, drift and faults as any
others; a step device stuck OFF at G_min = 0 (or programmed to zero) leaves a code that can never occur (a missing
code); with G_min > 0 it leaves a narrow code instead.

Device counts and the calibration procedure are our reading of the paper's Fig. 3 caption ([unc] in the spec): we
use 2^bits - 1 step devices for 2^bits codes and binary-weighted bias devices (significance 1, 1/2, 1/4, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from pydantic import Field
from scipy.special import expit, logit

from biosim.params import Params
from biosim.physical.crossbar.device import DeviceArray, Memristor

#: name -> (f, f^-1, output range)
FUNCTIONS: dict[str, tuple[Callable, Callable, tuple[float, float]]] = {
    "sigmoid": (expit, logit, (0.0, 1.0)),
    "tanh": (np.tanh, np.arctanh, (-1.0, 1.0)),
}


class NLADCSpec(Params):
    """A nonlinear ramp ADC for one monotone function."""

    function: str = Field("sigmoid", description=f"the output's function of the column signal: "
                                                 f"{', '.join(FUNCTIONS)} (or any monotone f in Python)")
    bits: int = Field(5, ge=1, le=12, description="output resolution: 2^bits codes")
    bias_devices: int = Field(5, ge=1, description="devices setting the ramp's offset (bias calibration)")
    calibrate: bool = Field(True, description="read the written ramp back and rewrite the bias devices")


@dataclass(frozen=True)
class NLADC:
    """A programmed NL-ADC: ramp step devices (kappa column-signal units per G_max) and bias devices."""

    spec: NLADCSpec
    f: Callable[[np.ndarray], np.ndarray]
    lo: float
    hi: float
    target: np.ndarray  # ideal thresholds T_1..T_{2^bits - 1}, in column-signal units
    kappa: float
    bias_gain: np.ndarray  # column-signal units per G_max of each bias device (binary-weighted, coarse to fine)
    ramp: DeviceArray
    bias: DeviceArray
    scale: float = 1.0  # the function's argument per column-signal unit: the code approximates f(scale z)

    @property
    def lsb(self) -> float:
        return (self.hi - self.lo) / 2**self.spec.bits

    def thresholds(self, t: float = 0.0) -> np.ndarray:
        """The realised thresholds at time t after programming (column-signal units)."""
        return self.kappa * np.cumsum(self.ramp.at(t)) - self.bias_gain @ self.bias.at(t)

    def codes(self, z: np.ndarray, t: float = 0.0, v_read: float = 1.0) -> np.ndarray:
        """Output codes of column signals z (column-signal units at V_read = 1 V): the signal and the ramp are both
        currents proportional to v_read, compared step by step."""
        signal = np.asarray(z, np.float64) * v_read
        ramp = self.thresholds(t) * v_read  # non-decreasing: conductances are >= 0
        return np.searchsorted(ramp, signal, side="left")

    def __call__(self, z: np.ndarray, t: float = 0.0) -> np.ndarray:
        """The midpoint reconstruction lo + (c + 1/2) LSB of f(z)."""
        return self.lo + (self.codes(z, t) + 0.5) * self.lsb

    def linearity(self, t: float = 0.0) -> dict[str, np.ndarray | int | float]:
        """INL and DNL per code transition in LSB (in the output domain: f at the realised threshold against the
        ideal lo + j LSB), the missing codes (never produced: the interval between their thresholds is empty)."""
        realised = self.thresholds(t)
        ideal = self.lo + np.arange(1, 2**self.spec.bits) * self.lsb
        with np.errstate(over="ignore"):
            y = self.f(realised * self.scale)
        inl = (y - ideal) / self.lsb
        edges = np.concatenate([[self.lo], np.maximum.accumulate(y), [self.hi]])
        dnl = np.diff(edges) / self.lsb - 1
        return {"inl_lsb": inl, "dnl_lsb": dnl, "max_inl_lsb": float(np.abs(inl).max()),
                "missing_codes": int(np.sum(np.diff(edges) <= 0))}


def step_ratio(steps: np.ndarray) -> float:
    """Largest over smallest ramp step: the on/off ratio a device needs to make them (the smallest step cannot go
    below G_min)."""
    return float(steps.max() / steps.min()) if len(steps) else 1.0


def on_off_problem(function: str, bits: int, needed: float, g_floor: float) -> str | None:
    """Why a ramp whose steps span ``needed``:1 cannot be written on a device of G_min / G_max = ``g_floor``
    (None: it can)."""
    if needed * g_floor <= 1:
        return None
    return (f"an NL-ADC of {bits} bits for {function} needs step conductances spanning {needed:.3g}:1, more than the "
            f"device's on/off ratio g_max / g_min = {1 / g_floor:.3g}; use fewer bits or g_min <= g_max / "
            f"{needed:.3g}")


def needed_on_off(function: str, bits: int) -> float:
    """The on/off ratio G_max / G_min a ``bits``-bit NL-ADC for a built-in ``function`` needs."""
    _, f_inverse, (lo, hi) = FUNCTIONS[function]
    return step_ratio(np.diff(f_inverse(lo + np.arange(1, 2**bits) * (hi - lo) / 2**bits)))


def build_nladc(spec: NLADCSpec, device: Memristor, rng: np.random.Generator, scale: float = 1.0,
                f: Callable | None = None, f_inverse: Callable | None = None,
                output_range: tuple[float, float] | None = None) -> NLADC:
    """Program an NL-ADC for f of z = scale x (column signal): thresholds f^-1(lo + j LSB) / scale, step devices
    g_j = dT_j / kappa with the largest step at G_max, the first threshold reached from the bias offset."""
    if f is None:
        if spec.function not in FUNCTIONS:
            from biosim.errors import unknown_choice

            raise unknown_choice("NL-ADC function", spec.function, FUNCTIONS)
        f, f_inverse, output_range = FUNCTIONS[spec.function]
    lo, hi = output_range
    codes = 2**spec.bits
    target = f_inverse(lo + np.arange(1, codes) * (hi - lo) / codes) / scale
    steps = np.diff(target)
    if np.any(steps <= 0):
        raise ValueError("the NL-ADC's function must be strictly increasing")
    kappa = float(steps.max()) if len(steps) else 1.0
    floor = device.g_floor
    problem = on_off_problem(spec.function, spec.bits, step_ratio(steps), floor)
    if problem:
        raise ValueError(problem)
    first = 0.5 * (1 + floor)  # the first step device sits mid-window; the bias brings its threshold to T_1
    offset = kappa * first - target[0]  # b: what the bias devices subtract
    significance = 0.5 ** np.arange(spec.bias_devices)
    start = 0.8  # bias devices first written at 80% of G_max, leaving room for calibration
    kappa_bias = max(abs(offset), kappa * 1e-6) / (start * significance.sum())
    ramp = device.program(np.concatenate([[first], np.maximum(steps / kappa, floor)]), rng)
    bias = device.program(np.full(spec.bias_devices, start), rng)
    adc = NLADC(spec, f, lo, hi, target, kappa, np.sign(offset) * kappa_bias * significance, ramp, bias, scale)
    return calibrate(adc, device, rng) if spec.calibrate else adc


def calibrate(adc: NLADC, device: Memristor, rng: np.random.Generator) -> NLADC:
    """Bias calibration by write-verify, coarse to fine: read the thresholds' mean error and rewrite the next bias
    device to cancel it, so each device also absorbs its predecessor's programming error (stuck ones are
    skipped); what remains is about the last device's own error."""
    g, nu = adc.bias.g.copy(), adc.bias.nu.copy()
    for k in np.flatnonzero(~adc.bias.stuck):
        current = replace(adc, bias=replace(adc.bias, g=g))
        error = float(np.mean(current.thresholds() - adc.target))
        wanted = np.clip(g[k] + error / adc.bias_gain[k], 0.0, 1.0)
        written = device.program(np.array([wanted]), rng)
        g[k], nu[k] = written.g[0], written.nu[0]
    return replace(adc, bias=replace(adc.bias, g=g, nu=nu))
