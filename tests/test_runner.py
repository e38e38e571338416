"""The runner is ready for concurrency: one logger per run, figures drawn inside daemonic workers."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import yaml

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
