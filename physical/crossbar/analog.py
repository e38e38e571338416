"""The torch path of the analog MVM (:mod:`biosim.physical.crossbar.tile`'s steps, vectorised) and analog layers.

:func:`mvm_torch` takes the same arguments as the Numba kernel :func:`~biosim.physical.crossbar.tile.mvm` as
tensors; the converters round with straight-through estimators, so a layer can be trained through them
(hardware-aware training) and then run on the frozen programmed state.
"""

from __future__ import annotations

import torch

from biosim.physical.crossbar.irdrop import attenuation


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
