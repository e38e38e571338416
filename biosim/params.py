"""Validated, unit-aware parameter objects (neuron models, rules, connectors, datasets).

A field annotated ``Time`` (= ``Quantity["time"]``) accepts an SI float (in Python), text such as ``"20 ms"`` or a
Brian2 quantity, and stores SI; read from an experiment file or the command line, a bare number is refused (see
:mod:`biosim.units`). ``Weight`` takes the dimension of the synaptic variable it acts on, passed as validation
context. ``DataPath`` is a file or folder named in an experiment: a relative path is resolved against the folder of
the file that names it (as ``extends:`` is), or against the working directory when it comes from the command line
or from Python.
"""

from __future__ import annotations

import math
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from biosim.units import UnitError, format_quantity, parse_quantity


@dataclass(frozen=True)
class Unit:
    """Field metadata: the physical dimension of a parameter."""

    dimension: str


WEIGHT_DIMENSIONS = ("voltage", "conductance", "current", "dimensionless")  # what a synaptic target can be


def si_number(value: Any, dimension: str) -> float:
    """A finite SI float of ``dimension`` (any NumPy number is a number); ValueError otherwise."""
    if isinstance(value, np.number) and not isinstance(value, np.bool_):
        value = value.item()
    try:
        number = parse_quantity(value, dimension)
    except UnitError as err:
        raise ValueError(str(err)) from None
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {number}")
    return number


def _quantity_validator(dimension: str):
    def validate(value: Any) -> float:
        return si_number(value, dimension)

    return validate


def _weight_validator(value: Any, info: ValidationInfo) -> float:
    """In the unit of the projection's target when it is known (validation context ``weight_dimension``);
    without it (a rule built in Python before ``connect``) text in any unit a synaptic target can have."""
    dimension = (info.context or {}).get("weight_dimension")
    if dimension is not None:
        return si_number(value, dimension)
    if isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_):
        return si_number(value, "dimensionless")
    for candidate in WEIGHT_DIMENSIONS:
        try:
            return si_number(value, candidate)
        except ValueError:
            continue
    raise ValueError(f"expected a weight: a number or text with the target's unit, e.g. '1 mV', '1 nS' or '1 pA'; "
                     f"got {value!r}")


class _QuantityFactory:
    def __getitem__(self, dimension: str) -> Any:
        return Annotated[float, BeforeValidator(_quantity_validator(dimension)), Unit(dimension)]


Quantity = _QuantityFactory()
Time = Quantity["time"]
Voltage = Quantity["voltage"]
Current = Quantity["current"]
Conductance = Quantity["conductance"]
Capacitance = Quantity["capacitance"]
Resistance = Quantity["resistance"]
Energy = Quantity["energy"]
Frequency = Quantity["frequency"]
Weight = Annotated[float, BeforeValidator(_weight_validator), Unit("weight")]


def positive(dimension: str) -> Any:
    """A quantity of ``dimension`` that must be > 0 (time constants, capacitances), refused with its unit."""
    def check(value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be greater than 0, got {format_quantity(value, dimension)}")
        return value

    return Annotated[Quantity[dimension], AfterValidator(check)]


PositiveTime = positive("time")
PositiveCapacitance = positive("capacitance")
PositiveConductance = positive("conductance")
PositiveVoltage = positive("voltage")


def _data_path_validator(value: Any, info: ValidationInfo) -> Any:
    """A relative path against the folder of whatever wrote it (``source.folder``), given ``source`` and ``loc``
    as validation context; unchanged without one (Python: the working directory)."""
    context = info.context or {}
    source = context.get("source")
    if source is None or not isinstance(value, str | Path) or Path(value).is_absolute() or info.field_name is None:
        return value
    return Path(os.path.normpath(source.folder((*context.get("loc", ()), info.field_name)) / Path(value)))


DataPath = Annotated[Path, BeforeValidator(_data_path_validator)]


class Params(BaseModel):
    """Base of every declarative, validated parameter object."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    registry_name: ClassVar[str] = ""

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(name, default with unit, description) for each parameter, for ``biosim rules``."""
        rows = []
        for name, field in cls.model_fields.items():
            unit = next((m for m in field.metadata if isinstance(m, Unit)), None)
            default = field.default
            if unit and isinstance(default, float) and unit.dimension != "weight":
                shown = format_quantity(default, unit.dimension)
            else:
                shown = "required" if field.is_required() else repr(default)
                if unit and unit.dimension == "weight" and not field.is_required():
                    shown += " (target's unit)"
            description = field.description or ""
            if typing.get_origin(field.annotation) is Literal:
                choices = ", ".join(map(str, typing.get_args(field.annotation)))
                description = f"{description}; one of: {choices}" if description else f"one of: {choices}"
            rows.append((name, shown, description))
        return rows
