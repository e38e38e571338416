"""biosim: run experiment files and redraw their figures.

  biosim run FILE.yaml [key.sub=value ...] [--out DIR]   run into a new run directory
  biosim check FILE.yaml [key.sub=value ...]             validate as a run would, compute nothing
  biosim show FILE.yaml                                  the file's family, description, keys and variants
  biosim plot RUN_DIR                                    redraw the figures of a run
  biosim list                                            shipped experiments and the registered entries
  biosim rules                                           learning rules by target, with their parameters
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from biosim.errors import ConfigError

_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "cf.", "vs.", "Fig.", "Eq.", "approx.")


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, whole (over line breaks), without RST or Markdown markup."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    paragraph = re.sub(r":\w+:`([^`]*)`", r"\1", paragraph)  # :math:`x`, :class:`x`
    paragraph = re.sub(r"``([^`]*)``|`([^`]*)`", lambda m: m.group(1) or m.group(2) or "", paragraph)
    paragraph = re.sub(r"\*\*([^*]+)\*\*|(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])",
                       lambda m: m.group(1) or m.group(2), paragraph)
    for end in re.finditer(r"[.!?](?=\s|$)", paragraph):
        sentence = paragraph[:end.end()]
        if not sentence.endswith(_ABBREVIATIONS):
            return sentence
    return paragraph


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
            doc = first_sentence(rule.__doc__)
            if doc:
                print(f"    {doc}")
            rows = rule.describe()
            width = max((len(param) for param, _, _ in rows), default=0) + 1
            for param, default, description in rows:
                print(f"    {param:<{width}} {default:<24} {description}")
            print()


def experiments_folder() -> Path:
    """The shipped experiment files."""
    import biosim

    return Path(biosim.__file__).resolve().parents[1] / "experiments"


def _list() -> None:
    """The shipped experiments (with their descriptions), then each registry namespace's entries."""
    import yaml

    from biosim import registry

    print(f"== experiments ({experiments_folder()})")
    for path in sorted(experiments_folder().glob("*.yaml")):
        try:
            description = (yaml.safe_load(path.read_text()) or {}).get("description", "")
        except yaml.YAMLError:
            description = "(not valid YAML)"
        print(f"  {path.stem:<32} {description}")
    for namespace, title in (("family", "families"), ("neuron", "neuron models"), ("connector", "connectors"),
                             ("dataset", "datasets"), ("rule", "learning rules (details: biosim rules)"),
                             ("plot", "plots")):
        print(f"\n== {title}")
        for name in registry.names(namespace):
            print(f"  {name:<32} {first_sentence(getattr(registry.get(namespace, name), '__doc__', ''))}")


def _show(path: str) -> None:
    """An experiment file's family, description, keys (as written, with what it extends) and its variants."""
    import yaml

    from biosim.config import load_experiment, read_experiment_file

    exp, _ = load_experiment(path)  # valid, or a ConfigError
    data = {key: value for key, value in read_experiment_file(Path(path))[0].items()
            if key not in ("name", "description", "family", "variants", "variant")}
    print(f"{exp.name}: {exp.description or '(no description)'}")
    print(f"family: {exp.family}")
    print("keys (set any with key.sub=value; unset keys take their defaults, see biosim rules / biosim list):")
    class Plain(yaml.SafeDumper):  # each value written out, not as an anchor and alias
        def ignore_aliases(self, data):
            return True

    for line in yaml.dump(data, Dumper=Plain, sort_keys=False, default_flow_style=None, width=110,
                          allow_unicode=True).splitlines():
        print(f"  {line}")
    if exp.variants:
        print("variant= accepts:")
        for name, keys in exp.variants.items():
            print(f"  {name:<12} " + ", ".join(f"{key}={value}" for key, value in keys.items()))
    else:
        print("variant=: this file defines no variants")


EXIT_STATUS = """exit status:
  0    the run finished
  1    an internal error (the traceback is saved; its path is printed)
  2    a configuration or command-line error (nothing ran)
  3    the run diverged (NaN or inf); what was recorded is kept
  130  stopped by Ctrl-C (SIGINT); what was recorded is kept
  143  stopped by SIGTERM (e.g. a batch scheduler's time limit); what was recorded is kept

'biosim show FILE' lists the keys of FILE and what variant= accepts; 'biosim check FILE [overrides]'
validates them without running. Quantities take a unit: duration='2 s', populations.exc.params.tau_m='20 ms'."""


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
    raw = argparse.RawDescriptionHelpFormatter
    run = commands.add_parser("run", help="run an experiment file into a new run directory", epilog=EXIT_STATUS,
                              formatter_class=raw)
    check = commands.add_parser("check", help="validate an experiment file (and overrides) without running it; "
                                "exit 0 if valid, 2 if not")
    for command in (run, check):
        command.add_argument("file", help="experiment file (.yaml), e.g. experiments/cuba.yaml")
        command.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. duration='2 s' variant=C")
    run.add_argument("--out", default=None, help="parent directory of run directories (default: ./runs)")
    show = commands.add_parser("show", help="print an experiment file's family, description, keys and variants")
    show.add_argument("file")
    plot = commands.add_parser("plot", help="redraw the figures of a run directory")
    plot.add_argument("run_dir")
    commands.add_parser("rules", help="list the registered learning rules, by target, with their parameters")
    commands.add_parser("list", help="list the shipped experiments and the registry's neuron models, connectors, "
                        "datasets, rules and plots")
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command not in ("run", "check") or not all("=" in item for item in extra)):
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
        if args.command == "check":
            from biosim.runner import check_experiment

            exp = check_experiment(args.file, args.overrides)[0]
            print(f"{args.file}: valid ({exp.name}, family {exp.family})")
        elif args.command == "plot":
            from biosim.runner import replot

            for path in replot(args.run_dir):
                print(path)
        elif args.command == "show":
            _show(args.file)
        elif args.command == "list":
            _list()
        else:
            _rules()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output was piped into a reader that stopped (biosim list | head)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (Python flushes stdout again at exit)
        return 0
    except KeyboardInterrupt:  # Ctrl-C before the run started, or a second one during it: stop at once
        print("error: stopped by Ctrl-C; a run directory already made is marked failed", file=sys.stderr)
        return 130
    except Exception as err:  # an internal bug: one line (a Numba typing error has dozens), the traceback in a file
        from biosim.family import first_line

        print(f"error: internal error ({type(err).__name__}: {first_line(err)}); please report it with the traceback "
              f"saved in {_save_traceback()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
