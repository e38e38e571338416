"""Physical quantities in configs: parse ``"20 ms"`` into SI floats and check the dimension.

biosim works in SI units internally (s, V, A, S, F, Hz). A table-driven parser keeps CLI start-up
fast (importing Brian2's unit system alone costs about 0.9 s); the Brian2 backend converts back.
"""

from __future__ import annotations

import re

#: base unit symbol -> dimension name
BASE_UNITS: dict[str, str] = {
    "s": "time",
    "Hz": "frequency",
    "V": "voltage",
    "A": "current",
    "S": "conductance",
    "F": "capacitance",
    "ohm": "resistance",
}
PREFIXES: dict[str, float] = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6}
#: unit used to display each dimension in listings and plots
DISPLAY_UNITS: dict[str, str] = {
    "time": "ms",
    "frequency": "Hz",
    "voltage": "mV",
    "current": "pA",
    "conductance": "nS",
    "capacitance": "pF",
    "resistance": "Mohm",
    "dimensionless": "",
}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\*?\s*([A-Za-zµ]*)\s*$")


class UnitError(ValueError):
    """A quantity whose text or dimension is wrong."""


def unit_scale(unit: str) -> tuple[float, str]:
    """Scale to SI and dimension of a unit symbol such as ``"mV"`` (``""`` is dimensionless)."""
    if unit == "":
        return 1.0, "dimensionless"
    for base, dimension in BASE_UNITS.items():
        if unit.endswith(base) and unit[: -len(base)] in PREFIXES:
            return PREFIXES[unit[: -len(base)]], dimension
    raise UnitError(f"unknown unit {unit!r}; use an SI unit with an optional prefix, e.g. ms, mV, nS, pA, Hz")


def parse_quantity(value: object, dimension: str) -> float:
    """Convert ``value`` (a number in SI, or text like ``"20 ms"``) to an SI float of ``dimension``."""
    if isinstance(value, bool):
        raise UnitError(f"expected a {dimension} quantity, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise UnitError(f"expected a {dimension} quantity, got {value!r}")
    match = _QUANTITY.match(value)
    if match is None:
        raise UnitError(f"cannot read {value!r} as a quantity; write a number and a unit, e.g. '20 ms'")
    number, unit = float(match.group(1)), match.group(2)
    scale, found = unit_scale(unit)
    if found != dimension and not (unit == "" and dimension != "dimensionless" and number == 0.0):
        expected = DISPLAY_UNITS.get(dimension, dimension)
        raise UnitError(f"{value!r} is a {found} but a {dimension} is expected (e.g. {expected!r})")
    return number * scale


def format_quantity(value: float, dimension: str) -> str:
    """Render an SI value in the display unit of its dimension, e.g. ``0.02 -> '20 ms'``."""
    unit = DISPLAY_UNITS.get(dimension, "")
    scale = unit_scale(unit)[0] if unit else 1.0
    text = f"{value / scale:.6g}"
    return f"{text} {unit}".strip()
