"""Physical quantities in configs: parse ``"20 ms"``, ``"0.02 /ms"`` or ``"1 mV/ms"`` into SI floats and check
the dimension.

biosim works in SI units internally (s, V, A, S, F, ohm, Hz). A table-driven parser keeps CLI start-up fast
(importing Brian2's unit system alone costs about 0.9 s); the Brian2 backend converts back. A unit is a product of
prefixed symbols with integer powers (``ms^-1``, ``s**-1``, ``mV/ms``, ``nS*mV``); a Brian2 quantity is accepted
as it is. In Python a bare number is taken as SI; a number read from text (an experiment file, the command line;
see :func:`from_text`) for a dimensioned quantity is refused unless it is 0, because ``tau_m: 20`` would silently
mean 20 s. Numbers remember where they came from, so values computed in Python (defaults, presets) stay SI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: exponents of the SI base units m, kg, s, A (Brian2's order for the first four)
Dim = tuple[int, int, int, int]
_TIME, _CURRENT = (0, 0, 1, 0), (0, 0, 0, 1)
_VOLTAGE = (2, 1, -3, -1)


def _mul(a: Dim, b: Dim, power: int = 1) -> Dim:
    return tuple(x + power * y for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


#: dimension name -> exponents
DIMENSIONS: dict[str, Dim] = {
    "dimensionless": (0, 0, 0, 0),
    "time": _TIME,
    "frequency": _mul((0, 0, 0, 0), _TIME, -1),
    "voltage": _VOLTAGE,
    "current": _CURRENT,
    "conductance": _mul(_CURRENT, _VOLTAGE, -1),
    "capacitance": _mul(_mul(_CURRENT, _TIME), _VOLTAGE, -1),
    "resistance": _mul(_VOLTAGE, _CURRENT, -1),
    "charge": _mul(_CURRENT, _TIME),
    "energy": _mul(_VOLTAGE, _mul(_CURRENT, _TIME)),
    "length": (1, 0, 0, 0),
    "mass": (0, 1, 0, 0),
}
#: unit symbol that takes a prefix -> dimension name
BASE_UNITS: dict[str, str] = {"s": "time", "Hz": "frequency", "V": "voltage", "A": "current", "S": "conductance",
                              "F": "capacitance", "ohm": "resistance", "Ω": "resistance", "C": "charge",
                              "J": "energy", "m": "length"}
#: unit symbols without prefixes -> (scale to SI, dimension name)
PLAIN_UNITS: dict[str, tuple[float, str]] = {"min": (60.0, "time"), "h": (3600.0, "time"), "day": (86400.0, "time"),
                                             "kg": (1.0, "mass"), "g": (1e-3, "mass")}
PREFIXES: dict[str, float] = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3, "c": 1e-2,
                              "": 1.0,
                              "k": 1e3, "M": 1e6, "G": 1e9}
#: unit used to display each dimension in listings, messages and plots
DISPLAY_UNITS: dict[str, str] = {
    "time": "ms",
    "frequency": "Hz",
    "voltage": "mV",
    "current": "pA",
    "conductance": "nS",
    "capacitance": "pF",
    "resistance": "Mohm",
    "charge": "pC",
    "energy": "pJ",
    "length": "um",
    "mass": "kg",
    "dimensionless": "",
}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(.*)$", re.S)
_FACTOR = re.compile(r"^([A-Za-zµμΩ]+)(?:(?:\^|\*\*)\(?([-+]?\d+)\)?)?$")


class UnitError(ValueError):
    """A quantity whose text or dimension is wrong."""


class TextFloat(float):
    """A float written in text (a YAML file, a command-line override): a bare one is not a quantity."""


class TextInt(int):
    """An integer written in text: a bare one is not a quantity."""


def from_text(number: Any) -> Any:
    """Mark a number read from text (YAML's int and float constructors call this); other values pass unchanged."""
    if isinstance(number, bool):
        return number
    if isinstance(number, int):
        return TextInt(number)
    return TextFloat(number) if isinstance(number, float) else number


def _symbol(symbol: str) -> tuple[float, Dim]:
    if symbol in PLAIN_UNITS:
        scale, name = PLAIN_UNITS[symbol]
        return scale, DIMENSIONS[name]
    for base, name in BASE_UNITS.items():
        if symbol.endswith(base) and symbol[: -len(base)] in PREFIXES:
            return PREFIXES[symbol[: -len(base)]], DIMENSIONS[name]
    raise UnitError(f"unknown unit {symbol!r}; use an SI unit with an optional prefix (p n u m k M G), e.g. ms, mV, "
                    f"nS, pA, Hz, Mohm (or MΩ), min, h; powers and ratios as ms^-1, /ms, mV/ms")


def _expression(text: str, lookup: Callable[[str], tuple[float, Dim]]) -> tuple[float, Dim]:
    """Scale and dimension of ``a*b^n/c`` (``/`` divides by the factor after it; spaces, ``*`` or ``·`` multiply)."""
    scale, dim = 1.0, DIMENSIONS["dimensionless"]
    tokens = re.findall(r"/|[^\s*·/]+", text.replace("**", "^"))
    divide = False
    for token in tokens:
        if token == "/":
            divide = True
            continue
        if token == "1":
            divide = False
            continue
        match = _FACTOR.match(token)
        if match is None:
            raise UnitError(f"cannot read unit {text.strip()!r}; write e.g. ms, mV/ms, ms^-1 or /ms")
        factor_scale, factor_dim = lookup(match.group(1))
        power = int(match.group(2) or 1) * (-1 if divide else 1)
        scale *= factor_scale ** power
        dim = _mul(dim, factor_dim, power)
        divide = False
    return scale, dim


def dimension_of(name: str) -> Dim:
    """Exponents of a dimension name such as ``"time"``, or a ratio or product of names (``"voltage/time"``)."""
    def lookup(word: str) -> tuple[float, Dim]:
        if word not in DIMENSIONS:
            raise UnitError(f"unknown dimension {word!r}; known: {', '.join(DIMENSIONS)}")
        return 1.0, DIMENSIONS[word]

    return DIMENSIONS[name] if name in DIMENSIONS else _expression(name, lookup)[1]


def unit_scale(unit: str) -> tuple[float, Dim]:
    """Scale to SI and dimension exponents of a unit such as ``"mV"``, ``"mV/ms"`` or ``"ms^-1"``."""
    return _expression(unit, _symbol)


def dimension_name(dim: Dim) -> str:
    """A name :func:`dimension_of` reads back: a known one (``"voltage"``) or a product of base dimensions
    (``"length^-2*current"``)."""
    for name, exponents in DIMENSIONS.items():
        if exponents == dim:
            return name
    bases = ("length", "mass", "time", "current")
    return "*".join(f"{base}^{power}" if power != 1 else base for base, power in zip(bases, dim, strict=True)
                    if power)


def quantity_with_dimension(value: object) -> tuple[float, Dim]:
    """An SI float and the dimension it carries: a number (dimensionless), text such as ``"20 ms"`` or
    ``"1 nS/um^2"``, or a Brian2 quantity."""
    if hasattr(value, "dim") and hasattr(value, "__float__"):
        return float(value), tuple(int(x) for x in tuple(value.dim._dims)[:4])  # type: ignore[attr-defined]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), DIMENSIONS["dimensionless"]
    match = _NUMBER.match(value) if isinstance(value, str) else None
    if match is None:
        raise UnitError(f"cannot read {value!r} as a quantity; write a number and a unit, e.g. '20 ms' or '1 nS'")
    unit = match.group(2).strip().lstrip("*").strip()
    scale, dim = unit_scale(unit) if unit else (1.0, DIMENSIONS["dimensionless"])
    return float(match.group(1)) * scale, dim


def display_unit(dimension: str) -> str:
    """The unit a dimension is shown in (``"voltage/time"`` -> ``"mV/ms"``)."""
    if dimension in DISPLAY_UNITS:
        return DISPLAY_UNITS[dimension]
    parts = re.split(r"(/|\*)", dimension)
    shown = "".join(part if part in "/*" else DISPLAY_UNITS.get(part.strip(), part.strip()) for part in parts)
    return "1" + shown if shown.startswith("/") else shown


def _dimension_name(dim: Dim) -> str:
    for name, exponents in DIMENSIONS.items():
        if exponents == dim:
            return "dimensionless number" if name == "dimensionless" else name
    metre, kilogram, second, ampere = dim
    if metre == 2 * kilogram:  # an electrical quantity: write it in V, A, s
        dim, bases = (kilogram, ampere + kilogram, second + 3 * kilogram), ("V", "A", "s")
    else:
        bases = ("m", "kg", "s", "A")
    symbols = [f"{base}^{power}" if power != 1 else base for base, power in zip(bases, dim, strict=True) if power]
    return "quantity in " + " ".join(symbols)


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def si_unit(dim: Dim) -> str:
    """The unprefixed SI unit of ``dim`` (``"s"``, ``"V/s"``), in which a bare number reads as it does in Python."""
    for symbol, name in {**BASE_UNITS, "": "dimensionless"}.items():
        if DIMENSIONS[name] == dim:
            return symbol
    return _dimension_name(dim).removeprefix("quantity in ").replace(" ", "*")


def _no_unit(number: float, want: Dim) -> UnitError:
    """A bare number from text: the unit is not guessed; the SI reading (what Python would take) is offered."""
    return UnitError(f"{number:g} has no unit; write one, e.g. '{number:g} {si_unit(want)}' if SI was meant")


def parse_quantity(value: object, dimension: str) -> float:
    """Convert ``value`` to an SI float of ``dimension``: a number (SI; from text only 0 or a dimensionless one),
    text such as ``"20 ms"`` or ``"0.02 /ms"``, or a Brian2 quantity."""
    want = dimension_of(dimension)
    expected = display_unit(dimension)
    name = _dimension_name(want)
    if isinstance(value, bool) or value is None:
        raise UnitError(f"expected {_article(name)}, e.g. '1 {expected}', got {value!r}".replace(" ''", ""))
    if hasattr(value, "dim") and hasattr(value, "__float__"):  # a Brian2 Quantity holds SI
        found = tuple(int(x) for x in tuple(value.dim._dims)[:4])
        if found != want or any(tuple(value.dim._dims)[4:]):
            raise UnitError(f"{value!s} is {_article(_dimension_name(found))} but {_article(name)} is expected "
                            f"(e.g. '1 {expected}')")
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
        if isinstance(value, TextFloat | TextInt) and number != 0.0 and want != DIMENSIONS["dimensionless"]:
            raise _no_unit(number, want)
        return number
    if not isinstance(value, str):
        raise UnitError(f"expected {_article(name)}, e.g. '1 {expected}', got {value!r}")
    match = _NUMBER.match(value)
    if match is None:
        raise UnitError(f"cannot read {value!r} as {_article(name)}; write a number and a unit, e.g. '20 {expected}'")
    number, unit = float(match.group(1)), match.group(2).strip().lstrip("*").strip()
    if unit == "":
        if number != 0.0 and want != DIMENSIONS["dimensionless"]:
            raise _no_unit(number, want)
        return number
    scale, found = unit_scale(unit)
    if found != want:
        raise UnitError(f"{value!r} is {_article(_dimension_name(found))} but {_article(name)} is expected "
                        f"(e.g. '{match.group(1)} {expected}')")
    return number * scale


def format_quantity(value: float, dimension: str, exact: bool = False) -> str:
    """Render an SI value in the display unit of its dimension, e.g. ``0.02 -> '20 ms'``: 6 significant digits,
    or with ``exact`` as many as :func:`parse_quantity` needs to read back the same float (saved configs), up to 15;
    beyond that the SI value as Python writes it (``8e-07 V``, not ``0.00079999999999999993 mV``)."""
    unit = display_unit(dimension)
    scale = unit_scale(unit)[0] if unit else 1.0
    for digits in (6, 12, 15) if exact else (6,):
        text = f"{f'{value / scale:.{digits}g}'} {unit}".strip()
        if not exact or parse_quantity(text, dimension) == value:
            return text
    return f"{value!r} {si_unit(dimension_of(dimension))}"  # SI itself reads back exactly
