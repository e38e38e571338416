"""Sequences of sparse distributed representations for sequence-memory experiments."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from biosim.params import Params
from biosim.registry import register


class SequenceData(Params):
    """Base of SDR-sequence datasets: ``sequences(rng)`` returns a list of sequences, each a list of
    sorted active-column arrays."""

    kind: ClassVar[str] = "sdr_sequences"
    columns: int = Field(2048, gt=0, description="input width (columns)")
    active: int = Field(50, gt=0, description="active columns per element")

    def sequences(self, rng: np.random.Generator) -> list[list[np.ndarray]]:
        raise NotImplementedError

    def _sdr(self, rng: np.random.Generator) -> np.ndarray:
        return np.sort(rng.choice(self.columns, self.active, replace=False)).astype(np.int32)


@register("dataset", "random_sequences")
class RandomSequences(SequenceData):
    """Random SDR sequences: ``count`` sequences, each of ``length`` independent random SDRs (htm.core's TM test
    workload)."""

    count: int = Field(20, gt=0, description="number of sequences")
    length: int = Field(50, gt=0, description="elements per sequence")

    @model_validator(mode="after")
    def _fits(self):
        if self.active > self.columns:
            raise ValueError(f"active = {self.active} exceeds columns = {self.columns}")
        return self

    def sequences(self, rng):
        return [[self._sdr(rng) for _ in range(self.length)] for _ in range(self.count)]
