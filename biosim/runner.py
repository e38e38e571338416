"""Run an experiment file end to end into a fresh run directory.

A run directory holds ``config.yaml`` (resolved: quantities with units, defaults filled in; ``biosim run`` takes
it again), ``metrics.json``, the family's results file (``recording.npz`` for spiking runs, ``results.npz``
otherwise), the figures and ``run.log``. Existing directories are never reused. Each run logs through its own
logger (``biosim.run.<dir>``, passed on to the ``biosim`` logger), so runs in two threads write two clean logs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any

import yaml

from biosim import registry
from biosim.config import Source, load_experiment, load_plugins
from biosim.errors import ConfigError, did_you_mean
from biosim.family import FAILED, first_line, write_metrics


def check_output_root(root: Path) -> None:
    """``root`` (the ``--out`` folder) is a folder, or can be made one, that this user may write into."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == root else f"lies under the file {str(existing)!r}"
        raise ConfigError(f"{str(root)!r} {what}; --out takes a folder to put run directories in (default: ./runs)",
                          argument="--out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into {str(existing)!r} (permission denied); give --out a folder of yours",
                          argument="--out")


def new_run_dir(root: Path, name: str) -> Path:
    """Create ``root/name-YYYYmmdd-HHMMSS[-k]``, never an existing directory."""
    check_output_root(root)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for k in count():
        path = root / (f"{name}-{stamp}" + (f"-{k}" if k else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as err:
            raise ConfigError(f"cannot create {str(path)!r}: {err.strerror or err}", argument="--out") from None
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


def check_experiment(path: str | Path, overrides: list[str] | None = None) -> tuple[Any, Source, Any, Any]:
    """Validate an experiment as a run would (load, override, check plots, ``prepare``) without computing or
    writing anything. Returns (experiment, source, family, prepared); raises ConfigError."""
    exp, source = load_experiment(path, overrides)
    family = registry.get("family", exp.family)()
    check_plots(exp.plots, family, source)
    return exp, source, family, family.prepare(exp, source)


def run_experiment(path: str | Path, overrides: list[str] | None = None, out: str | Path | None = None) -> Path:
    """Validate, prepare, run, save and plot. Returns the run directory. A run that fails after its directory was
    made keeps it, marked failed with the reason in ``metrics.json``."""
    start = time.perf_counter()
    root = Path(out) if out else Path("runs")
    check_output_root(root)  # before prepare, which may take a while
    exp, source, family, prepared = check_experiment(path, overrides)

    run_dir = new_run_dir(root, exp.name)
    with run_logger(run_dir) as log:
        log.info("experiment %s (%s), family %s, seed %d -> %s", exp.name, path, exp.family, exp.seed, run_dir)
        try:
            outcome, metrics = family.run(prepared, exp, source, run_dir, log, provenance(path, overrides, exp))
        except BaseException as err:  # keep the directory, marked failed (the CLI saves the traceback)
            reason = "stopped by a second Ctrl-C" if isinstance(err, KeyboardInterrupt) else \
                f"{type(err).__name__}: {err}"
            write_metrics(run_dir, {"experiment": exp.name, "family": exp.family, "complete": False,
                                    "stop_reason": f"{FAILED}: {reason}",
                                    **provenance(path, overrides, exp)})
            log.error("run failed: %s", first_line(reason))
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
        try:  # no git installed, or a hung one, leaves the commit unknown; it never fails the run
            out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                 timeout=10)
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            commit = out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            commit = None
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
    """Redraw the figures of a finished (or stopped) run from its saved results."""
    import json

    from biosim.plotting import draw

    run_dir = Path(run_dir)
    hint = "give a directory that 'biosim run' printed, e.g. runs/cuba-20260101-120000"
    if not run_dir.is_dir():
        what = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise ConfigError(f"run directory {str(run_dir)!r} {what}; {hint}", argument=str(run_dir))
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run directory (no config.yaml); {hint}", argument=str(run_dir))
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read the run's config.yaml / metrics.json: {err}", argument=str(run_dir)) from None
    if not isinstance(config, dict) or "family" not in config:
        raise ConfigError(f"{str(run_dir / 'config.yaml')!r} is not a resolved experiment (no 'family')",
                          argument=str(run_dir))
    plots = config.get("plots", [])
    if not isinstance(metrics, dict) or not isinstance(plots, list):
        what = "metrics.json is not a mapping" if not isinstance(metrics, dict) else "plots in config.yaml is no list"
        raise ConfigError(f"the run directory is damaged ({what})", argument=str(run_dir))
    if str(metrics.get("stop_reason") or "").startswith(FAILED):
        raise ConfigError(f"the run failed ({metrics['stop_reason']}); it has no results to draw",
                          argument=str(run_dir))
    load_plugins(config.get("plugins", []), Source(str(run_dir / "config.yaml")))
    try:
        family = registry.get("family", str(config["family"]))()
    except ValueError as err:
        raise ConfigError(str(err), argument=str(run_dir)) from None
    try:
        results = family.load(run_dir)
    except FileNotFoundError as err:
        raise ConfigError(f"the run holds no results ({Path(err.filename or '').name or err}); it stopped before "
                          f"saving any", argument=str(run_dir)) from None
    except Exception as err:  # a truncated or edited results file fails in whatever reads it (zip, npz, json)
        raise ConfigError(f"cannot read the run's results (damaged?): {type(err).__name__}: {first_line(err)}",
                          argument=str(run_dir)) from None
    return draw(results, run_dir, [str(name) for name in plots])
