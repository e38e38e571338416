"""The torch path of the analog MVM (:mod:`biosim.physical.crossbar.tile`'s steps, vectorised) and analog layers.

:func:`mvm_torch` takes the same arguments as the Numba kernel :func:`~biosim.physical.crossbar.tile.mvm` as
tensors; the converters round with straight-through estimators, so a layer can be trained through them
(hardware-aware training) and then run on the frozen programmed state.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.irdrop import attenuation
from biosim.physical.crossbar.tile import AnalogMatrix, Crossbar, mvm, program_matrix, steps_of


def ste_quantise(v: torch.Tensor, steps: int, bound: float) -> torch.Tensor:
    """Round onto ``steps`` levels per polarity over +-bound (identity gradient), then clip."""
    if steps > 0:
        v = v + (torch.round(v / bound * steps) * bound / steps - v).detach()
    return v.clamp(-bound, bound)


def mvm_torch(x, xi_read, xi_out, gp, gm, row_edges, scale, alpha_fixed, dac_steps, adc_steps, out_bound,
              max_halvings, r_g_max, sigma_read, sigma_out):
    """y = x W through the tiles (torch): x (B x n), g+ and g- (n x m) normalised, noise draws (B x tiles x m)."""
    if alpha_fixed == 0.0:
        alpha = x.detach().abs().amax(dim=1, keepdim=True)
    else:
        alpha = torch.full((len(x), 1), alpha_fixed, dtype=x.dtype)
    s = torch.where(alpha > 0, alpha, torch.ones_like(alpha))
    result, done = None, torch.zeros(len(x), dtype=torch.bool)
    for halving in range(max_halvings + 1):
        xq = ste_quantise(x / s, dac_steps, 1.0)
        total = torch.zeros(len(x), gp.shape[1], dtype=x.dtype)
        clipped = torch.zeros(len(x), dtype=torch.bool)
        for t, (a, e) in enumerate(zip(row_edges[:-1], row_edges[1:], strict=True)):
            xs, p, m = xq[:, a:e], gp[a:e], gm[a:e]
            y = xs @ p - xs @ m
            if r_g_max > 0:
                k = r_g_max * (e - a)
                position = 1 - (torch.arange(e - a, dtype=x.dtype) / (e - a)) ** 2
                xp, xa = xs * position, xs.abs()
                y = y - attenuation(k * (xa @ p)) * (xp @ p) + attenuation(k * (xa @ m)) * (xp @ m)
            if sigma_read > 0:
                y = y + sigma_read * torch.sqrt((xs * xs) @ (p * p + m * m) + 1e-30) * xi_read[:, t]
            if sigma_out > 0:
                y = y + sigma_out * xi_out[:, t]
            clipped |= (y.detach().abs() > out_bound).any(dim=1)
            total = total + ste_quantise(y, adc_steps, out_bound)
        y = total * s * scale
        result = y if result is None else torch.where(done[:, None], result, y)
        done = done | ~clipped
        if bool(done.all()) or halving == max_halvings:
            break
        s = torch.where(done[:, None], s, 2 * s)
    return result * (alpha > 0)


class AnalogMatmul(nn.Module):
    """x -> x W for a weight held as an nn.Parameter (in x out as written on the tiles) and a frozen programmed
    state. Training (hardware-aware): the current weights are mapped to conductances on every call, with the
    device's level rounding (straight-through) and programming noise drawn afresh, then the converters of the
    tile. Evaluation: the programmed devices (:meth:`program`), on the torch or the Numba path."""

    programs_devices = True

    def __init__(self, weight: torch.Tensor, device: Memristor, crossbar: Crossbar, path: str = "torch"):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())
        self.device, self.crossbar, self.path = device, crossbar, path
        self.matrix: AnalogMatrix | None = None
        self.read_rng: np.random.Generator | None = None
        self.meter = None  # an energy.EnergyCount that counts every evaluation MVM, when set
        self.generator: torch.Generator | None = None  # hardware-aware training's noise draws (None: torch's)

    def program(self, rng: np.random.Generator, read_rng: np.random.Generator | None = None) -> None:
        """Write the current weights onto devices (frozen from now on); ``read_rng`` draws the per-MVM noise."""
        self.matrix = program_matrix(self.weight.detach().double().cpu().numpy(), self.device, self.crossbar, rng)
        self.read_rng = read_rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.matrix is None:
            return self._hardware_aware(x)
        x64 = x.detach().double().cpu().numpy()
        if self.meter is not None:
            self.meter.add_mvm(x64, self.matrix)
        xi = self.matrix.noise(len(x64), self.read_rng)
        if self.path == "numba":
            y = torch.from_numpy(mvm(np.ascontiguousarray(x64), *xi, *self.matrix.kernel_args()))
        else:
            args = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in self.matrix.kernel_args()]
            args[2] = self.matrix.row_edges.tolist()
            y = mvm_torch(torch.from_numpy(x64), *(torch.from_numpy(v) for v in xi), *args)
        return y.to(x.dtype)

    def _normal(self, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, dtype=dtype)

    def _hardware_aware(self, x: torch.Tensor) -> torch.Tensor:
        d, c = self.device, self.crossbar
        w = self.weight
        peak = w.detach().abs().amax(dim=0) if c.mapping == "column" else w.detach().abs().amax().expand(w.shape[1])
        w_max = torch.where(peak > 0, peak, torch.ones_like(peak))
        floor = d.g_floor
        pairs = []
        for half in (w / w_max, -w / w_max):
            g = floor + half.clamp(min=0) * (1 - floor)
            if d.levels is not None:
                g = g + (torch.round((g - floor) / d.step) * d.step + floor - g).detach()
            if d.programming in ("gaussian", "pcm") and d.sigma_programming > 0:
                sigma = torch.from_numpy(d.programming_sigma(g.detach().double().cpu().numpy())).to(g)
                g = g + sigma * self._normal(g.shape, g.dtype)
            elif d.programming == "lognormal" and d.sigma_programming > 0:
                s = d.sigma_programming
                g = g * torch.exp(s * self._normal(g.shape, g.dtype) - s**2 / 2)
            pairs.append(g)
        tiles = len(range(0, w.shape[0], c.tile_rows))
        xi = self._normal((2, len(x), tiles, w.shape[1]), x.dtype)
        edges = [*range(0, w.shape[0], c.tile_rows), w.shape[0]]
        alpha = 0.0 if c.noise_management == "abs_max" else c.input_range
        r_g_max = c.r_wire * d.g_max if c.ir_drop == "first_order" else 0.0
        return mvm_torch(x, xi[0], xi[1], pairs[0].to(x.dtype), pairs[1].to(x.dtype), edges,
                         w_max.to(x.dtype) / (1 - floor), alpha, steps_of(c.dac_bits), steps_of(c.adc_bits),
                         c.out_bound, c.max_halvings, r_g_max, d.sigma_read, c.sigma_out)


class AnalogLinear(nn.Module):
    """nn.Linear with its weight on crossbar tiles and its bias digital (aihwkit's ``digital_bias``)."""

    def __init__(self, linear: nn.Linear, device: Memristor, crossbar: Crossbar, path: str = "torch"):
        super().__init__()
        self.matmul = AnalogMatmul(linear.weight.T, device, crossbar, path)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.matmul(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)
        return y if self.bias is None else y + self.bias

    def to_digital(self) -> nn.Linear:
        """An nn.Linear with this layer's current (trained) weights."""
        w = self.matmul.weight.detach()
        linear = nn.Linear(w.shape[0], w.shape[1], bias=self.bias is not None, dtype=w.dtype)
        with torch.no_grad():
            linear.weight.copy_(w.T)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear


class AnalogConv2d(nn.Module):
    """nn.Conv2d as im2col on crossbar tiles: each patch (C k k values) is one MVM input."""

    def __init__(self, conv: nn.Conv2d, device: Memristor, crossbar: Crossbar, path: str = "torch"):
        super().__init__()
        if conv.groups != 1 or not isinstance(conv.padding, tuple):
            raise ValueError("analog Conv2d supports groups = 1 and numeric padding")
        self.geometry = dict(kernel_size=conv.kernel_size, dilation=conv.dilation, padding=conv.padding,
                             stride=conv.stride)
        self.out_channels = conv.out_channels
        self.matmul = AnalogMatmul(conv.weight.reshape(conv.out_channels, -1).T, device, crossbar, path)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        patches = F.unfold(x, **self.geometry)  # (B, C k k, L)
        y = self.matmul(patches.transpose(1, 2).reshape(-1, patches.shape[1]))
        kh, kw = self.geometry["kernel_size"]
        (ph, pw), (sh, sw), (dh, dw) = self.geometry["padding"], self.geometry["stride"], self.geometry["dilation"]
        out_h, out_w = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        y = y.reshape(b, out_h * out_w, self.out_channels).transpose(1, 2).reshape(b, self.out_channels, out_h, out_w)
        return y if self.bias is None else y + self.bias[:, None, None]


def convert(module: nn.Module, device: Memristor, crossbar: Crossbar, path: str = "torch") -> nn.Module:
    """The layer factory: ``module`` with every nn.Linear and nn.Conv2d replaced by its analog version (same
    weights; in place, returned). Then :func:`program` writes them onto devices."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, AnalogLinear(child, device, crossbar, path))
        elif isinstance(child, nn.Conv2d):
            setattr(module, name, AnalogConv2d(child, device, crossbar, path))
        else:
            convert(child, device, crossbar, path)
    return module


def to_digital(module: nn.Module) -> nn.Module:
    """The inverse of :func:`convert`: every analog part with ``to_digital`` replaced by its digital module with
    the current weights (in place, returned), e.g. after hardware-aware training, to write them on other tiles."""
    for name, child in module.named_children():
        if hasattr(child, "to_digital"):
            setattr(module, name, child.to_digital())
        else:
            to_digital(child)
    return module


def analog_matrices(module: nn.Module) -> list[AnalogMatmul]:
    return [m for m in module.modules() if isinstance(m, AnalogMatmul)]


def program(module: nn.Module, rng: np.random.Generator, read_rng: np.random.Generator | None = None) -> None:
    """Write every analog part of ``module`` onto its devices, in module order from one generator: each module
    with ``programs_devices`` (a matrix, or a composite such as an NL-ADC LSTM cell that writes its own)."""
    written: set[int] = set()
    for part in module.modules():
        if getattr(part, "programs_devices", False) and id(part) not in written:
            part.program(rng, read_rng)
            written.update(id(inner) for inner in part.modules())


def set_generator(module: nn.Module, generator: torch.Generator) -> None:
    """Draw every analog layer's hardware-aware training noise from ``generator`` (reproducible runs)."""
    for matmul in analog_matrices(module):
        matmul.generator = generator


def set_time(module: nn.Module, t: float) -> None:
    """Seconds since programming for every analog layer (drift)."""
    for matmul in analog_matrices(module):
        matmul.matrix.t = t
