"""Temporal memory (Hawkins & Ahmad 2016; htm.core's algorithm) on dendritic SDR neurons.

Columns of cells; each step receives the active columns. Cells in an active column that were
predicted (had an active distal segment) become active and are the winners; an active column
without a prediction bursts (all its cells active) and picks a winner: the cell of its best matching
segment, else its least-used cell (random tie-break). Learning, on the winners' segments, is a
plug-in ``dendritic_segments`` rule. Then the distal segments are evaluated against the new active
cells, which gives the predictions for the next step. The anomaly of a step is the fraction of its
active columns that were not predicted.

All steps of a run go through one compiled call (``tm_steps``), generated with the configured rule's
kernels (``rule.implementation("numba")``) bound in, and cached; Python only grows the segment store between
calls. Every random draw (tie-breaks, synapse sampling) comes from the memory's own ``np.random.Generator``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from pydantic import Field, ValidationInfo, field_validator

from biosim.engine.codegen import bind_kernels
from biosim.networks.dendritic import segments as dendritic
from biosim.networks.dendritic.learning import permanence_learn as rule_learn  # rebound to the configured rule's
from biosim.networks.dendritic.learning import permanence_punish as rule_punish  # kernels in the generated module
from biosim.networks.dendritic.segments import NONE, compute_activity, create_segment
from biosim.networks.dendritic.target import SegmentRuleKernels
from biosim.params import Params
from biosim.rules.dendritic_segments import SegmentRule
from biosim.streams import randint


class TemporalMemoryParams(Params):
    """The neurons and their segments (htm.core's defaults); learning is the rule's business."""

    columns: int = Field(2048, gt=0, description="number of minicolumns")
    cells_per_column: int = Field(32, gt=0, description="cells per minicolumn")
    activation_threshold: int = Field(13, gt=0, description="connected active synapses that make a segment active")
    min_threshold: int = Field(10, gt=0, description="active synapses (any permanence) that make a segment match")
    connected_permanence: float = Field(0.5, gt=0, le=1, description="permanence from which a synapse conducts")
    max_segments_per_cell: int = Field(255, gt=0, description="least recently used segments give way beyond")
    max_synapses_per_segment: int = Field(255, gt=0, description="weakest synapses give way beyond")

    @field_validator("min_threshold")
    @classmethod
    def _matching_below_active(cls, value: int, info: ValidationInfo) -> int:
        active = info.data.get("activation_threshold")
        if active is not None and value > active:
            raise ValueError(f"min_threshold = {value} must lie in [1, activation_threshold = {active}] (a matching "
                             "segment needs fewer active synapses than an active one)")
        return value

    @field_validator("max_synapses_per_segment")
    @classmethod
    def _room_to_become_active(cls, value: int, info: ValidationInfo) -> int:
        active = info.data.get("activation_threshold")
        if active is not None and active > value:
            raise ValueError(f"activation_threshold = {active} must lie in [1, max_synapses_per_segment = {value}]: "
                             "no segment could become active")
        return value


def check_rule(params: TemporalMemoryParams, rule: SegmentRule) -> None:
    """The rule grows enough synapses for a new segment to match; ValueError (about ``max_new_synapses``) if not."""
    if 0 < rule.max_new_synapses < params.min_threshold:
        raise ValueError(f"max_new_synapses = {rule.max_new_synapses} must be 0 (no learning) or lie in "
                         f"[min_threshold = {params.min_threshold}, {params.max_synapses_per_segment}]: a new "
                         "segment could never match, so it would never learn")


class TMConstants(NamedTuple):
    """``TemporalMemoryParams`` as ``tm_steps`` reads them, with the rule's growth per step."""

    cells_per_column: int
    activation_threshold: int
    min_threshold: int
    connected: float
    max_segments: int
    max_synapses: int
    max_growth: int  # the most synapses one segment gains in one step (room kept in the store)


# counters in TMState.counts
N_ACTIVE, N_WINNERS, N_ACTIVE_SEGMENTS, N_TOUCHED, N_PREDICTED_COLS = range(5)
PREDICTED_ACTIVE = 2  # col_active value of an active column with a correctly predicted cell


class TMState(NamedTuple):
    active: np.ndarray  # int32[cols * cpc]: active cells (first counts[N_ACTIVE])
    winners: np.ndarray  # int32[cols]: winner cells
    prev_winners: np.ndarray  # int32[cols]
    prev_active: np.ndarray  # uint8[cells]: mask of the previous step's active cells
    prev_list: np.ndarray  # int32[cells]: the same cells as a list
    col_active: np.ndarray  # uint8[cols]: scratch, this step's active columns
    col_best: np.ndarray  # int32[cols]: scratch, best matching segment per column
    predicted_cols: np.ndarray  # int32[cols]: columns with a predictive cell (first counts[N_PREDICTED_COLS])
    col_predicted: np.ndarray  # uint8[cols]: mask of the same
    cell_mark: np.ndarray  # uint8[cells]: scratch
    scratch: np.ndarray  # uint8[cells]: scratch for synapse growth
    n_connected: np.ndarray  # int32[S]: connected active synapses per segment
    n_potential: np.ndarray  # int32[S]: active synapses per segment
    touched: np.ndarray  # int32[S]: segments with active synapses (first counts[N_TOUCHED])
    counts: np.ndarray  # int64[5]


def new_state(cells: int, columns: int, segments: int) -> TMState:
    return TMState(
        active=np.zeros(cells, np.int32), winners=np.zeros(columns, np.int32),
        prev_winners=np.zeros(columns, np.int32), prev_active=np.zeros(cells, np.uint8),
        prev_list=np.zeros(cells, np.int32),
        col_active=np.zeros(columns, np.uint8), col_best=np.full(columns, NONE, np.int32),
        predicted_cols=np.zeros(columns, np.int32), col_predicted=np.zeros(columns, np.uint8),
        cell_mark=np.zeros(cells, np.uint8), scratch=np.zeros(cells, np.uint8),
        n_connected=np.zeros(segments, np.int32), n_potential=np.zeros(segments, np.int32),
        touched=np.full(segments, NONE, np.int32), counts=np.zeros(5, np.int64))


@njit(cache=True)
def reset_state(tm):
    """Forget the sequence context: no active or winner cells, no predictions."""
    for k in range(tm.counts[N_PREDICTED_COLS]):
        tm.col_predicted[tm.predicted_cols[k]] = 0
    for k in range(tm.counts[N_TOUCHED]):
        tm.n_connected[tm.touched[k]] = 0
        tm.n_potential[tm.touched[k]] = 0
    tm.touched[0] = NONE
    tm.counts[:] = 0


@njit(cache=True)
def least_used_cell(st, column, cpc, rng):
    """The cell of ``column`` with the fewest segments; ties broken uniformly at random (``rng``, one draw)."""
    first, fewest, ties = column * cpc, 1 << 30, 0
    for cell in range(first, first + cpc):
        count = st.cell_count[cell]
        if count < fewest:
            fewest, ties = count, 1
        elif count == fewest:
            ties += 1
    pick = randint(rng, ties)
    for cell in range(first, first + cpc):
        if st.cell_count[cell] == fewest:
            if pick == 0:
                return cell
            pick -= 1
    return NONE


def tm_steps(st, tm, columns, offsets, resets, first, last, learn, p, rule_p, anomaly, precision, rng):
    """Run steps ``first..last-1``: step k's active columns are ``columns[offsets[k]:offsets[k+1]]``
    (sorted), preceded by a reset where ``resets[k]``; ``p`` is a ``TMConstants``, ``rule_p`` the rule's
    parameter record, ``rng`` the memory's generator. Writes each step's anomaly and prediction precision;
    returns the step reached (earlier than ``last`` when the store needs room)."""
    cpc, act_th, min_th = p.cells_per_column, p.activation_threshold, p.min_threshold
    connected, max_segments, max_synapses, max_growth = p.connected, p.max_segments, p.max_synapses, p.max_growth
    counts = tm.counts
    for step in range(first, last):
        cols = columns[offsets[step]:offsets[step + 1]]
        growth = (cols.shape[0] + counts[N_ACTIVE_SEGMENTS]) * max_growth  # new synapses this step, at most
        pool_room = st.pool_syn.shape[0] - st.free[dendritic.POOL_TOP]
        if (st.free[dendritic.N_FREE_SEG] < cols.shape[0] or st.free[dendritic.N_FREE_SYN] < growth
                or pool_room < growth * (2 * st.free[dendritic.LONGEST] + dendritic.MIN_BLOCK)):
            return step
        if resets[step]:
            reset_state(tm)
        st.free[dendritic.CLOCK] += 1
        # -- predictions made by the previous step: anomaly and precision ---------------------------
        hit = 0
        for c in cols:
            tm.col_active[c] = 1
            hit += tm.col_predicted[c]
        anomaly[step] = 1.0 - hit / cols.shape[0] if cols.shape[0] else 0.0
        precision[step] = hit / counts[N_PREDICTED_COLS] if counts[N_PREDICTED_COLS] else math.nan
        # -- the previous step's cells become the context --------------------------------------------
        n_prev = counts[N_ACTIVE]
        tm.prev_list[:n_prev] = tm.active[:n_prev]
        for k in range(n_prev):
            tm.prev_active[tm.prev_list[k]] = 1
        n_prev_winners = counts[N_WINNERS]
        tm.prev_winners[:n_prev_winners] = tm.winners[:n_prev_winners]
        n_active, n_winners = 0, 0
        # -- predicted cells in active columns: activate and learn; best matching segment per column --
        for k in range(counts[N_TOUCHED]):
            seg = tm.touched[k]
            cell = st.seg_cell[seg]
            if cell == NONE:
                continue
            col = cell // cpc
            if tm.n_connected[seg] >= act_th and tm.col_active[col]:
                tm.col_active[col] = PREDICTED_ACTIVE
                if not tm.cell_mark[cell]:
                    tm.cell_mark[cell] = 1
                    tm.active[n_active] = cell
                    tm.winners[n_winners] = cell
                    n_active += 1
                    n_winners += 1
                if learn:
                    rule_learn(st, seg, tm.prev_active, tm.prev_winners, n_prev_winners, tm.n_potential[seg],
                               rule_p, max_synapses, tm.scratch, rng)
            elif tm.n_potential[seg] >= min_th:
                if tm.col_active[col]:
                    best = tm.col_best[col]
                    if best == NONE or tm.n_potential[seg] > tm.n_potential[best]:
                        tm.col_best[col] = seg
                elif learn and tm.col_predicted[col]:
                    rule_punish(st, seg, tm.prev_active, rule_p)
        # -- unpredicted active columns burst --------------------------------------------------------
        for c in cols:
            if tm.col_active[c] == PREDICTED_ACTIVE:
                continue
            for cell in range(c * cpc, (c + 1) * cpc):
                tm.active[n_active] = cell
                n_active += 1
            best = tm.col_best[c]
            winner = st.seg_cell[best] if best != NONE else least_used_cell(st, c, cpc, rng)
            tm.winners[n_winners] = winner
            n_winners += 1
            if not learn:
                continue
            if best != NONE:
                rule_learn(st, best, tm.prev_active, tm.prev_winners, n_prev_winners, tm.n_potential[best],
                           rule_p, max_synapses, tm.scratch, rng)
            elif n_prev_winners > 0:
                seg = create_segment(st, winner, max_segments)
                rule_learn(st, seg, tm.prev_active, tm.prev_winners, n_prev_winners, 0, rule_p, max_synapses,
                           tm.scratch, rng)
        # -- clear this step's scratch ---------------------------------------------------------------
        for c in cols:
            tm.col_active[c] = 0
            tm.col_best[c] = NONE
        for k in range(n_active):
            tm.cell_mark[tm.active[k]] = 0
        for k in range(n_prev):
            tm.prev_active[tm.prev_list[k]] = 0
        for k in range(counts[N_PREDICTED_COLS]):
            tm.col_predicted[tm.predicted_cols[k]] = 0
        # -- distal segments against the new active cells: predictions for the next step --------------
        counts[N_ACTIVE], counts[N_WINNERS] = n_active, n_winners
        n_touched = compute_activity(st, tm.active[:n_active], connected, tm.n_connected, tm.n_potential, tm.touched)
        n_predicted, n_active_segments = 0, 0
        for k in range(n_touched):
            seg = tm.touched[k]
            if tm.n_connected[seg] >= act_th:
                n_active_segments += 1
                st.seg_used[seg] = st.free[dendritic.CLOCK]
                col = st.seg_cell[seg] // cpc
                if not tm.col_predicted[col]:
                    tm.col_predicted[col] = 1
                    tm.predicted_cols[n_predicted] = col
                    n_predicted += 1
        counts[N_TOUCHED], counts[N_PREDICTED_COLS] = n_touched, n_predicted
        counts[N_ACTIVE_SEGMENTS] = n_active_segments
    return last


# -- Python side: compile with the rule's kernels, grow storage between compiled calls ------------------
def _compile(kernels: SegmentRuleKernels):
    """``tm_steps`` compiled with a rule's kernels in place of ``rule_learn`` / ``rule_punish``."""
    return bind_kernels([tm_steps], {"rule_learn": kernels.learn, "rule_punish": kernels.punish},
                        "temporal_memory").tm_steps


class TemporalMemory:
    """A temporal memory of ``params.columns`` x ``params.cells_per_column`` dendritic neurons, drawing
    from its own generator ``rng`` (e.g. ``biosim.streams.stream(seed, "temporal_memory")``).

    >>> from biosim.rules.dendritic_segments import HTMPermanence
    >>> from biosim.streams import stream
    >>> tm = TemporalMemory(TemporalMemoryParams(columns=64, cells_per_column=4), HTMPermanence(),
    ...                     stream(1, "temporal_memory"))
    >>> anomaly, precision = tm.run([np.array([1, 5, 9])] * 3)
    """

    def __init__(self, params: TemporalMemoryParams, rule: SegmentRule, rng: np.random.Generator):
        check_rule(params, rule)
        self.params, self.rule, self.rng = params, rule, rng
        cells = params.columns * params.cells_per_column
        self.store = dendritic.empty(cells)
        self.state = new_state(cells, params.columns, self.store.seg_cell.size)
        kernels = rule.implementation("numba")
        self._steps = _compile(kernels)
        self._p = TMConstants(params.cells_per_column, params.activation_threshold, params.min_threshold,
                              float(params.connected_permanence), params.max_segments_per_cell,
                              params.max_synapses_per_segment, rule.max_growth())
        self._rule_p = kernels.params

    def run(self, inputs: list[np.ndarray], resets: np.ndarray | None = None, learn: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
        """Feed a list of active-column arrays, one per step (a reset before step k where ``resets[k]``).
        Returns per-step anomaly (fraction of active columns not predicted) and precision (fraction of
        predicted columns that became active; NaN when nothing was predicted)."""
        sorted_inputs = [np.unique(np.asarray(cols, np.int32)) for cols in inputs]
        for cols in sorted_inputs:
            if cols.size and (cols[0] < 0 or cols[-1] >= self.params.columns):
                raise ValueError(f"active columns must lie in [0, {self.params.columns}); got {cols[0]}..{cols[-1]}")
        offsets = np.zeros(len(inputs) + 1, np.int64)
        offsets[1:] = np.cumsum([cols.size for cols in sorted_inputs])
        flat = np.concatenate(sorted_inputs) if sorted_inputs else np.zeros(0, np.int32)
        resets = np.zeros(len(inputs), np.bool_) if resets is None else np.asarray(resets, np.bool_)
        anomaly, precision = np.zeros(len(inputs)), np.zeros(len(inputs))
        step = 0
        while step < len(inputs):
            step = self._steps(self.store, self.state, flat, offsets, resets, step, len(inputs), learn, self._p,
                               self._rule_p, anomaly, precision, self.rng)
            if step < len(inputs):
                self._make_room(int(offsets[step + 1] - offsets[step]))
        return anomaly, precision

    def reset(self) -> None:
        reset_state(self.state)

    def _make_room(self, n_columns: int) -> None:
        learners = n_columns + int(self.state.counts[N_ACTIVE_SEGMENTS])
        self.store = dendritic.grow(self.store, n_columns, learners * self._p.max_growth)
        size, old = self.store.seg_cell.size, self.state
        if size > old.n_connected.size:
            pad = size - old.n_connected.size
            self.state = old._replace(
                n_connected=np.concatenate([old.n_connected, np.zeros(pad, np.int32)]),
                n_potential=np.concatenate([old.n_potential, np.zeros(pad, np.int32)]),
                touched=np.concatenate([old.touched, np.full(pad, NONE, np.int32)]))

    @property
    def active_cells(self) -> np.ndarray:
        return np.sort(self.state.active[:self.state.counts[N_ACTIVE]])

    @property
    def winner_cells(self) -> np.ndarray:
        return np.sort(self.state.winners[:self.state.counts[N_WINNERS]])

    @property
    def predicted_columns(self) -> np.ndarray:
        return np.sort(self.state.predicted_cols[:self.state.counts[N_PREDICTED_COLS]])

    @property
    def n_segments(self) -> int:
        return int(self.store.seg_cell.size - self.store.free[dendritic.N_FREE_SEG])

    @property
    def n_synapses(self) -> int:
        return int(self.store.syn_seg.size - self.store.free[dendritic.N_FREE_SYN])
