"""Validated, unit-aware parameter objects (neuron models, rules, connectors).

A field annotated ``Time`` (= ``Quantity["time"]``) accepts an SI float or text such as ``"20 ms"`` and stores SI.
``Weight`` takes the dimension of the synaptic variable it acts on, passed as validation context.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from biosim.units import UnitError, format_quantity, parse_quantity


@dataclass(frozen=True)
class Unit:
    """Field metadata: the physical dimension of a parameter."""

    dimension: str


def _quantity_validator(dimension: str):
    def validate(value: Any) -> float:
        try:
            return parse_quantity(value, dimension)
        except UnitError as err:
            raise ValueError(str(err)) from None

    return validate


def _weight_validator(value: Any, info: ValidationInfo) -> float:
    dimension = (info.context or {}).get("weight_dimension")
    if dimension is None:
        if isinstance(value, str):
            raise ValueError("a weight with a unit needs the projection's target; give an SI number")
        return float(value)
    try:
        return parse_quantity(value, dimension)
    except UnitError as err:
        raise ValueError(str(err)) from None


class _QuantityFactory:
    def __getitem__(self, dimension: str) -> Any:
        return Annotated[float, BeforeValidator(_quantity_validator(dimension)), Unit(dimension)]


Quantity = _QuantityFactory()
Time = Quantity["time"]
Voltage = Quantity["voltage"]
Current = Quantity["current"]
Conductance = Quantity["conductance"]
Capacitance = Quantity["capacitance"]
Frequency = Quantity["frequency"]
Weight = Annotated[float, BeforeValidator(_weight_validator), Unit("weight")]


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
