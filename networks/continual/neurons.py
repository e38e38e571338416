"""Spiking neurons of the continual-learning family in torch, as pure functions over a whole input sequence
(time first: T x batch x n). Each returns what the next layer needs; the nets (``nets.py``) say what the HLOP
circuit reads.

* :func:`dsr` — the DSR neuron (Meng et al. 2022, as used by HLOP's code): discrete LIF
  U <- beta U + (1 - beta) I_t, beta = exp(-dt/tau); a spike when U >= alpha V_th, then U <- U - V_th, emitting
  V_th/dt. Gradients pass through the weighted firing rate a = sum_t w_t s_t / sum_t w_t, w_t = exp(-(T-t) dt/tau),
  as if a_out = clamp(a_in/tau, 0, V_th/dt): slope 1/tau on 0 < a_in < V_th tau/dt; above it the threshold's
  gradient is dt per unit (the official code's factor, where the clamp's slope would be 1/dt). The official code
  spreads each layer's input gradient evenly over the steps, so there the hidden weights' gradients use the
  unweighted mean of the presynaptic spikes (and a factor T sum_t w_t^2 / (sum_t w_t)^2 = 1.08); here every
  weight's gradient uses the weighted rate, the activity HLOP reads.
* :func:`lif` — multi-step LIF with soft reset (spikingjelly's MultiStepLIF, decay_input False, v_reset None,
  detach_reset): v <- v (1 - 1/tau) + I_t; s = H(v - V_th) with the sigmoid surrogate; v <- v - s V_th.
  ``online=True`` detaches v between steps (OTTT, Xiao et al. 2022: no gradient path through time).
* :func:`traces` — presynaptic traces a_t = a_{t-1} (1 - 1/tau) + s_t (OTTT's weight gradients use them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DSRParameters:
    """The DSR neuron of HLOP's code: T steps of dt (same unit as tau), threshold factor alpha, threshold floor."""

    tau: float = 1.0
    dt: float = 0.05
    alpha: float = 0.3
    v_th_floor: float = 5e-4

    @property
    def beta(self) -> float:
        """Membrane decay per step, exp(-dt/tau) (0.951 at the defaults)."""
        return math.exp(-self.dt / self.tau)

    def rate_weights(self, steps: int) -> torch.Tensor:
        """w_t = exp(-(T - t) dt/tau), t = 1..T, normalised to sum 1 (the weighted firing rate's weights)."""
        w = torch.exp(-(steps - torch.arange(1, steps + 1, dtype=torch.float64)) * self.dt / self.tau)
        return (w / w.sum()).float()


@dataclass(frozen=True)
class LIFParameters:
    """Multi-step LIF: membrane time constant tau (steps), threshold V_th, sigmoid surrogate sharpness alpha."""

    tau: float = 2.0
    v_th: float = 1.0
    alpha: float = 4.0


def dsr(current: torch.Tensor, rate_in: torch.Tensor, v_th: torch.Tensor,
        p: DSRParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """DSR layer: ``current`` (T x batch x ..., no gradient) drives the LIF; ``rate_in`` (batch x ...) is its
    weighted firing rate carrying the gradient. Returns the spike sequence (values V_th/dt, no gradient) and
    the output weighted firing rate (batch x ...) whose value is the spikes' and whose gradient is the DSR one."""
    v_th = v_th.clamp(min=p.v_th_floor)
    with torch.no_grad():
        threshold, value = p.alpha * v_th, v_th / p.dt
        u = torch.zeros_like(current[0])
        spikes = torch.empty_like(current)
        for t in range(len(current)):
            u = p.beta * u + (1 - p.beta) * current[t]
            fired = u >= threshold
            u = u - fired * v_th
            spikes[t] = fired * value
        w = p.rate_weights(len(current)).to(current)
        rate = torch.tensordot(w, spikes, 1)
    ceiling = v_th.detach() / p.dt + (v_th - v_th.detach()) * p.dt  # value V_th/dt, gradient dt
    surrogate = torch.minimum(torch.relu(rate_in / p.tau), ceiling)
    return spikes, surrogate + (rate - surrogate).detach()


class _SigmoidSpike(torch.autograd.Function):
    """s = H(x) (1 where x >= 0); ds/dx taken as alpha sig(alpha x) (1 - sig(alpha x))."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        sig = torch.sigmoid(ctx.alpha * x)
        return grad * ctx.alpha * sig * (1 - sig), None


def spike(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Heaviside spike of ``x`` = v - V_th with the sigmoid surrogate gradient of sharpness ``alpha``."""
    return _SigmoidSpike.apply(x, alpha)


def lif(current: torch.Tensor, p: LIFParameters, online: bool = False) -> torch.Tensor:
    """Spikes (T x batch x n, 0/1) of the multi-step LIF driven by ``current`` (T x batch x n), v(0) = 0;
    ``online``: v detached between steps (each step's gradient stays in that step)."""
    decay = 1 - 1 / p.tau
    v = torch.zeros_like(current[0])
    out = []
    for t in range(len(current)):
        v = (v.detach() if online else v) * decay + current[t]
        s = spike(v - p.v_th, p.alpha)
        v = v - s.detach() * p.v_th
        out.append(s)
    return torch.stack(out)


def traces(spikes: torch.Tensor, tau: float) -> torch.Tensor:
    """Presynaptic traces (T x batch x n, no gradient): a_t = a_{t-1} (1 - 1/tau) + s_t, a_0 = 0."""
    with torch.no_grad():
        decay, a = 1 - 1 / tau, torch.zeros_like(spikes[0])
        out = torch.empty_like(spikes)
        for t in range(len(spikes)):
            a = a * decay + spikes[t]
            out[t] = a
    return out
