"""Sparsey hierarchies: levels of macs on grids, each with a local receptive field (RF) over the level
below (pixels at level 1), an optional horizontal RF over its own level one frame earlier (H) and the
level above one frame earlier (D). A frame is coded bottom-up, level by level.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from biosim.networks.sparsey.mac import CSA, Mac, MacParams, _compiled, mac_context
from biosim.rules.sparsey_mac import MacRule


class LevelConfig(MacParams):
    """A level: a grid of identical macs; ``rf`` is the U receptive field's radius in units of the
    spacing of the level below (pixels at level 1; ``null``: the whole level below)."""

    grid: tuple[int, int] = Field((1, 1), description="macs per row and column")
    rf: float | None = Field(None, gt=0, description="U receptive-field radius (Chebyshev, units of the level below)")
    horizontal: bool = Field(False, description="H input: this level's codes one frame earlier (macs within rf)")
    top_down: bool = Field(False, description="D input: the level above one frame earlier (macs that see this one)")


def _centres(grid: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Mac positions spread evenly over a ``shape`` (rows, cols) plane, as (row, col) coordinates."""
    rows = np.linspace(0, shape[0] - 1, grid[0]) if grid[0] > 1 else np.array([(shape[0] - 1) / 2])
    cols = np.linspace(0, shape[1] - 1, grid[1]) if grid[1] > 1 else np.array([(shape[1] - 1) / 2])
    return np.array([(r, c) for r in rows for c in cols])


def receptive_fields(input_shape: tuple[int, int], levels: list[LevelConfig]
                     ) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]], list[np.ndarray]]:
    """Per level, per mac: the indices of its U input into the level below's bit vector and of its H input into
    its own level's; and per level the mac positions, as (row, col) in the level below's coordinates."""
    below_pos = np.array([(r, c) for r in range(input_shape[0]) for c in range(input_shape[1])], float)
    below_shape, below_units = input_shape, np.ones(len(below_pos), np.int64)  # afferent bits per unit below
    u_rf: list[list[np.ndarray]] = []
    h_rf: list[list[np.ndarray]] = []
    positions: list[np.ndarray] = []
    for level in levels:
        centres = _centres(level.grid, below_shape)
        spacing = np.array([max(1.0, (below_shape[0] - 1) / max(level.grid[0] - 1, 1)),
                            max(1.0, (below_shape[1] - 1) / max(level.grid[1] - 1, 1))])
        starts = np.concatenate([[0], np.cumsum(below_units)])
        rfs = []
        for centre in centres:
            near = np.ones(len(below_pos), bool) if level.rf is None else \
                np.max(np.abs(below_pos - centre), axis=1) <= level.rf + 1e-9
            rfs.append(np.concatenate([np.zeros(0, np.int64)] + [np.arange(starts[u], starts[u + 1])
                                                                 for u in np.flatnonzero(near)]))
        cells = level.q * level.k
        h_rfs = []
        for centre in centres:
            if not level.horizontal:
                h_rfs.append(np.zeros(0, np.int64))
                continue
            near = np.max(np.abs(centres - centre) / spacing, axis=1) <= (level.rf or np.inf) + 1e-9
            h_rfs.append(np.concatenate([np.arange(m * cells, (m + 1) * cells) for m in np.flatnonzero(near)]))
        u_rf.append(rfs)
        h_rf.append(h_rfs)
        positions.append(centres)
        below_pos, below_shape = centres / spacing, level.grid
        below_units = np.full(len(centres), cells, np.int64)
    return u_rf, h_rf, positions


