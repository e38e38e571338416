"""An analog matrix on crossbar tiles: differential-pair mapping, converters, IR drop, read noise, tiling.

W (n inputs x m outputs) is scaled by w_max (per layer or per column), w~ = W / w_max, and written as a pair of
normalised conductances per weight, g+ = g_min + max(w~, 0)(1 - g_min) and g- likewise for -w~ (the unused device
sits at g_min). The inputs are split over tiles of at most ``tile_rows`` rows (columns need no split: every column
has its own converter); each tile digitises its outputs and the digital side adds them. One MVM, per sample:

1. noise management: alpha = max |x| (``abs_max``) or a fixed ``input_range``; DAC: x~ = round(x / alpha) on
   ``dac_bits`` (signed: 2^(b-1) - 1 steps per polarity), clipped to [-1, 1]; the word lines carry x~ V_read.
2. per tile, the bit-line signals in G_max V_read units, y+ = x~ g+ and y- = x~ g- (g at the time of the read,
   drift included; the exact IR drop replaces g by the nodal solve's effective matrix, the first-order model
   subtracts its loss), y~ = y+ - y-, plus read noise (each device's conductance off by sigma_read, fresh every
   MVM: exactly sigma_read sqrt(sum x~^2 (g+^2 + g-^2)) per output) and output noise sigma_out.
3. ADC: round y~ on ``adc_bits`` over +-out_bound, clip; with bound management a sample whose output clipped is
   converted again with its input scale doubled (up to ``max_halvings`` times).
4. y = sum over tiles of y~ alpha w_max / (1 - g_min), times the global drift compensation.

Both paths run exactly this on the same frozen state: :func:`mvm` (Numba, CPU inference, BLAS products)
and :func:`mvm_torch` (torch, with straight-through estimators for training). Noise draws xi are passed in, so
the two agree to rounding on the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numba import njit
from pydantic import Field

from biosim.params import Params, PositiveVoltage, Resistance
from biosim.physical.crossbar.device import DeviceArray, Memristor
from biosim.physical.crossbar.irdrop import attenuation, effective_conductance


def steps_of(bits: int | None) -> int:
    """Steps per polarity of a signed uniform converter of ``bits`` (0: no quantisation)."""
    return 0 if bits is None else 2 ** (bits - 1) - 1


class Crossbar(Params):
    """The periphery and layout of the tiles a matrix is written on (aihwkit's inference defaults)."""

    tile_rows: int = Field(512, ge=1, description="rows (inputs) per tile")
    mapping: Literal["layer", "column"] = Field("layer", description="w_max per layer or per output column")
    v_read: PositiveVoltage = Field(0.2, description="read voltage of a full-scale input")
    dac_bits: int | None = Field(7, ge=2, description="input DAC resolution, sign included (null: ideal)")
    adc_bits: int | None = Field(9, ge=2, description="output ADC resolution, sign included (null: ideal)")
    out_bound: float = Field(12.0, gt=0, description="ADC range, +-out_bound in G_max V_read units")
    noise_management: Literal["abs_max", "constant"] = Field(
        "abs_max", description="input scale per sample: its max |x|, or the fixed input_range")
    input_range: float = Field(1.0, gt=0, description="full-scale input with constant noise management")
    max_halvings: int = Field(10, ge=0, description="bound management: conversions redone with the input halved")
    sigma_out: float = Field(0.0, ge=0, description="output-referred noise of the periphery (G_max V_read units)")
    ir_drop: Literal["none", "first_order", "exact"] = Field(
        "none", description="wire resistance: off, aihwkit's first-order attenuation, or the exact nodal solve")
    r_wire: Resistance = Field(0.35, ge=0, description="wire resistance per cell segment")
    drift_compensation: bool = Field(True, description="rescale outputs digitally by a probe read after drift")


@dataclass
class AnalogMatrix:
    """W (n x m) written on crossbar tiles: the frozen devices (pair axis first: g+, g-), the scale, the tiling."""

    devices: DeviceArray
    w_max: np.ndarray  # (m,) the weight of a full-scale device pair per column
    device: Memristor
    crossbar: Crossbar
    t: float = 0.0  # seconds since programming
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.devices.g.shape[1:]

    @property
    def row_edges(self) -> np.ndarray:
        n = self.shape[0]
        return np.append(np.arange(0, n, self.crossbar.tile_rows), n).astype(np.int64)

    @property
    def n_tiles(self) -> int:
        return len(self.row_edges) - 1

    def conductance(self) -> tuple[np.ndarray, np.ndarray]:
        """(g+, g-) as the bit lines see them at time t: drift, and the exact IR drop's effective matrices."""
        key = ("g", self.t)
        if key not in self._cache:
            g = self.devices.at(self.t)
            if self.crossbar.ir_drop == "exact":
                r = self.crossbar.r_wire * self.device.g_max
                g = np.stack([np.concatenate([effective_conductance(half[a:b], r, r) for a, b in
                                              zip(self.row_edges[:-1], self.row_edges[1:], strict=True)])
                              for half in g])
            if self.t != 0.0:  # keep t = 0 (the drift probe's reference) and the latest t
                for old in [k for k in self._cache if k[0] == "g" and k[1] not in (0.0, self.t)]:
                    del self._cache[old]
            self._cache[key] = (np.ascontiguousarray(g[0]), np.ascontiguousarray(g[1]))
        return self._cache[key]

    def out_scale(self) -> np.ndarray:
        """Per column: w_max / (1 - g_min) times the drift compensation."""
        scale = self.w_max / (1 - self.device.g_floor)
        if self.crossbar.drift_compensation and self.t > 0 and self.devices.nu.any():
            scale = scale * self.drift_compensation()
        return scale

    def drift_compensation(self) -> float:
        """Global drift compensation: sum |y(0)| / sum |y(t)| of an all-ones probe read without noise."""
        key = ("compensation", self.t)
        if key not in self._cache:
            probe = np.ones((1, self.shape[0]))
            now = self.ideal_read(probe, self.conductance())
            saved, self.t = self.t, 0.0
            then = self.ideal_read(probe, self.conductance())
            self.t = saved
            self._cache[key] = float(np.abs(then).sum() / max(np.abs(now).sum(), 1e-300))
        return self._cache[key]

    def ideal_read(self, x: np.ndarray, g: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """x~ (g+ - g-) without converters or noise, in G_max V_read units (for probes)."""
        return x @ (g[0] - g[1])

    def noise(self, batch: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        """Standard-normal draws for one MVM (read, output): (batch x tiles x m) each; zeros where that noise is off."""
        shape = (batch, self.n_tiles, self.shape[1])
        draws = [rng.standard_normal(shape) if rng is not None and sigma else np.zeros(shape)
                 for sigma in (self.device.sigma_read, self.crossbar.sigma_out)]
        return draws[0], draws[1]

    def kernel_args(self) -> tuple:
        c = self.crossbar
        r_g_max = c.r_wire * self.device.g_max if c.ir_drop == "first_order" else 0.0
        alpha = 0.0 if c.noise_management == "abs_max" else c.input_range
        return (*self.conductance(), self.row_edges, self.out_scale(), alpha, steps_of(c.dac_bits),
                steps_of(c.adc_bits), c.out_bound, c.max_halvings, r_g_max, self.device.sigma_read, c.sigma_out)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """y = x W through the tiles (Numba path), x (batch x n); ``rng`` draws the read and output noise."""
        x = np.ascontiguousarray(x, np.float64)
        return mvm(x, *self.noise(len(x), rng), *self.kernel_args())


def program_matrix(W: np.ndarray, device: Memristor, crossbar: Crossbar, rng: np.random.Generator) -> AnalogMatrix:
    """Write W (n x m) as differential pairs: scale, map to [g_min, 1], then ``device.program``."""
    W = np.asarray(W, np.float64)
    peak = np.abs(W).max(axis=0) if crossbar.mapping == "column" else np.full(W.shape[1], np.abs(W).max())
    w_max = np.where(peak > 0, peak, 1.0)
    w = W / w_max
    floor = device.g_floor
    target = np.stack([floor + np.maximum(w, 0) * (1 - floor), floor + np.maximum(-w, 0) * (1 - floor)])
    return AnalogMatrix(device.program(target, rng), w_max, device, crossbar)


@njit(cache=True, inline="always")
def _quantise(v, steps, bound):
    """Round v onto ``steps`` levels per polarity over +-bound and clip (steps 0: clip only)."""
    if steps > 0:
        v = np.rint(v / bound * steps) * bound / steps
    return min(max(v, -bound), bound)


@njit(cache=True)
def _digitise(x, pending, s, dac_steps):
    """DAC codes x~ of the samples ``pending`` at input scales ``s`` (pending x n, contiguous)."""
    xq = np.empty((len(pending), x.shape[1]))
    for r in range(len(pending)):
        b = pending[r]
        for i in range(x.shape[1]):
            xq[r, i] = _quantise(x[b, i] / s[b], dac_steps, 1.0)
    return xq


@njit(cache=True)
def mvm(x, xi_read, xi_out, gp, gm, row_edges, scale, alpha_fixed, dac_steps, adc_steps, out_bound, max_halvings,
        r_g_max, sigma_read, sigma_out):
    """The fused analog MVM of the module docstring (Numba): x (B x n) -> y (B x m). Each tile's bit-line sums are
    matrix products (BLAS) over the samples still converting; bound management redoes only the clipped ones."""
    batch, n = x.shape
    m = gp.shape[1]
    tiles = len(row_edges) - 1
    y = np.zeros((batch, m))
    s = np.empty(batch)
    for b in range(batch):
        alpha = alpha_fixed
        if alpha == 0.0:
            for i in range(n):
                alpha = max(alpha, abs(x[b, i]))
        s[b] = alpha
    pending = np.flatnonzero(s > 0.0)
    g2 = gp * gp + gm * gm if sigma_read > 0.0 else gp[:0]
    for halving in range(max_halvings + 1):
        k = len(pending)
        if k == 0:
            break
        xq = _digitise(x, pending, s, dac_steps)
        out = np.zeros((k, m))
        clipped = np.zeros(k, np.bool_)
        for t in range(tiles):
            a, e = row_edges[t], row_edges[t + 1]
            xs = np.ascontiguousarray(xq[:, a:e])
            p, q = np.ascontiguousarray(gp[a:e]), np.ascontiguousarray(gm[a:e])
            yt = np.dot(xs, p) - np.dot(xs, q)
            if r_g_max > 0.0:
                position = 1.0 - (np.arange(e - a) / (e - a)) ** 2
                xa, xp = np.abs(xs), xs * position
                c = r_g_max * (e - a)
                yt -= attenuation(c * np.dot(xa, p)) * np.dot(xp, p) - attenuation(c * np.dot(xa, q)) * np.dot(xp, q)
            if sigma_read > 0.0:
                spread = np.sqrt(np.dot(xs * xs, np.ascontiguousarray(g2[a:e])))
            for r in range(k):
                b = pending[r]
                for j in range(m):
                    v = yt[r, j]
                    if sigma_read > 0.0:
                        v += sigma_read * spread[r, j] * xi_read[b, t, j]
                    if sigma_out > 0.0:
                        v += sigma_out * xi_out[b, t, j]
                    if abs(v) > out_bound:
                        clipped[r] = True
                    out[r, j] += _quantise(v, adc_steps, out_bound)
        last = halving == max_halvings
        for r in range(k):
            if last or not clipped[r]:
                b = pending[r]
                for j in range(m):
                    y[b, j] = out[r, j] * s[b] * scale[j]
        pending = pending[clipped]
        s[pending] *= 2.0
    return y
