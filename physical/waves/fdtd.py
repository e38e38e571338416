"""The scalar wave equation u_tt + b u_t = c^2 laplace(u) on a 1-D or 2-D grid by finite differences (leapfrog,
3- or 5-point Laplacian), in one fused Numba kernel over every sample and step.

Units: lengths in cells (h = 1), time in the same unit as ``dt``, speeds in cells per unit time. The damping b
(per unit time) holds the absorbing layer (a PML-like profile b = sigma ((N - d) / N)^p over the N cells next to
each wall, d the distance to the wall; wavetorch's N = 20, sigma = 11, p = 4 by default) and the medium's
saturable absorption b_sat rho / (1 + (u / u_th)^2); the speed is c = c0 + (c1 - c0) rho plus the Kerr-like term
c_nl rho u^2, capped at the CFL speed h / (dt sqrt(dims)) so a strong field saturates instead of diverging. The
centred update

    u^{t+1} = [2 u^t - (1 - b dt / 2) u^{t-1} + (c dt)^2 laplace(u^t)] / (1 + b dt / 2) + dt^2 s^t

injects the source amplitudes s^t at the source cells; the walls are fixed (u = 0) behind the absorbing layer.
Probes record u at their cells (traces, linear in the sources when the nonlinearities are off) and its
time-integrated intensity sum_t u^2 dt.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def leapfrog(sources, signals, probes, c0, kerr, damping, saturable, u_th, dt, c_cap, traces, intensity, energy):
    """Run every sample through the medium.

    sources int64[n_src, 2] and probes int64[n_probe, 2]: (row, column) cells (column 0 on a 1-D grid);
    signals float64[batch, steps, n_src]: source amplitudes per step; c0, kerr (c_nl rho), damping (b, PML
    included), saturable (b_sat rho): float64[nx, ny] (ny = 1: the 1-D grid, 3-point Laplacian); u_th: the
    saturation amplitude; dt: the step; c_cap: the largest speed (CFL). Writes traces float64[batch, steps,
    n_probe] (u at the probes after each step; size 0 on the step axis: not kept), intensity
    float64[batch, n_probe * windows] (sum_t u^2 dt, over each of ``windows`` equal time windows: column
    p * windows + w) and energy float64[nx, ny] (sum_t u^2 dt over the grid for the first
    sample; size 0: not kept).
    """
    nx, ny = c0.shape
    two_d = ny > 1
    j0 = 1 if two_d else 0
    centre = 4.0 if two_d else 2.0
    keep = traces.shape[1] > 0
    keep_map = energy.shape[0] > 0
    windows = intensity.shape[1] // probes.shape[0]
    batch, steps, n_src = signals.shape
    u_prev = np.zeros((nx, ny))
    u = np.zeros((nx, ny))
    u_next = np.zeros((nx, ny))
    for s in range(batch):
        u_prev[:] = 0.0
        u[:] = 0.0
        u_next[:] = 0.0
        for t in range(steps):
            for i in range(1, nx - 1):
                for j in range(j0, ny - j0):
                    v = u[i, j]
                    lap = u[i + 1, j] + u[i - 1, j] - centre * v
                    if two_d:
                        lap += u[i, j + 1] + u[i, j - 1]
                    c = c0[i, j] + kerr[i, j] * v * v
                    if c > c_cap:
                        c = c_cap
                    b = damping[i, j]
                    if saturable[i, j] != 0.0:
                        r = v / u_th
                        b += saturable[i, j] / (1.0 + r * r)
                    a = 0.5 * b * dt
                    cd = c * dt
                    u_next[i, j] = (2.0 * v - (1.0 - a) * u_prev[i, j] + cd * cd * lap) / (1.0 + a)
            for k in range(n_src):
                u_next[sources[k, 0], sources[k, 1]] += dt * dt * signals[s, t, k]
            u_prev, u, u_next = u, u_next, u_prev
            if keep_map and s == 0:
                for i in range(nx):
                    for j in range(ny):
                        energy[i, j] += u[i, j] * u[i, j] * dt
            for p in range(probes.shape[0]):
                v = u[probes[p, 0], probes[p, 1]]
                intensity[s, p * windows + (t * windows) // steps] += v * v * dt
                if keep:
                    traces[s, t, p] = v


def absorbing_profile(shape: tuple[int, ...], width: int, sigma: float, power: float) -> np.ndarray:
    """b = sigma ((N - d) / N)^p within N = ``width`` cells of each wall (d: distance to the wall, in cells), the
    largest over the walls; 0 inside (per unit time)."""
    b = np.zeros(shape)
    for axis, n in enumerate(shape):
        if n == 1:
            continue
        d = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(float)
        ramp = sigma * np.clip((width - d) / max(width, 1), 0.0, None) ** power if width else np.zeros(n)
        b = np.maximum(b, ramp.reshape([-1 if a == axis else 1 for a in range(len(shape))]))
    return b


def cfl_speed(dt: float, dims: int) -> float:
    """The largest stable speed of the leapfrog scheme, h / (dt sqrt(dims)) (cells per unit time)."""
    return 1.0 / (dt * np.sqrt(dims))
