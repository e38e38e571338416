"""The command line, end to end, in subprocesses (as a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).parents[1]


def biosim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "biosim.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_rules_listing(tmp_path):
    out = biosim("rules", cwd=tmp_path)
    assert out.returncode == 0
    for name in ("static", "stdp", "triplet_stdp", "rstdp"):
        assert f"{name}  (plugs into: spiking_projection" in out.stdout
    assert "tau_plus           20 ms" in out.stdout
    assert "visual_cortex_all_to_all_full" in out.stdout


def test_run_writes_a_new_directory_each_time_and_plot_redraws(tmp_path):
    args = ("run", str(ROOT / "experiments" / "stdp_song2000.yaml"), "duration=2 s", "--out", str(tmp_path / "runs"))
    first, second = biosim(*args, cwd=tmp_path), biosim(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run_a, run_b = Path(first.stdout.strip()), Path(second.stdout.strip())
    assert run_a != run_b and run_a.exists() and run_b.exists()
    for name in ("config.yaml", "metrics.json", "recording.npz", "run.log", "raster.png", "weights.png"):
        assert (run_a / name).exists(), name
    metrics = json.loads((run_a / "metrics.json").read_text())
    assert metrics["complete"] and metrics["duration_s"] == 2.0
    assert metrics["populations"]["inputs"]["rate_hz"] > 10
    assert {"build_s", "jit_s", "sim_s", "wall_s"} <= set(metrics)
    assert metrics["weights"]["inputs_neuron"]["final"]["mean"] > 0
    config = yaml.safe_load((run_a / "config.yaml").read_text())
    assert config["duration"] == "2000 ms" and config["projections"]["inputs_neuron"]["rule"]["tau_plus"] == "20 ms"
    (run_a / "raster.png").unlink()
    redraw = biosim("plot", str(run_a), cwd=tmp_path)
    assert redraw.returncode == 0 and (run_a / "raster.png").exists()
    np.load(run_a / "recording.npz")


def test_bad_input_fails_fast_with_exit_code_2(tmp_path):
    out = biosim("run", str(ROOT / "experiments" / "cuba.yaml"), "populations.exc.model=lif_cubba",
                 "--out", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2
    assert "unknown neuron 'lif_cubba' (did you mean 'lif_cuba'?)" in out.stderr
    assert not any(tmp_path.iterdir()), "no run directory for an invalid experiment"


PLUGIN = '''
from biosim.config import ExperimentBase
from biosim.family import Family, Outcome, Results
from biosim.registry import register


class Experiment(ExperimentBase):
    family: str = "probe"
    fail: bool = False
    plots: list[str] = ["broken", "fine"]


@register("family", "probe")
class Probe(Family):
    schema = Experiment
    plots = ("broken", "fine")

    def prepare(self, exp, source):
        return None

    def execute(self, prepared, exp, run):
        if exp.fail:
            raise RuntimeError("a bug inside a family\\nand a second line of detail")
        return Outcome({"answer": 42}, Results())


@register("plot", "broken")
def broken(results, out):
    raise ValueError("Too many bins")


@register("plot", "fine")
def fine(results, out):
    (out / "fine.txt").write_text("drawn")
    return [out / "fine.txt"]
'''


def _probe(tmp_path: Path) -> Path:
    (tmp_path / "probe.py").write_text(PLUGIN)
    (tmp_path / "probe.yaml").write_text("name: probe\nfamily: probe\nplugins: [probe.py]\n")
    return tmp_path / "probe.yaml"


def test_a_figure_that_cannot_be_drawn_is_skipped_and_the_rest_kept(tmp_path):
    out = biosim("run", str(_probe(tmp_path)), "--out", "runs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / out.stdout.strip()
    assert "figure 'broken' skipped: ValueError: Too many bins" in out.stderr
    assert (run_dir / "fine.txt").read_text() == "drawn"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["answer"] == 42 and metrics["complete"]
    provenance = metrics["provenance"]
    assert provenance["file"] == str(tmp_path / "probe.yaml") and provenance["biosim_version"]
    assert provenance["overrides"] == [] and provenance["variant"] is None
    assert "figure 'broken' skipped" in (run_dir / "run.log").read_text()


def test_an_internal_error_is_one_line_with_a_saved_traceback_and_the_run_marked_failed(tmp_path):
    out = biosim("run", str(_probe(tmp_path)), "fail=true", "--out", "runs", cwd=tmp_path)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr and lines[-1].startswith(
        "error: internal error (RuntimeError: a bug inside a family); please report it")
    assert "second line" not in out.stderr, "a multi-line message (Numba's) is cut to its first line"
    saved = Path(lines[-1].rsplit(" ", 1)[1])
    assert "a bug inside a family\nand a second line of detail" in saved.read_text()
    assert "Traceback" in saved.read_text()
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] is False
    assert metrics["stop_reason"] == "failed: RuntimeError: a bug inside a family\nand a second line of detail"


def test_version_and_exit_statuses_are_documented(tmp_path):
    assert biosim("--version", cwd=tmp_path).stdout.startswith("biosim ")
    text = biosim("run", "--help", cwd=tmp_path).stdout
    for line in ("0    the run finished", "2    a configuration", "130  stopped by Ctrl-C", "143  stopped by SIGTERM"):
        assert line in text


def test_sigterm_keeps_what_was_recorded_and_exits_143(tmp_path):
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "biosim.cli", "run", str(ROOT / "experiments" / "cuba.yaml"),
                                "duration=200 s", "--out", "runs"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("runs/*/config.yaml")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3.0)  # into the simulation
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    run_dir = tmp_path / stdout.strip()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] is False and metrics["stop_signal"] == "SIGTERM"
    assert metrics["stop_reason"] == "interrupted (SIGTERM)"
    assert 0 < metrics["duration_s"] < 200
    assert np.load(run_dir / "recording.npz")["duration"] == metrics["duration_s"]


def _in_process(capsys, *args: str) -> tuple[int, str, str]:
    from biosim.cli import main

    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def _failed_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "failed-run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("name: x\nfamily: spiking\n")
    (run_dir / "metrics.json").write_text(json.dumps({"complete": False, "stop_reason": "failed: MemoryError: "}))
    return run_dir


@pytest.mark.parametrize(("args", "expected"), [
    (("run", "{root}/experiments"), "'{root}/experiments' is a directory; give an experiment file (.yaml), e.g. "),
    (("run", "{root}/biosim/__init__.py"), "'{root}/biosim/__init__.py' is not an experiment file (YAML, *.yaml)"),
    (("run", "{tmp}/binary.yaml"), "is not a text file; give a YAML experiment file"),
    (("run", "{root}/experiments/cubba.yaml"), "does not exist (did you mean 'cuba.yaml'?)"),
    (("run", "{root}/experiments/cuba.yaml", "--out", "{tmp}/binary.yaml"),
     "argument '--out': '{tmp}/binary.yaml' is a file; --out takes a folder"),
    (("run", "{root}/experiments/cuba.yaml", "--out", "{tmp}/binary.yaml/runs"),
     "argument '--out': '{tmp}/binary.yaml/runs' lies under the file '{tmp}/binary.yaml'"),
    (("run", "{root}/experiments/cuba.yaml", "seed=-1"), "argument 'seed=-1': seed: must be greater than or equal"),
    (("check", "{root}/experiments/cuba.yaml", "dt=1e-4"),
     "argument 'dt=1e-4': dt: 0.0001 has no unit; write one, e.g. '0.0001 s'"),
    (("plot", "{tmp}/nowhere"), "argument '{tmp}/nowhere': run directory '{tmp}/nowhere' does not exist; give a"),
    (("plot", "{tmp}"), "is not a run directory (no config.yaml); give a directory that 'biosim run' printed"),
    (("plot", "{tmp}/failed-run"), "the run failed (failed: MemoryError: ); it has no results to draw"),
    (("show", "{tmp}/nowhere.yaml"), "experiment file '{tmp}/nowhere.yaml' does not exist"),
])
def test_every_mistake_is_one_line_naming_the_argument_with_status_2(tmp_path, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)  # where a default --out (./runs) would go
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    _failed_run(tmp_path)
    fill = {"root": str(ROOT), "tmp": str(tmp_path)}
    status, _, err = _in_process(capsys, *(arg.format(**fill) for arg in args))
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert expected.format(**fill) in err, err
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("*/cuba-*")), "no stray run directory"


def test_list_show_and_check(capsys):
    status, out, _ = _in_process(capsys, "list")
    assert status == 0
    assert "  cuba                             Vogels-Abbott CUBA, 4000 neurons" in out
    for section, entry in (("neuron models", "lif_cuba"), ("connectors", "fixed_probability"),
                           ("datasets", "karate_club"), ("learning rules", "triplet_stdp"), ("plots", "raster"),
                           ("families", "spiking")):
        assert f"== {section}" in out and f"\n  {entry} " in out
    status, out, _ = _in_process(capsys, "show", str(ROOT / "experiments" / "brunel.yaml"))
    assert status == 0 and "family: spiking" in out and "variant= accepts:" in out
    assert "  C            projections.inh_exc.weight=-0.5 mV" in out
    status, out, _ = _in_process(capsys, "show", str(ROOT / "experiments" / "cuba.yaml"))
    assert "\n  dt: 0.1 ms\n" in out and "&id" not in out, "keys as written, units included, no YAML anchors"
    assert "variant=: this file defines no variants" in out
    status, out, _ = _in_process(capsys, "check", str(ROOT / "experiments" / "brunel.yaml"), "variant=C")
    assert status == 0 and "valid (brunel, family spiking)" in out


def test_help_and_rules_have_no_markup_and_whole_sentences(capsys):
    from biosim import registry
    from biosim.cli import first_sentence, main

    assert first_sentence("Uses ``tau`` (*fast*, e.g. 1 ms) as in\n    :class:`STDP`. More text.") == \
        "Uses tau (fast, e.g. 1 ms) as in STDP."
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    run_help = capsys.readouterr().out
    assert "biosim show FILE" in run_help and "what variant= accepts" in run_help
    status, rules, _ = _in_process(capsys, "rules")
    for shown in (text, run_help, rules):
        assert "``" not in shown and ":class:" not in shown and ":math:" not in shown
    for name in registry.names("rule"):
        sentence = first_sentence(registry.get("rule", name).__doc__)
        assert f"\n    {sentence}\n" in rules and sentence.endswith("."), name
