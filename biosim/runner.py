"""Run an experiment file end to end into a fresh run directory.

A run directory holds ``config.yaml`` (resolved: SI units, defaults filled in), ``metrics.json``, the
family's results file (``recording.npz`` for spiking runs, ``results.npz`` otherwise), the figures and
``run.log``. Existing directories are never reused. Each run logs through its own logger (``biosim.run.<dir>``,
passed on to the ``biosim`` logger), so runs in two threads write two clean logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import count
from pathlib import Path

import yaml

from biosim import registry
from biosim.config import Source, load_experiment, load_plugins
from biosim.errors import did_you_mean
from biosim.family import write_metrics


def new_run_dir(root: Path, name: str) -> Path:
    """Create ``root/name-YYYYmmdd-HHMMSS[-k]``, never an existing directory."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for k in count():
        path = root / (f"{name}-{stamp}" + (f"-{k}" if k else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


@contextmanager
def run_logger(run_dir: Path) -> Iterator[logging.Logger]:
    """A logger of this run alone, writing ``run_dir/run.log`` (and passing records on to ``biosim``)."""
    log = logging.getLogger(f"biosim.run.{run_dir.name}")
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        yield log
    finally:
        log.removeHandler(handler)
        handler.close()


def run_experiment(path: str | Path, overrides: list[str] | None = None, out: str | Path | None = None) -> Path:
    """Validate, prepare, run, save and plot. Returns the run directory."""
    start = time.perf_counter()
    exp, source = load_experiment(path, overrides)
    family = registry.get("family", exp.family)()
    check_plots(exp.plots, family, source)
    prepared = family.prepare(exp, source)

    run_dir = new_run_dir(Path(out) if out else Path("runs"), exp.name)
    with run_logger(run_dir) as log:
        log.info("experiment %s (%s), family %s, seed %d -> %s", exp.name, path, exp.family, exp.seed, run_dir)
        try:
            outcome, metrics = family.run(prepared, exp, source, run_dir, log, provenance(path, overrides, exp))
        except Exception as err:  # keep the directory, marked failed, for the traceback the CLI saves
            write_metrics(run_dir, {"experiment": exp.name, "family": exp.family, "complete": False,
                                    "stop_reason": f"failed: {type(err).__name__}: {err}"})
            log.error("run failed: %s: %s", type(err).__name__, err)
            raise
        from biosim.plotting import draw

        files = draw(outcome.results, run_dir, exp.plots, log)
        log.info("figures: %s", ", ".join(f.name for f in files))
        metrics["wall_s"] = time.perf_counter() - start
        write_metrics(run_dir, metrics)
    return run_dir


def provenance(path: str | Path, overrides: list[str] | None, exp) -> dict[str, object]:
    """What produced a run: the command line, file, overrides, variant, biosim version and git commit."""
    import subprocess
    import sys

    import biosim

    root = Path(biosim.__file__).resolve().parents[1]
    commit = None
    if (root / ".git").exists():
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        commit = out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    return {"provenance": {"command": sys.argv, "file": str(Path(path).resolve()), "overrides": list(overrides or []),
                           "variant": exp.variant, "biosim_version": biosim.__version__, "git_commit": commit}}


def check_plots(names: list[str], family, source) -> None:
    """Every named plot exists and draws this family's results; else a ConfigError at ``plots[k]``."""
    for k, name in enumerate(names):
        try:
            registry.get("plot", name)
        except ValueError as err:
            raise source.error(str(err), ("plots", k)) from None
        if name not in family.plots:
            raise source.error(f"plot {name!r} does not draw {family.registry_name!r} results; allowed: "
                               f"{', '.join(family.plots)}{did_you_mean(name, family.plots)}", ("plots", k))


def replot(run_dir: str | Path) -> list[Path]:
    """Redraw the figures of a finished run from its saved results."""
    from biosim.plotting import draw

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    load_plugins(config.get("plugins", []), Source(str(run_dir / "config.yaml")))
    family = registry.get("family", config["family"])()
    return draw(family.load(run_dir), run_dir, config.get("plots", []))