class Hierarchy:
    """Levels of macs over a binary image of ``input_shape``; ``frame`` codes one image. Every mac draws
    from the hierarchy's own generator ``rng`` (e.g. ``biosim.streams.stream(seed, "hierarchy")``)."""

    def __init__(self, input_shape: tuple[int, int], levels: list[LevelConfig], rule: MacRule,
                 rng: np.random.Generator, csa: CSA | None = None):
        self.rule, self.csa, self.levels, self.rng = rule, csa or CSA(), levels, rng
        kernels = rule.implementation("numba")
        self._module = _compiled(kernels)
        self._context = mac_context(rng, self.csa.constants(), kernels.params)
        self.u_rf, self.h_rf, self.positions = receptive_fields(input_shape, levels)
        self.d_rf = [self._top_down(lv) for lv in range(len(levels))]
        self.macs = [[Mac(level, len(u), len(h), len(d)) for u, h, d in zip(us, hs, ds, strict=True)]
                     for level, us, hs, ds in zip(levels, self.u_rf, self.h_rf, self.d_rf, strict=True)]
        self._layout()

    def _layout(self) -> None:
        """Every mac's receptive fields and weights as slices of flat arrays (``hierarchy_frame``'s arguments);
        each mac's Wu, Wh, Wd and weight counter become views into them."""
        macs = [(lv, m, mac) for lv, level_macs in enumerate(self.macs) for m, mac in enumerate(level_macs)]
        bits = np.cumsum([0] + [len(level_macs) * lv.q * lv.k for level_macs, lv in zip(self.macs, self.levels,
                                                                                        strict=True)])
        first = np.cumsum([0] + [len(level_macs) for level_macs in self.macs])
        self._levels = np.array([(bits[lv], level.q, level.k, level.min_active,
                                  -1 if level.max_active is None else level.max_active, first[lv])
                                 for lv, level in enumerate(self.levels)] + [(bits[-1], 0, 0, 0, 0, first[-1])],
                                np.int64)
        self._bit_ranges = list(zip(bits[:-1], bits[1:], strict=True))
        fields = {"u": self.u_rf, "h": self.h_rf, "d": self.d_rf}
        starts = {name: np.cumsum([0] + [len(rfs[lv][m]) for lv, m, _ in macs]) for name, rfs in fields.items()}
        sizes = [(mac.Wu.size, mac.Wh.size, mac.Wd.size) for _, _, mac in macs]
        w_start = np.cumsum([0] + [sum(size) for size in sizes])
        self._weights = np.zeros(w_start[-1], np.uint8)
        self._set_weights = np.zeros(len(macs), np.int64)
        layout = []
        for g, ((lv, _, mac), (nu, nh, _)) in enumerate(zip(macs, sizes, strict=True)):
            wu, wh, wd, w1 = w_start[g], w_start[g] + nu, w_start[g] + nu + nh, w_start[g + 1]
            cells = mac.cells
            mac.Wu = self._weights[wu:wh].reshape(-1, cells)
            mac.Wh = self._weights[wh:wd].reshape(-1, cells)
            mac.Wd = self._weights[wd:w1].reshape(-1, cells)
            mac.set_weights = self._set_weights[g:g + 1]  # a view: the compiled frame counts into it
            layout.append((lv, *(x for name in fields for x in (starts[name][g], starts[name][g + 1])),
                           wu, wh, wd, w1))
        self._layout_rows = np.array(layout, np.int64)
        self._rf = [np.concatenate([np.zeros(0, np.int64)] + [np.asarray(rfs[lv][m], np.int64) for lv, m, _ in macs])
                    for rfs in fields.values()]
        self._limits = np.array([self.rule.freeze_at * mac.n_weights for _, _, mac in macs])
        self._previous, self._now = np.zeros(bits[-1], np.uint8), np.zeros(bits[-1], np.uint8)
        self._familiarity = np.empty(len(macs))

    def _top_down(self, lv: int) -> list[np.ndarray]:
        """Per mac of level ``lv``: the cells of the level-above macs whose U RF includes it."""
        level = self.levels[lv]
        cells = level.q * level.k
        n_macs = len(self.u_rf[lv])
        if not level.top_down or lv + 1 == len(self.levels):
            return [np.zeros(0, np.int64) for _ in range(n_macs)]
        above = self.levels[lv + 1]
        above_cells = above.q * above.k
        sees = [set((rf // cells).tolist()) for rf in self.u_rf[lv + 1]]  # level-lv macs each above mac sees
        return [np.concatenate([np.zeros(0, np.int64)] + [np.arange(a * above_cells, (a + 1) * above_cells)
                                                          for a, seen in enumerate(sees) if m in seen])
                for m in range(n_macs)]

    def reset(self) -> None:
        """Forget the previous frame (start of a new sequence)."""
        self._previous[:] = 0

    def frame(self, image: np.ndarray, learn: bool, sample: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Code one binary image bottom-up (one compiled call, ``hierarchy_frame``). Returns each level's bit
        vector (concatenated mac codes; all zero for macs the gate left out) and each level's familiarity G per
        mac (NaN when not coding). A mac whose U input is empty but whose H input is not codes from H alone
        (sequence recall)."""
        self._module.hierarchy_frame(np.asarray(image, bool).ravel().astype(np.uint8), self._layout_rows,
                                     *self._rf, self._weights, self._set_weights, self._limits, self._levels,
                                     self._previous, self._now, self._familiarity, self._context, learn, sample)
        self._previous, self._now = self._now, self._previous
        first = self._levels[:, 5]
        return ([self._previous[a:b].copy() for a, b in self._bit_ranges],
                [self._familiarity[first[lv]:first[lv + 1]].copy() for lv in range(len(self.levels))])
