import pytest

from biosim.units import UnitError, display_unit, format_quantity, from_text, parse_quantity


@pytest.mark.parametrize(("text", "dimension", "value"), [
    ("20 ms", "time", 20e-3), ("-60 mV", "voltage", -60e-3), ("6nS", "conductance", 6e-9),
    ("250 pF", "capacitance", 250e-12), ("15 Hz", "frequency", 15.0), ("1.5e-3 s", "time", 1.5e-3),
    ("80.5 pA", "current", 80.5e-12), (0.02, "time", 0.02), ("0.6", "dimensionless", 0.6), ("0", "voltage", 0.0),
    # compound units, powers, ratios
    ("0.02 /ms", "frequency", 20.0), ("2 ms^-1", "frequency", 2000.0), ("2 ms**-1", "frequency", 2000.0),
    ("3 1/s", "frequency", 3.0), ("1 mV/ms", "voltage/time", 1.0), ("2 nS*mV", "conductance*voltage", 2e-12),
    ("5 * ms", "time", 5e-3),
    # minutes, hours, ohms, micro written two ways, giga
    ("2 min", "time", 120.0), ("1.5 h", "time", 5400.0), ("50 Ω", "resistance", 50.0),
    ("2 kΩ", "resistance", 2e3), ("100 MΩ", "resistance", 1e8), ("100 Mohm", "resistance", 1e8),
    ("3 µS", "conductance", 3e-6), ("3 uS", "conductance", 3e-6), ("1 GHz", "frequency", 1e9),
    ("2 Gohm", "resistance", 2e9),
])
def test_parse(text, dimension, value):
    assert parse_quantity(text, dimension) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(("text", "dimension", "fragment"), [
    ("20 mV", "time", "'20 mV' is a voltage but a time is expected (e.g. '20 ms')"),
    ("1 mV/ms", "voltage", "is a quantity in V s^-1 but a voltage is expected (e.g. '1 mV')"),
    ("0.02 /ms", "time", "is a frequency but a time is expected (e.g. '0.02 ms')"),
    ("3 kΩ", "conductance", "is a resistance but a conductance is expected (e.g. '3 nS')"),
    ("2 min", "frequency", "is a time but a frequency is expected (e.g. '2 Hz')"),
    ("20 parsecs", "time", "unknown unit 'parsecs'"),
    ("20 ms^x", "time", "cannot read unit"),
    ("fast", "time", "cannot read 'fast' as a time"),
    ("3", "time", "3 has no unit; write one, e.g. '3 s' if SI was meant"),
    (True, "time", "expected a time"),
    (None, "voltage", "expected a voltage"),
])
def test_errors_name_the_problem_and_the_unit_expected(text, dimension, fragment):
    with pytest.raises(UnitError) as info:
        parse_quantity(text, dimension)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("value", "dimension", "unit"), [
    (20, "time", "s"), (-55, "voltage", "V"), (1e-4, "time", "s"), (0.5, "conductance", "S"),
    (2, "voltage/time", "V*s^-1"), (10, "frequency", "Hz"), (3, "resistance", "ohm"),
])
def test_a_bare_number_from_text_is_refused_offering_its_si_reading(value, dimension, unit):
    """The hint is the SI unit (what the number means in Python), never a display unit 1000x off."""
    assert parse_quantity(value, dimension) == value, "in Python a bare number is SI"
    with pytest.raises(UnitError) as info:
        parse_quantity(from_text(value), dimension)
    assert str(info.value) == f"{value:g} has no unit; write one, e.g. '{value:g} {unit}' if SI was meant"
    assert parse_quantity(f"{value:g} {unit}", dimension) == pytest.approx(value), "the hint, copied, is the SI value"


def test_zero_and_dimensionless_numbers_from_text_are_accepted():
    assert parse_quantity(from_text(0), "voltage") == 0.0
    assert parse_quantity(from_text(0.0), "time") == 0.0
    assert parse_quantity(from_text(0.6), "dimensionless") == 0.6
    assert from_text(True) is True and from_text("x") == "x"


def test_text_without_a_unit_reads_alike_in_every_notation():
    """YAML reads 1e-4 as text and 0.0001 as a number: both are refused with the same message."""
    messages = set()
    for value in ("1e-4", from_text(0.0001), "0.0001", from_text(1e-4)):
        with pytest.raises(UnitError) as info:
            parse_quantity(value, "time")
        messages.add(str(info.value))
    assert messages == {"0.0001 has no unit; write one, e.g. '0.0001 s' if SI was meant"}


def test_brian2_quantities_are_accepted_and_checked():
    brian2 = pytest.importorskip("brian2")
    assert parse_quantity(20 * brian2.ms, "time") == pytest.approx(0.02)
    assert parse_quantity(3 * brian2.nS, "conductance") == pytest.approx(3e-9)
    assert parse_quantity(5 * brian2.mV / brian2.ms, "voltage/time") == pytest.approx(5.0)
    with pytest.raises(UnitError, match="is a voltage but a time is expected"):
        parse_quantity(3 * brian2.mV, "time")


def test_format_round_trip():
    assert format_quantity(0.02, "time") == "20 ms"
    assert parse_quantity(format_quantity(-0.0494, "voltage"), "voltage") == pytest.approx(-0.0494)
    assert format_quantity(1e8, "resistance") == "100 Mohm"
    assert display_unit("voltage/time") == "mV/ms"
    assert parse_quantity(format_quantity(2.5, "voltage/time"), "voltage/time") == pytest.approx(2.5)


def test_plot_axes_use_the_display_units():
    """One table: the axis unit of every dimension is its display unit, and its factor converts SI into it."""
    from biosim.plotting import UNITS
    from biosim.units import DISPLAY_UNITS

    assert set(UNITS) == set(DISPLAY_UNITS)
    for dimension, (factor, label) in UNITS.items():
        unit = display_unit(dimension)
        assert label == (unit or "dimensionless")
        assert factor * parse_quantity(f"1 {unit}", dimension) == pytest.approx(1.0, rel=1e-15)
