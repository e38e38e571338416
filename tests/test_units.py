import pytest

from biosim.units import UnitError, format_quantity, parse_quantity


@pytest.mark.parametrize(("text", "dimension", "value"), [
    ("20 ms", "time", 20e-3), ("-60 mV", "voltage", -60e-3), ("6nS", "conductance", 6e-9),
    ("250 pF", "capacitance", 250e-12), ("15 Hz", "frequency", 15.0), ("1.5e-3 s", "time", 1.5e-3),
    ("80.5 pA", "current", 80.5e-12), (0.02, "time", 0.02), ("0.6", "dimensionless", 0.6), ("0", "voltage", 0.0),
])
def test_parse(text, dimension, value):
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(("text", "dimension", "fragment"), [
    ("20 mV", "time", "is a voltage but a time is expected"),
    ("20 parsecs", "time", "unknown unit"),
    ("fast", "time", "cannot read"),
    ("3", "time", "is a dimensionless but a time is expected"),
])
def test_errors_name_the_problem(text, dimension, fragment):
    with pytest.raises(UnitError, match=fragment):
        parse_quantity(text, dimension)


def test_format_round_trip():
    assert format_quantity(0.02, "time") == "20 ms"
    assert parse_quantity(format_quantity(-0.0494, "voltage"), "voltage") == pytest.approx(-0.0494)
