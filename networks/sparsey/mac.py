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
many items are stored. The CSA variant is explicit configuration (``CSA``); its defaults are pinned to
the reference simulation of the spec (sdr.md 2.6), because capacity and similarity preservation
depend strongly on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numba import njit
from pydantic import Field, model_validator

from biosim.engine.codegen import bind_kernels
from biosim.engine.kernels import seed_numba
from biosim.params import Params
from biosim.rules.sparsey_mac import MacRule
from biosim.rules.sparsey_mac import binary_hebbian_learn as rule_learn  # rebound to the configured rule


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

    def pack(self) -> np.ndarray:
        form = 0.0 if self.sigmoid == "sparsey_alt" else 1.0
        return np.array([self.u_exponent, self.h_exponent, self.d_exponent, self.g_minus, self.gamma, self.chi,
                         *self.sigma, form, self.nonlin, self.inflection], np.float64)


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
def select_code(Wu, u, Wh, h, Wd, d, csa, q, k, sample, code):
    """The CSA: write one winner per CM into ``code`` (cell indices); return the familiarity G."""
    V = np.ones(q * k)
    if u.shape[0]:
        _support(Wu, u, V, csa[0])
    if h.shape[0]:
        _support(Wh, h, V, csa[1])
    if d.shape[0]:
        _support(Wd, d, V, csa[2])
    g = 0.0
    for m in range(q):
        g += V[m * k:(m + 1) * k].max()
    g /= q
    g_minus, gamma, chi = csa[3], csa[4], csa[5]
    eta = 1.0 + max(0.0, (g - g_minus) / (1.0 - g_minus)) ** gamma * chi * k
    s1, s2, s3, s4 = csa[6], csa[7], csa[8], csa[9]
    core, nonlin, inflection = csa[10] != 0.0, csa[11], csa[12]
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
        r = np.random.random() * mu.sum()
        c = 0
        while c < k - 1 and r >= mu[c]:
            r -= mu[c]
            c += 1
        code[m] = m * k + c
    return g


def mac_step(Wu, u, Wh, h, Wd, d, csa, q, k, learn, sample, rule_p, code):
    """One mac, one frame: choose the code and, when learning, store it on every present signal's
    weights. Returns (G, weights newly set)."""
    g = select_code(Wu, u, Wh, h, Wd, d, csa, q, k, sample, code)
    new = 0
    if learn:
        new += rule_learn(Wu, u, code, rule_p)
        if h.shape[0]:
            new += rule_learn(Wh, h, code, rule_p)
        if d.shape[0]:
            new += rule_learn(Wd, d, code, rule_p)
    return g, new


def mac_items(Wu, flat, offsets, csa, q, k, learn, sample, rule_p, freeze_weights, set_weights, codes, g):
    """Present items ``flat[offsets[i]:offsets[i+1]]`` (active U afferents) to a U-only mac, in one
    compiled loop; the mac stops learning once ``set_weights[0]`` reaches ``freeze_weights``. Writes
    the codes and the familiarity G of every item."""
    empty = np.zeros(0, np.int64)
    for i in range(offsets.shape[0] - 1):
        learning = learn and set_weights[0] < freeze_weights
        g[i], new = mac_step(Wu, flat[offsets[i]:offsets[i + 1]], Wu, empty, Wu, empty, csa, q, k, learning, sample,
                             rule_p, codes[i])
        set_weights[0] += new


def _compiled(rule: MacRule):
    return bind_kernels([mac_step, mac_items], {"rule_learn": rule.learn}, "sparsey")


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
    """A U-only macrocolumn with fused storage and retrieval of many items (capacity, similarity)."""

    def __init__(self, params: MacParams, n_inputs: int, rule: MacRule, csa: CSA | None = None, seed: int = 0):
        self.mac, self.rule, self.csa = Mac(params, n_inputs), rule, csa or CSA()
        self._module = _compiled(rule)
        self._csa, self._rule_p = self.csa.pack(), rule.pack()
        seed_numba(seed)

    def present(self, items: list[np.ndarray], learn: bool, sample: bool) -> tuple[np.ndarray, np.ndarray]:
        """Codes (items x Q cell indices) and familiarity G per item."""
        offsets = np.zeros(len(items) + 1, np.int64)
        offsets[1:] = np.cumsum([len(x) for x in items])
        flat = np.concatenate([np.asarray(x, np.int64) for x in items]) if items else np.zeros(0, np.int64)
        p = self.mac.params
        codes = np.zeros((len(items), p.q), np.int64)
        g = np.zeros(len(items))
        freeze = self.rule.freeze_at * self.mac.n_weights
        self._module.mac_items(self.mac.Wu, flat, offsets, self._csa, p.q, p.k, learn, sample, self._rule_p, freeze,
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
