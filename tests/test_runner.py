"""The runner is ready for concurrency: one logger per run, figures drawn inside daemonic workers."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
import yaml

from biosim.errors import ConfigError
from biosim.runner import replot, run_experiment

ROOT = Path(__file__).parents[1]


def test_two_runs_in_two_threads_write_two_clean_logs(tmp_path):
    files = {"sdr_threshold": [], "sdr_false_match_vs_n": ["montecarlo.trials=2000"]}
    done: dict[str, Path] = {}

    def run(name: str) -> None:
        done[name] = run_experiment(ROOT / "experiments" / f"{name}.yaml", files[name], out=tmp_path)

    threads = [threading.Thread(target=run, args=(name,)) for name in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(done) == set(files)
    for name, run_dir in done.items():
        text = (run_dir / "run.log").read_text()
        other = next(n for n in files if n != name)
        assert f"experiment {name} " in text and f"experiment {other} " not in text
        assert str(run_dir) in text and "figures: error_curves.png" in text
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["name"] == name


def _replot_in_daemon(run_dir: Path, queue) -> None:
    def work() -> None:
        queue.put([p.name for p in replot(run_dir)])

    worker = multiprocessing.get_context("fork").Process(target=work, daemon=True)  # as a Dask worker is
    worker.start()
    worker.join()
    queue.put(worker.exitcode)


def test_figures_are_drawn_inside_a_daemonic_worker(tmp_path):
    """Several figures, drawn where no child process may be forked (a worker pool there used to fail)."""
    run_dir = run_experiment(ROOT / "experiments" / "cuba.yaml", ["duration=0.2 s"], out=tmp_path)
    figures = sorted(p.name for p in run_dir.glob("*.png"))
    assert len(figures) >= 3
    for figure in figures:
        (run_dir / figure).unlink()
    queue = multiprocessing.get_context("fork").Queue()
    _replot_in_daemon(run_dir, queue)
    assert sorted(queue.get(timeout=120)) == figures
    assert queue.get(timeout=60) == 0


def test_a_torch_run_sets_threads_and_seed_for_itself_and_restores_the_callers(tmp_path):
    import torch

    torch.manual_seed(123)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    wanted = 1 if threads > 1 else 2
    run_experiment(ROOT / "experiments" / "ff_digits.yaml", ["epochs=1", "hidden=[16]", f"threads={wanted}"],
                   out=tmp_path)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)


PROBE = '''
from biosim.config import ExperimentBase
from biosim.errors import ConfigError
from biosim.family import Family, Outcome, Results
from biosim.registry import register


class Experiment(ExperimentBase):
    family: str = "runner_probe"
    fail: str = ""
    plots: list[str] = []


@register("family", "runner_probe")
class Probe(Family):
    schema = Experiment

    def prepare(self, exp, source):
        return None

    def execute(self, prepared, exp, run):
        if exp.fail == "config":
            raise ConfigError("a data file turned out unreadable", key="data")
        if exp.fail == "ctrl-c":
            raise KeyboardInterrupt
        return Outcome({"rate_hz": None}, Results())

    def summary(self, metrics):
        return f"rate {metrics['rate_hz']:.3f} Hz"  # fails on None
'''


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    """An experiment of a family whose run fails on request (one plug-in file: a family registers once)."""
    folder = tmp_path_factory.mktemp("probe")
    (folder / "probe.py").write_text(PROBE)
    (folder / "probe.yaml").write_text("name: probe\nfamily: runner_probe\nplugins: [probe.py]\n")
    return folder / "probe.yaml"


@pytest.mark.parametrize(("fail", "error", "reason"), [
    ("config", ConfigError, "failed: ConfigError: data: a data file turned out unreadable"),
    ("ctrl-c", KeyboardInterrupt, "failed: stopped by a second Ctrl-C"),
])
def test_a_run_that_fails_after_its_directory_exists_is_marked_failed_with_the_reason(tmp_path, probe, fail, error,
                                                                                    reason):
    with pytest.raises(error):
        run_experiment(probe, [f"fail={fail}"], out=tmp_path / "runs")
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] is False and metrics["stop_reason"] == reason
    assert metrics["provenance"]["overrides"] == [f"fail={fail}"]


def test_a_summary_that_cannot_be_written_does_not_fail_a_finished_run(tmp_path, probe):
    run_dir = run_experiment(probe, out=tmp_path / "runs")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["rate_hz"] is None
    assert "(no summary line: TypeError" in (run_dir / "run.log").read_text()
    provenance = metrics["provenance"]
    assert provenance["biosim_version"] and provenance["variant"] is None and provenance["file"].endswith("probe.yaml")
    assert provenance["git_commit"] is None or len(provenance["git_commit"].removesuffix("-dirty")) == 40


def test_console_numbers_are_rounded_and_missing_ones_say_na():
    import numpy as np

    from biosim.family import number

    assert [number(v) for v in (None, float("nan"), 5.448123, np.float64(0.000123456), 3, np.int64(7), True)] == \
        ["n/a", "n/a", "5.448", "0.0001235", "3", "7", "True"]


def test_a_run_without_git_on_the_path_records_no_commit(tmp_path, probe, monkeypatch):
    """The checkout has .git but no git program can be found: the run still finishes, commit unknown."""
    import biosim

    assert (Path(biosim.__file__).resolve().parents[1] / ".git").exists(), "needs the source checkout"
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no git
    metrics = json.loads((run_experiment(probe, out=tmp_path / "runs") / "metrics.json").read_text())
    assert metrics["complete"] and metrics["provenance"]["git_commit"] is None
