"""Command line: ``biosim run FILE.yaml [key=value ...]``, ``biosim plot RUN_DIR``, ``biosim rules``."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="biosim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an experiment file into a new run directory")
    run.add_argument("file")
    run.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. duration='2 s' variant=C")
    run.add_argument("--out", default=None, help="parent directory of run directories (default: ./runs)")
    plot = commands.add_parser("plot", help="redraw the figures of a run directory")
    plot.add_argument("run_dir")
    commands.add_parser("rules", help="list the registered learning rules and their parameters")
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "run" or not all("=" in item for item in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides += extra

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if args.command == "run":
            from biosim.runner import run_experiment

            print(run_experiment(args.file, args.overrides, args.out))
        elif args.command == "plot":
            from biosim.runner import replot

            for path in replot(args.run_dir):
                print(path)
        else:
            _rules()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
