"""Command line: biosim run FILE.yaml [key=value ...], biosim plot RUN_DIR, biosim rules."""

from __future__ import annotations

import argparse
import logging
import sys

from biosim.errors import ConfigError


def _rules() -> None:
    """Every registered rule, grouped by the target it plugs into, with its backends and parameters."""
    from biosim import registry

    rules = [registry.get("rule", name) for name in registry.names("rule")]
    targets = sorted({rule.plugs_into for rule in rules})
    for target in targets:
        declared = registry.get("target", target) if target in registry.names("target") else None
        print(f"== {target}" + (f": {declared.description}" if declared is not None else ""))
        print()
        for rule in (r for r in rules if r.plugs_into == target):
            backends = ", ".join(rule.backends()) or "none"
            print(f"{rule.registry_name}  (plugs into: {target}; reads: {rule.reads}; backends: {backends})")
            doc = (rule.__doc__ or "").strip().splitlines()
            if doc:
                print(f"    {doc[0]}")
            for param, default, description in rule.describe():
                print(f"    {param:<18} {default:<24} {description}")
            print()


EXIT_STATUS = """exit status:
  0    the run finished
  1    an internal error (the traceback is saved; its path is printed)
  2    a configuration or command-line error (nothing ran)
  3    the run diverged (NaN or inf); what was recorded is kept
  130  stopped by Ctrl-C (SIGINT); what was recorded is kept
  143  stopped by SIGTERM (e.g. a batch scheduler's time limit); what was recorded is kept"""


def _run_status(run_dir) -> int:
    """The exit status a finished, stopped or diverged run directory stands for."""
    import json
    import signal

    from biosim.family import DIVERGED

    metrics = json.loads((run_dir / "metrics.json").read_text())
    if metrics["complete"]:
        return 0
    if metrics.get("stop_signal"):
        return 128 + signal.Signals[metrics["stop_signal"]].value
    return 3 if (metrics.get("stop_reason") or "").startswith(DIVERGED) else 130


def _save_traceback() -> str:
    """Write the current exception's traceback to a file; returns its path."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="biosim-traceback-", suffix=".txt", delete=False) as file:
        traceback.print_exc(file=file)
    return file.name


def main(argv: list[str] | None = None) -> int:
    from biosim import __version__

    parser = argparse.ArgumentParser(prog="biosim", description=__doc__, epilog=EXIT_STATUS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"biosim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an experiment file into a new run directory", epilog=EXIT_STATUS,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("file")
    run.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. duration='2 s' variant=C")
    run.add_argument("--out", default=None, help="parent directory of run directories (default: ./runs)")
    plot = commands.add_parser("plot", help="redraw the figures of a run directory")
    plot.add_argument("run_dir")
    commands.add_parser("rules", help="list the registered learning rules, by target, with their parameters")
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "run" or not all("=" in item for item in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides += extra

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if args.command == "run":
            from biosim.runner import run_experiment

            run_dir = run_experiment(args.file, args.overrides, args.out)
            print(run_dir)
            return _run_status(run_dir)
        if args.command == "plot":
            from biosim.runner import replot

            for path in replot(args.run_dir):
                print(path)
        else:
            _rules()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once
        print("error: stopped by a second Ctrl-C; the run directory may be incomplete", file=sys.stderr)
        return 130
    except Exception as err:  # an internal bug: one line, the traceback in a file
        print(f"error: internal error ({type(err).__name__}: {err}); please report it with the traceback saved in "
              f"{_save_traceback()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
