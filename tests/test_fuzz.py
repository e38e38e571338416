"""Fuzzing the front door: mutations of every shipped experiment file and of the command line must end in the
project's ConfigError (one line) or pass; nothing else may escape ``biosim check`` / ``biosim run``, and the CLI's
exit status is 0 or 2; so is that of ``biosim plot`` on a damaged run directory.

The default profile is short and reproducible (derandomized); ``-m slow`` runs a longer one.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biosim.errors import ConfigError
from biosim.runner import check_experiment

ROOT = Path(__file__).parents[1]
FILES = sorted((ROOT / "experiments").glob("*.yaml"))
RAW = {path.name: yaml.safe_load(path.read_text()) for path in FILES}
QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*)$")
UNITS = ["ms", "mV", "Hz", "nS", "pA", "pF", "Mohm", "s", "/ms", "mV/ms", "min", "kΩ", "µS", "GHz", "parsec", ""]
ODD_VALUES = [[], {}, "abc", True, None, 3, -1, 0, 1e300, -1e300, "1e999", {"name": "nope"}, [1, "x"], 2**63,
              float("nan"), float("inf"), "-5 ms", "1e9 s", "0 ms"]
KINDS = ["delete", "misspell", "wrong_type", "wrong_unit", "bare_number", "negative_or_huge", "unknown_name"]
FAST = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = settings(FAST, max_examples=3000)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a YAML document (mapping keys and list positions)."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


def misspell(word: str, draw) -> str:
    if len(word) < 2:
        return word + "x"
    k = draw(st.integers(0, len(word) - 2))
    return draw(st.sampled_from([word[:k] + word[k + 1:], word[:k] + word[k + 1] + word[k] + word[k + 2:],
                                 word + word[-1], word.upper()]))


def mutated_value(value: Any, kind: str, draw) -> Any:
    """A replacement for ``value`` of one mutation kind (the value itself when the kind does not apply)."""
    quantity = QUANTITY.match(value) if isinstance(value, str) else None
    if kind == "plausible":  # halved or doubled, unit and type kept: most such runs are valid
        factor = draw(st.sampled_from([0.5, 2.0]))
        if quantity:
            return f"{float(quantity.group(1)) * factor:g} {quantity.group(2)}"
        if isinstance(value, int) and not isinstance(value, bool):
            return max(1, int(value * factor))
        if isinstance(value, float):
            return value * factor
        return value
    if kind == "wrong_unit" and quantity:
        return f"{quantity.group(1)} {draw(st.sampled_from(UNITS))}".strip()
    if kind == "bare_number" and quantity:
        return float(quantity.group(1))
    if kind == "negative_or_huge":
        if quantity:
            factor = draw(st.sampled_from(["-1", "1e9", "1e-9", "-1e12"]))
            return f"{float(quantity.group(1)) * float(factor):g} {quantity.group(2)}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return draw(st.sampled_from([-value, value * 1e9, -1, 10**12, 2**63, 1e-300, value + 0.5]))
    if kind == "unknown_name" and isinstance(value, str):
        return draw(st.sampled_from(["nonexistent", misspell(value, draw), ""]))
    return copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))


def set_at(data: Any, path: tuple, value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def get_at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_file(draw) -> tuple[str, dict]:
    """(shipped file name, its YAML document with one or two mutations)."""
    name = draw(st.sampled_from(sorted(RAW)))
    data = copy.deepcopy(RAW[name])
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(paths(data)))
        kind = draw(st.sampled_from(KINDS))
        parent = get_at(data, path[:-1])
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "misspell" and isinstance(parent, dict):
            parent[misspell(str(path[-1]), draw)] = parent.pop(path[-1])
        else:
            set_at(data, path, mutated_value(get_at(data, path), kind, draw))
    return name, data


@st.composite
def mutated_overrides(draw) -> tuple[str, list[str]]:
    """(shipped file name, command-line overrides: mutated values of its keys, or malformed arguments)."""
    name = draw(st.sampled_from(sorted(RAW)))
    overrides = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(RAW[name])))
        key = ".".join(str(part) for part in path)
        kind = draw(st.sampled_from([*KINDS, "malformed"]))
        if kind == "malformed":
            overrides.append(draw(st.sampled_from([f"{key}", "=3", f"{key}=[", f"{key}={{a: ", "variant=[1]",
                                                   f"{key}.x.y=1", f"{misspell(key, draw)}=1", "variant=nope"])))
            continue
        value = mutated_value(get_at(RAW[name], path), kind, draw)
        if kind == "misspell":
            key = misspell(key, draw)
        overrides.append(f"{key}={yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()}"
                         .removesuffix("\n...").strip())
    return name, overrides


def write(tmp: Path, name: str, data: Any) -> Path:
    """The mutated document as a file; ``extends`` still finds the shipped file it names."""
    if isinstance(data, dict) and isinstance(data.get("extends"), str):
        data["extends"] = str(ROOT / "experiments" / data["extends"])
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def only_config_errors(path: Path, overrides: list[str]) -> None:
    """Validate as ``biosim check`` does: passing, or one ConfigError of one line, and nothing else."""
    try:
        check_experiment(path, overrides)
    except ConfigError as err:
        assert str(err) and "\n" not in str(err), repr(str(err))


@FAST
@given(case=mutated_file())
def test_mutated_experiment_files_give_only_config_errors(tmp_path_factory, case):
    name, data = case
    only_config_errors(write(tmp_path_factory.mktemp("fuzz"), name, data), [])


@FAST
@given(case=mutated_overrides())
def test_mutated_command_lines_give_only_config_errors(case):
    name, overrides = case
    only_config_errors(ROOT / "experiments" / name, overrides)


TINY = {  # shipped files with overrides that make a real run short (the first run of a family also compiles)
    "sdr_threshold.yaml": [],
    "cuba.yaml": ["duration=20 ms", "populations.exc.n=80", "populations.inh.n=20"],
    "tm_sequences.yaml": ["data.count=2", "data.length=5", "passes=1"],
    "ff_digits.yaml": ["epochs=1", "hidden=[8]"],
}


def tiny_run_exits_0_or_2(tmp: Path, name: str, data) -> None:
    """A real run of ``name`` with one override of a plausible or mutated value: exit status 0 or 2, never 1."""
    import contextlib
    import io

    from biosim.cli import main

    path = data.draw(st.sampled_from(paths(RAW[name])))
    kind = data.draw(st.sampled_from(["plausible", "plausible", "negative_or_huge", "bare_number", "unknown_name"]))
    value = mutated_value(get_at(RAW[name], path), kind, data.draw)
    override = f"{'.'.join(map(str, path))}={yaml.safe_dump(value, default_flow_style=True).strip()}"
    with contextlib.redirect_stderr(io.StringIO()) as err:
        status = main(["run", str(ROOT / "experiments" / name), *TINY[name], override.removesuffix("\n..."),
                       "--out", str(tmp)])
    assert status in (0, 2), (override, err.getvalue())


@settings(FAST, max_examples=3)
@given(data=st.data())
def test_tiny_real_runs_of_mutated_command_lines_exit_0_or_2(tmp_path_factory, data):
    tiny_run_exits_0_or_2(tmp_path_factory.mktemp("runs"), "sdr_threshold.yaml", data)


ODD_DOCUMENTS = ["", "[]", "{", "null", "3", "family: nope", "family: spiking", "family: [1]", "plots: [nope]",
                 '{"stop_reason": 3}', '{"stop_reason": "failed: x"}', "\x00\xff", "name: x\nfamily: dendritic"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A real run directory (the cheapest shipped experiment), to be damaged by copies."""
    from biosim.runner import run_experiment

    return run_experiment(ROOT / "experiments" / "sdr_threshold.yaml", out=tmp_path_factory.mktemp("finished"))


