"""Explicit random streams of the binary-SDR families: a temporal memory, a Sparsey mac and the Monte-Carlo
kernels draw only from the generator they are given, so two of them advanced alternately in one process, or in
two threads at once, give exactly what each gives alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numba import njit

from biosim.networks.dendritic import montecarlo as mc
from biosim.networks.sparsey.hierarchy import Hierarchy, LevelConfig
from biosim.networks.sparsey.mac import MacParams, SingleMac
from biosim.networks.temporal_memory.model import TemporalMemory, TemporalMemoryParams
from biosim.rules.dendritic_segments import HTMPermanence
from biosim.rules.sparsey_mac import BinaryHebbian, SubsampledHebbian
from biosim.streams import stream

SMALL = TemporalMemoryParams(columns=256, cells_per_column=8, activation_threshold=6, min_threshold=4)
RNG = np.random.default_rng(6)
SEQUENCES = [[np.sort(RNG.choice(256, 10, replace=False)) for _ in range(10)] for _ in range(3)]
TM_CHUNKS = [[sdr for seq in SEQUENCES for sdr in seq]] * 4  # 4 learning passes over 3 sequences, 30 steps each
ITEMS = [np.sort(RNG.choice(256, 16, replace=False)) for _ in range(60)]
MAC_CHUNKS = [ITEMS[k:k + 15] for k in range(0, 60, 15)]


class TMRun:
    """A temporal memory fed chunk by chunk; ``outcome`` is everything it computed and learned."""

    def __init__(self, seed: int):
        self.model = TemporalMemory(SMALL, HTMPermanence(max_new_synapses=8), stream(seed, "temporal_memory"))
        self.anomaly: list[np.ndarray] = []

    def advance(self, k: int) -> None:
        self.anomaly.append(self.model.run(TM_CHUNKS[k])[0])

    def outcome(self) -> list[np.ndarray]:
        return [np.concatenate(self.anomaly), self.model.winner_cells, *self.model.store]


class MacRun:
    """A Sparsey mac storing items chunk by chunk (subsampled learning: the rule draws too)."""

    def __init__(self, seed: int):
        self.model = SingleMac(MacParams(q=24, k=8), 256, SubsampledHebbian(fraction=0.7, freeze_at=1.0),
                               stream(seed, "mac"))
        self.codes: list[np.ndarray] = []

    def advance(self, k: int) -> None:
        self.codes.append(self.model.store(MAC_CHUNKS[k])[0])

    def outcome(self) -> list[np.ndarray]:
        return [np.concatenate(self.codes), self.model.mac.Wu]


def alone(kind, seed: int) -> list[np.ndarray]:
    run = kind(seed)
    for k in range(4):
        run.advance(k)
    return run.outcome()


def alternately(kind, seeds: tuple[int, int]) -> list[list[np.ndarray]]:
    runs = [kind(seed) for seed in seeds]
    for k in range(4):
        for run in runs:
            run.advance(k)
    return [run.outcome() for run in runs]


def in_threads(kind, seeds: tuple[int, int]) -> list[list[np.ndarray]]:
    runs = [kind(seed) for seed in seeds]
    start = threading.Barrier(len(runs))

    def work(run):
        start.wait()
        for k in range(4):
            run.advance(k)

    threads = [threading.Thread(target=work, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [run.outcome() for run in runs]


def identical(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
                                    for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("kind", [TMRun, MacRun])
def test_alternating_and_threaded_runs_give_what_each_gives_alone(kind):
    first, second = alone(kind, 1), alone(kind, 2)
    assert identical(alone(kind, 1), first)  # same seed: bit-identical
    assert not identical(first, second)  # the seed drives tie-breaks, synapse sampling, code sampling
    for pair in (alternately(kind, (1, 2)), in_threads(kind, (1, 2))):
        assert identical(pair[0], first) and identical(pair[1], second)


@njit
def _seed_global(value):
    np.random.seed(value)


@njit
def _draw_global():
    return np.random.random()


def test_models_neither_seed_nor_draw_from_numbas_global_generator():
    _seed_global(123)
    expected = _draw_global()
    _seed_global(123)
    alone(TMRun, 3)
    alone(MacRun, 3)
    model = Hierarchy((4, 4), [LevelConfig(q=4, k=3, grid=(2, 2), rf=1.0)], BinaryHebbian(), stream(3, "hierarchy"))
    model.frame(np.eye(4, dtype=bool), learn=True, sample=True)
    mc.false_negative_trials(stream(3, "montecarlo"), 200, 20, 10, 6, 8, 100)
    assert _draw_global() == expected


def test_montecarlo_counts_follow_the_stream():
    def hits(seed: int) -> int:
        return mc.false_match_trials(stream(seed, "montecarlo"), 60, 10, 8, 3, 20_000)  # about 4000 hits

    assert hits(3) == hits(3) != hits(4)
