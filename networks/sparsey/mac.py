"""Sparsey (Rinkus 2010, 2014): macrocolumns of Q winner-take-all competitive modules (CMs) of K binary
cells, coding each input by one winner per CM, chosen by the Code Selection Algorithm (CSA):

1. raw sums u, h, d over the binary weights from the active afferents (U: input now; H: the same
   level's codes one frame earlier; D: the level above one frame earlier), normalised by the number
   of active afferents;
2. local support V = U^lambda_U * H^lambda_H * D^lambda_D (absent signals are left out);
3. familiarity G = mean over CMs of the max V in the CM;
4. expansivity eta = 1 + max(0, (G - G-) / (1 - G-))^gamma * chi * K;
5. V -> mu sigmoid from 1 to eta: mu = (eta - 1) / (1 + (s1 exp(-s2 (V - s3)))^s4) + 1 (Sparsey_Alt, the
   default) or max(eta / (1 + exp(-nonlin (V - inflection))), 1) (SparseyCore as ported, fixed inflection);
6. learning: sample one winner per CM with probability mu / sum over the CM (novel inputs get random
   codes, familiar ones their stored code); retrieval: argmax V per CM;
7. single-trial learning of the afferent weights onto the winners: a plug-in ``sparsey_mac`` rule.

Storage and retrieval cost a fixed number of operations per item (active afferents x Q K), however
many items are stored. Code sampling and any random learning draw from the mac's own
``np.random.Generator``. The CSA variant is explicit configuration (``CSA``); its defaults are pinned to
the reference simulation of the spec (sdr.md 2.6), because capacity and similarity preservation
depend strongly on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from numba import njit, types
from numba.experimental import structref
from pydantic import Field, model_validator

from biosim.engine.codegen import bind_kernels
from biosim.networks.sparsey.target import MacRuleKernels
from biosim.params import Params
from biosim.rules.sparsey_mac import MacRule
from biosim.rules.sparsey_mac import binary_hebbian_learn as rule_learn  # rebound to the configured rule


class CSAConstants(NamedTuple):
    """``CSA`` as ``select_code`` reads it."""

    u_exponent: float
    h_exponent: float
    d_exponent: float
    g_minus: float
    gamma: float
    chi: float
    s1: float
    s2: float
    s3: float
    s4: float
    core: bool  # the sparsey_core sigmoid (else sparsey_alt)
    nonlin: float
    inflection: float


class CSA(Params):
    """The Code Selection Algorithm variant (defaults: spec sdr.md 2.6 reference simulation)."""

    u_exponent: float = Field(3.0, gt=0, description="lambda_U: V = U^lambda_U ...")
    h_exponent: float = Field(1.0, gt=0, description="lambda_H")
    d_exponent: float = Field(1.0, gt=0, description="lambda_D")
    g_minus: float = Field(0.1, ge=0, lt=1, description="G-: familiarity below which codes are random")
    gamma: float = Field(2.0, gt=0, description="exponent of the expansivity")
    chi: float = Field(100.0, ge=0, description="expansivity factor (eta(G=1) = 1 + chi K)")
    sigmoid: Literal["sparsey_alt", "sparsey_core"] = Field(
        "sparsey_alt", description="V -> mu form: (eta-1)/(1+(s1 e^(-s2 (V-s3)))^s4)+1, or max(eta/(1+e^(-nonlin "
                                   "(V-inflection))), 1)")
    sigma: tuple[float, float, float, float] = Field((0.1, 4.0, 1.0, 8.0), description="sparsey_alt s1..s4")
    nonlin: float = Field(4.0, gt=0, description="sparsey_core steepness")
    inflection: float = Field(0.5, description="sparsey_core inflection point")

    def constants(self) -> CSAConstants:
        """The record ``select_code`` reads."""
        return CSAConstants(float(self.u_exponent), float(self.h_exponent), float(self.d_exponent),
                            float(self.g_minus), float(self.gamma), float(self.chi), *map(float, self.sigma),
                            self.sigmoid == "sparsey_core", float(self.nonlin), float(self.inflection))


class MacParams(Params):
    """Shape of a macrocolumn and the range of active afferents in which it takes part."""

    q: int = Field(24, gt=0, description="competitive modules (winners per code)")
    k: int = Field(8, gt=1, description="cells per competitive module")
    min_active: int = Field(1, ge=1, description="fewest active U afferents for the mac to code (pi-)")
    max_active: int | None = Field(None, description="most active U afferents (pi+); none: no limit")

    @model_validator(mode="after")
    def _range(self):
        if self.max_active is not None and self.max_active < self.min_active:
            raise ValueError(f"max_active = {self.max_active} < min_active = {self.min_active}")
        return self


@njit(cache=True)
def _support(W, active, V, exponent):
    """V *= (sum of W rows of the active afferents / their number) ** exponent."""
    sums = np.zeros(V.shape[0])
    for j in active:
        sums += W[j]
    scale = 1.0 / active.shape[0]
    for i in range(V.shape[0]):
        V[i] *= (sums[i] * scale) ** exponent


@njit(cache=True)
def select_code(Wu, u, Wh, h, Wd, d, csa, q, k, sample, code, rng):
    """The CSA (``csa``: a ``CSAConstants``): write one winner per CM into ``code`` (cell indices), sampled
    with ``rng`` when ``sample``; return the familiarity G."""
    V = np.ones(q * k)
    if u.shape[0]:
        _support(Wu, u, V, csa.u_exponent)
    if h.shape[0]:
        _support(Wh, h, V, csa.h_exponent)
    if d.shape[0]:
        _support(Wd, d, V, csa.d_exponent)
    g = 0.0
    for m in range(q):
        g += V[m * k:(m + 1) * k].max()
    g /= q
    eta = 1.0 + max(0.0, (g - csa.g_minus) / (1.0 - csa.g_minus)) ** csa.gamma * csa.chi * k
    s1, s2, s3, s4 = csa.s1, csa.s2, csa.s3, csa.s4
    core, nonlin, inflection = csa.core, csa.nonlin, csa.inflection
    mu = np.empty(k)
    for m in range(q):
        cells = V[m * k:(m + 1) * k]
        if not sample:
            code[m] = m * k + np.argmax(cells)
            continue
        for c in range(k):
            if core:
                mu[c] = max(eta / (1.0 + math.exp(-nonlin * (cells[c] - inflection))), 1.0)
            else:
                mu[c] = (eta - 1.0) / (1.0 + (s1 * math.exp(-s2 * (cells[c] - s3))) ** s4) + 1.0
        r = rng.random() * mu.sum()
        c = 0
        while c < k - 1 and r >= mu[c]:
            r -= mu[c]
            c += 1
        code[m] = m * k + c
    return g


@structref.register
class MacContextType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class MacContext(structref.StructRefProxy):
    """What every compiled call of a mac reads, unboxed once: its generator ``rng``, the ``CSAConstants``
    ``csa`` and the rule's parameter record ``rule_p`` (a ``np.random.Generator`` argument costs ~40 us to
    unbox on every call from Python, this record ~4 us)."""


structref.define_proxy(MacContext, MacContextType, ["rng", "csa", "rule_p"])


@njit(cache=True)
def mac_context(rng, csa, rule_p):
    """A ``MacContext`` holding (a reference to) ``rng``: draws advance the Python generator too."""
    return MacContext(rng, csa, rule_p)


def mac_step(Wu, u, Wh, h, Wd, d, ctx, q, k, learn, sample, code):
    """One mac, one frame: choose the code and, when learning, store it on every present signal's
    weights (``ctx``: the mac's ``MacContext``). Returns (G, weights newly set)."""
    rng, rule_p = ctx.rng, ctx.rule_p
    g = select_code(Wu, u, Wh, h, Wd, d, ctx.csa, q, k, sample, code, rng)
    new = 0
    if learn:
        new += rule_learn(Wu, u, code, rule_p, rng)
        if h.shape[0]:
            new += rule_learn(Wh, h, code, rule_p, rng)
        if d.shape[0]:
            new += rule_learn(Wd, d, code, rule_p, rng)
    return g, new


def mac_items(Wu, flat, offsets, ctx, q, k, learn, sample, freeze_weights, set_weights, codes, g):
    """Present items ``flat[offsets[i]:offsets[i+1]]`` (active U afferents) to a U-only mac, in one
    compiled loop; the mac stops learning once ``set_weights[0]`` reaches ``freeze_weights``. Writes
    the codes and the familiarity G of every item."""
    empty = np.zeros(0, np.int64)
    for i in range(offsets.shape[0] - 1):
        learning = learn and set_weights[0] < freeze_weights
        g[i], new = mac_step(Wu, flat[offsets[i]:offsets[i + 1]], Wu, empty, Wu, empty, ctx, q, k, learning, sample,
                             codes[i])
        set_weights[0] += new


def hierarchy_frame(image, layout, u_idx, h_idx, d_idx, weights, set_weights, limits, levels, previous, now,
                    familiarity, ctx, learn, sample):
    """One frame of a hierarchy, bottom-up over every level and mac, in one compiled call (``Hierarchy.frame``).

    Mac ``g`` (all levels' macs in order) is row ``g`` of ``layout``: its level, the start and end of its U, H
    and D receptive fields in ``u_idx``, ``h_idx``, ``d_idx``, and the starts of its Wu, Wh, Wd and their end in
    ``weights`` (uint8, row-major). U indexes the level below's new bits (``image`` at level 0), H this level's
    ``previous`` bits, D the level above's. The bits of all levels are concatenated: level ``lv`` starts at
    ``levels[lv, 0]`` (one row more holds the end); ``levels[lv, 1:]`` is (q, k, min_active, max_active or -1,
    its first mac). A mac codes when its active U count is in the gate, or from H alone when U is silent, and
    learns until ``set_weights[g]`` reaches ``limits[g]`` (the rule's ``freeze_at`` x its weights). Writes
    ``now`` (zeroed first) and G per mac into ``familiarity`` (NaN when not coding)."""
    now[:] = 0
    familiarity[:] = np.nan
    for g in range(layout.shape[0]):
        lv, u0, u1, h0, h1, d0, d1 = layout[g, 0], layout[g, 1], layout[g, 2], layout[g, 3], layout[g, 4], \
            layout[g, 5], layout[g, 6]
        wu, wh, wd, w1 = layout[g, 7], layout[g, 8], layout[g, 9], layout[g, 10]
        start, q, k, low, high = levels[lv, 0], levels[lv, 1], levels[lv, 2], levels[lv, 3], levels[lv, 4]
        cells = q * k
        m = (g - levels[lv, 5]) * cells  # the mac's first bit within its level
        below = image if lv == 0 else now[levels[lv - 1, 0]:start]
        u = np.flatnonzero(below[u_idx[u0:u1]])
        h = np.flatnonzero(previous[start:][h_idx[h0:h1]])
        d = np.flatnonzero(previous[levels[lv + 1, 0]:][d_idx[d0:d1]])
        n = u.shape[0]
        if not ((n >= low and (high < 0 or n <= high)) or (n == 0 and h.shape[0] > 0)):
            continue
        code = np.zeros(q, np.int64)
        Wu = weights[wu:wh].reshape((u1 - u0, cells))
        Wh = weights[wh:wd].reshape(((wd - wh) // cells, cells))
        Wd = weights[wd:w1].reshape(((w1 - wd) // cells, cells))
        familiarity[g], new = mac_step(Wu, u, Wh, h, Wd, d, ctx, q, k, learn and set_weights[g] < limits[g], sample,
                                       code)
        set_weights[g] += new
        for c in range(q):
            now[start + m + code[c]] = 1


def _compiled(kernels: MacRuleKernels):
    """``mac_step``, ``mac_items`` and ``hierarchy_frame`` compiled with a rule's ``learn`` kernel in place of
    ``rule_learn``."""
    return bind_kernels([mac_step, mac_items, hierarchy_frame], {"rule_learn": kernels.learn}, "sparsey")


# -- Python side -----------------------------------------------------------------------------------------
@dataclass
class Mac:
    """One macrocolumn: binary afferent weights from its U, H and D receptive fields."""

    params: MacParams
    n_u: int
    n_h: int = 0
    n_d: int = 0
    Wu: np.ndarray = field(init=False)
    Wh: np.ndarray = field(init=False)
    Wd: np.ndarray = field(init=False)
    set_weights: np.ndarray = field(init=False)

    def __post_init__(self):
        cells = self.params.q * self.params.k
        self.Wu = np.zeros((self.n_u, cells), np.uint8)
        self.Wh = np.zeros((max(self.n_h, 1), cells), np.uint8)
        self.Wd = np.zeros((max(self.n_d, 1), cells), np.uint8)
        self.set_weights = np.zeros(1, np.int64)

    @property
    def cells(self) -> int:
        return self.params.q * self.params.k

    @property
    def n_weights(self) -> int:
        return self.cells * (self.n_u + self.n_h + self.n_d)

    def gated(self, n_active: int) -> bool:
        """Does the mac code an input with ``n_active`` active U afferents?"""
        high = self.params.max_active
        return n_active >= self.params.min_active and (high is None or n_active <= high)


class SingleMac:
    """A U-only macrocolumn with fused storage and retrieval of many items (capacity, similarity), drawing
    from its own generator ``rng`` (e.g. ``biosim.streams.stream(seed, "mac")``)."""

    def __init__(self, params: MacParams, n_inputs: int, rule: MacRule, rng: np.random.Generator,
                 csa: CSA | None = None):
        self.mac, self.rule, self.csa, self.rng = Mac(params, n_inputs), rule, csa or CSA(), rng
        kernels = rule.implementation("numba")
        self._module = _compiled(kernels)
        self._context = mac_context(rng, self.csa.constants(), kernels.params)

    def present(self, items: list[np.ndarray], learn: bool, sample: bool) -> tuple[np.ndarray, np.ndarray]:
        """Codes (items x Q cell indices) and familiarity G per item."""
        offsets = np.zeros(len(items) + 1, np.int64)
        offsets[1:] = np.cumsum([len(x) for x in items])
        flat = np.concatenate([np.asarray(x, np.int64) for x in items]) if items else np.zeros(0, np.int64)
        p = self.mac.params
        codes = np.zeros((len(items), p.q), np.int64)
        g = np.zeros(len(items))
        freeze = self.rule.freeze_at * self.mac.n_weights
        self._module.mac_items(self.mac.Wu, flat, offsets, self._context, p.q, p.k, learn, sample, freeze,
                               self.mac.set_weights, codes, g)
        return codes, g

    def store(self, items):
        """Learn each item in one trial (sampled codes)."""
        return self.present(items, learn=True, sample=True)

    def retrieve(self, items):
        """The argmax codes of the items, without learning."""
        return self.present(items, learn=False, sample=False)

    @property
    def frozen(self) -> bool:
        return self.mac.set_weights[0] >= self.rule.freeze_at * self.mac.n_weights