def damage(run_dir: Path, data) -> str:
    """Delete, truncate, garble or replace one of the run's files (config, metrics, results), or mutate one key of
    its config.yaml; returns what was done."""
    name = data.draw(st.sampled_from(sorted(p.name for p in run_dir.iterdir() if p.suffix in (".yaml", ".json",
                                                                                             ".npz"))))
    path = run_dir / name
    kind = data.draw(st.sampled_from(["delete", "truncate", "garble", "replace", "mutate_key"]))
    raw = path.read_bytes()
    if kind == "delete":
        path.unlink()
    elif kind == "truncate":
        path.write_bytes(raw[:data.draw(st.integers(0, max(len(raw) - 1, 0)))])
    elif kind == "garble" and raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        path.write_bytes(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:])
    elif kind == "replace" or name != "config.yaml":
        path.write_text(data.draw(st.sampled_from(ODD_DOCUMENTS)))
    else:
        config = yaml.safe_load(raw)
        key = data.draw(st.sampled_from(paths(config)))
        set_at(config, key, mutated_value(get_at(config, key), data.draw(st.sampled_from(KINDS[2:])), data.draw))
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return f"{name}: {kind} {key}"
    return f"{name}: {kind}"


def plot_exits_0_or_2(finished: Path, tmp: Path, data) -> None:
    """``biosim plot`` of a damaged copy of a finished run: exit status 0 or 2, one line, never a traceback."""
    import contextlib
    import io
    import shutil

    from biosim.cli import main

    run_dir = Path(shutil.copytree(finished, tmp / "run"))
    done = damage(run_dir, data)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        status = main(["plot", str(run_dir)])
    assert status in (0, 2) and "Traceback" not in err.getvalue(), (done, err.getvalue())


@settings(FAST, max_examples=20)
@given(data=st.data())
def test_plot_of_a_damaged_run_directory_exits_0_or_2(finished_run, tmp_path_factory, data):
    plot_exits_0_or_2(finished_run, tmp_path_factory.mktemp("plot"), data)


@pytest.mark.slow
@settings(FAST, max_examples=300)
@given(data=st.data())
def test_plot_of_a_damaged_run_directory_long(finished_run, tmp_path_factory, data):
    plot_exits_0_or_2(finished_run, tmp_path_factory.mktemp("plot"), data)


@pytest.mark.slow
@settings(FAST, max_examples=24)
@given(name=st.sampled_from(sorted(TINY)), data=st.data())
def test_tiny_real_runs_long(tmp_path_factory, name, data):
    tiny_run_exits_0_or_2(tmp_path_factory.mktemp("runs"), name, data)


@pytest.mark.slow
@LONG
@given(case=mutated_file())
def test_mutated_experiment_files_long(tmp_path_factory, case):
    name, data = case
    only_config_errors(write(tmp_path_factory.mktemp("fuzz"), name, data), [])


@pytest.mark.slow
@LONG
@given(case=mutated_overrides())
def test_mutated_command_lines_long(case):
    name, overrides = case
    only_config_errors(ROOT / "experiments" / name, overrides)


@pytest.mark.parametrize(("name", "overrides", "expected"), [
    ("ff_cnn_digits.yaml", ["hidden=[9223372036854775808, 64]"], "less than or equal to 2147483647"),
    ("ccl_digits.yaml", ["hidden=[32, 9223372036854775808]"], "less than or equal to 2147483647"),
    ("link_ff_csbm.yaml", ["hidden=[9223372036854775808]"], "less than or equal to 2147483647"),
    ("ff_digits.yaml", ["hidden=[2000000000, 2000000000]"], "more bytes than torch can count"),
    ("ff_digits.yaml", ["hidden=[1000000, 1000000]"], "GB of weights"),
])
def test_widths_past_what_torch_or_memory_can_take_are_refused(name, overrides, expected):
    """Found by this fuzz test: a width past int64 reached torch as an OverflowError (TypeError)."""
    with pytest.raises(ConfigError, match=expected):
        check_experiment(ROOT / "experiments" / name, overrides)
