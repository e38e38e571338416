"""Experiment files: load YAML (keeping line numbers), apply variants and ``key.sub=value``
overrides, validate against the schema, and report the first problem as one ConfigError that names
the file, line, key, allowed values and a did-you-mean, before anything is built or run."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosim.errors import ConfigError, did_you_mean

Spec = str | dict[str, Any]  # a registry name, or {name: ..., param: value, ...}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentBase(Strict):
    """Keys every experiment file has; ``family`` names the family whose schema adds the rest."""

    name: str
    description: str = ""
    family: str
    plugins: list[str] = Field([], description="modules or .py files (relative to the file) that register entries")
    seed: int = Field(0, ge=0, description="fixes every random stream of the run")
    plots: list[str] = []
    variants: dict[str, dict[str, Any]] = {}
    variant: str | None = None


# -- YAML with line numbers -------------------------------------------------------------------------
def _line_map(node: yaml.Node, file: str, path: tuple = (), lines: dict | None = None) -> dict[tuple, int]:
    """Line of every key; a key written twice in one mapping is an error naming both lines (YAML would
    silently keep the last value)."""
    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            child = (*path, key.value)
            line = key.start_mark.line + 1
            if key.value in seen:
                where = f"on line {line}" if seen[key.value] == line else f"on lines {seen[key.value]} and {line}"
                raise ConfigError(f"key written twice, {where}; keep one",
                                  key=".".join(str(p) for p in child), file=file, line=line)
            seen[key.value] = line
            lines[child] = line
            _line_map(value, file, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for k, value in enumerate(node.value):
            _line_map(value, file, (*path, k), lines)
    return lines


class Source:
    """Where a config came from, to point errors at a file and line. ``base`` is the source of the
    file this one extends: a key this file does not set is reported there."""

    def __init__(self, file: str = "", lines: dict[tuple, int] | None = None, base: Source | None = None):
        self.file, self.lines, self.base = file, lines or {}, base
        self.resolved: dict[tuple, dict[str, Any]] = {}  # loc -> full parameters of the entry built there

    def error(self, message: str, loc: tuple = ()) -> ConfigError:
        if loc and loc[:1] not in self.lines and self.base is not None and self.base.holds(loc[0]):
            return self.base.error(message, loc)
        line = None
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in self.lines:
                line = self.lines[loc[:cut]]
                break
        return ConfigError(message, key=".".join(str(part) for part in loc), file=self.file, line=line)

    def holder(self, key: str) -> Source:
        """The source of the file that sets top-level ``key`` (this one, or one it extends)."""
        if (key,) not in self.lines and self.base is not None and self.base.holds(key):
            return self.base.holder(key)
        return self

    def holds(self, key: str) -> bool:
        """Whether this file, or one it extends, passes on top-level ``key``."""
        return key not in NOT_INHERITED and ((key,) in self.lines or (self.base is not None and self.base.holds(key)))


def _read_yaml(path: Path) -> tuple[dict, Source]:
    if not path.exists():
        raise ConfigError(f"experiment file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("an experiment file must be a mapping of keys", file=str(path))
    return data, Source(str(path), _line_map(node, str(path)) if node is not None else {})


# Keys that describe one file and are not inherited by a file that ``extends`` it.
NOT_INHERITED = ("name", "description", "variants")


def _read_experiment_file(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict, Source]:
    """Read a file; with ``extends: OTHER.yaml`` (relative to the file) start from OTHER's keys
    (except NOT_INHERITED) and set this file's keys on top, as a variant does."""
    data, source = _read_yaml(path)
    if "extends" not in data:
        return data, source
    base_path = (path.parent / str(data.pop("extends"))).resolve()
    if base_path in chain + (path.resolve(),):
        raise source.error(f"'extends' makes a loop: {' -> '.join(p.name for p in chain + (path, base_path))}",
                           ("extends",))
    if not base_path.exists():
        raise source.error(f"extended file {str(base_path)!r} does not exist", ("extends",))
    base, base_source = _read_experiment_file(base_path, chain + (path.resolve(),))
    for key in NOT_INHERITED:
        base.pop(key, None)
    for key, value in data.items():
        apply_override(base, key, value)
    source.base = base_source
    return base, source


# -- overrides -----------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def apply_override(data: dict, dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings (missing ones are created); an integer part indexes a list
    (``levels.0.q``)."""
    parts = dotted.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"cannot set {dotted!r}: {where!r} needs an index below {len(node)}")
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if not last and node.get(key) is None:
                node[key] = {}
        else:
            raise ConfigError(f"cannot set {dotted!r}: {'.'.join(parts[:depth])!r} is not a mapping or list")
        if last:
            node[key] = value
        else:
            node = node[key]


# -- validation errors -> one clear message ------------------------------------------------------
def _unwrap(annotation: Any) -> Any:
    """The model class inside Optional[...], dict[str, X], list[X]; else None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
        return None
    if origin in (dict, list):
        return _unwrap(typing.get_args(annotation)[-1])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = current.model_fields
        if part in fields:
            current = _unwrap(fields[part].annotation)
        # a dict key (population or projection name) keeps the value type
    return list(current.model_fields) if current is not None else []


def explain(err: ValidationError, model: type[BaseModel], source: Source, prefix: tuple = ()) -> ConfigError:
    # an unknown key usually explains a "missing" one (a typo), so report unknown keys first
    first = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(part for part in first["loc"] if not (isinstance(part, str) and "[" in part))
    if first["type"] == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        bad = loc[-1]
        message = f"unknown key {bad!r}{did_you_mean(bad, allowed)}; allowed: {', '.join(allowed)}"
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] == "literal_error":
        message = f"{first['input']!r} is not allowed: {first['msg'].replace('Input should be ', 'use ')}"
        choices = first.get("ctx", {}).get("expected", "").replace("'", "").split(" or ")
        message += did_you_mean(str(first["input"]), [c.strip() for part in choices for c in part.split(",")])
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and first["type"] not in ("value_error",):
            message += f" (got {first['input']!r})"
    return source.error(message, prefix + loc)


def validate_params(cls: type[BaseModel], data: Any, source: Source, loc: tuple, context: dict | None = None):
    """Validate a parameter object (model, rule, connector) and point errors at ``loc``; its full
    parameters (defaults filled in) are recorded for the resolved config."""
    try:
        obj = cls.model_validate(data if data is not None else {}, context=context)
    except ValidationError as err:
        raise explain(err, cls, source, loc) from None
    source.resolved[loc] = obj.model_dump(mode="json")
    return obj


def instantiate(raw: Any, namespace: str, source: Source, loc: tuple, context: dict | None = None,
                name_loc: tuple | None = None, kind: tuple[str, str] | None = None):
    """Instantiate a registry entry from ``name`` or ``{name: ..., params...}``, validating its
    parameters. ``kind`` = (attribute, value) refuses entries of another kind by name, e.g.
    ``("plugs_into", "dendritic_segments")`` for a rule."""
    from biosim import registry

    if isinstance(raw, str):
        name, params, name_loc = raw, {}, name_loc or loc
    else:
        params = dict(raw)
        name = params.pop("name", None)
        name_loc = name_loc or (*loc, "name")
        if name is None:
            allowed = ", ".join(_names_of_kind(namespace, kind))
            raise source.error(f"a {namespace} needs a 'name'; allowed: {allowed}", loc)
    try:
        cls = registry.get(namespace, name)
    except ValueError as err:
        if kind is None:
            raise source.error(str(err), name_loc) from None
        allowed = _names_of_kind(namespace, kind)  # only the entries that fit here
        raise source.error(f"unknown {namespace} {name!r}{did_you_mean(str(name), allowed)}; allowed here: "
                           f"{', '.join(allowed)}", name_loc) from None
    if kind is not None and getattr(cls, kind[0], None) != kind[1]:
        allowed = _names_of_kind(namespace, kind)
        raise source.error(f"{namespace} {name!r} {kind[0].replace('_', ' ')} {getattr(cls, kind[0], None)!r}, "
                           f"not {kind[1]!r}; allowed here: {', '.join(allowed)}", name_loc)
    obj = validate_params(cls, params, source, loc, context)
    if name_loc in (loc, (*loc, "name")):
        source.resolved[loc] = {"name": name, **source.resolved[loc]}
    return obj


def _names_of_kind(namespace: str, kind: tuple[str, str] | None) -> list[str]:
    from biosim import registry

    return [name for name in registry.names(namespace)
            if kind is None or getattr(registry.get(namespace, name), kind[0], None) == kind[1]]


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> tuple[ExperimentBase, Source]:
    """Read, override and validate an experiment file. Raises ConfigError; computes nothing."""
    path = Path(path)
    data, source = _read_experiment_file(path)
    pairs = [parse_override(text) for text in overrides or []]
    for key, value in pairs:
        if key == "variant":
            data["variant"] = value
    variant = data.get("variant")
    if variant is not None:
        variants = data.get("variants") or {}
        if variant not in variants:
            raise source.error(f"unknown variant {variant!r}{did_you_mean(str(variant), variants)}; "
                               f"allowed: {', '.join(variants) or '(none defined)'}", ("variant",))
        for key, value in variants[variant].items():
            apply_override(data, key, value)
    for key, value in pairs:
        if key != "variant":
            apply_override(data, key, value)
    load_plugins(data.get("plugins") or [], source)
    schema = family_of(data, source).schema
    try:
        return schema.model_validate(data), source
    except ValidationError as err:
        raise explain(err, schema, source) from None


def family_of(data: dict, source: Source):
    """The registered family class that an experiment's ``family`` key names."""
    from biosim import registry

    if "family" not in data:
        raise source.error(f"required key is missing; allowed: {', '.join(registry.names('family'))}", ("family",))
    try:
        return registry.get("family", str(data["family"]))
    except ValueError as err:
        raise source.error(str(err), ("family",)) from None


def load_plugins(plugins: list[Any], source: Source) -> None:
    """Import each plug-in: a ``.py`` file or a package folder, relative to the experiment file that lists it,
    or an importable module name. Its ``@register`` decorators add its entries (rules, families, plots, ...)."""
    import hashlib
    import importlib
    import importlib.util
    import sys

    if not isinstance(plugins, list):
        raise source.error("plugins is a list of module names, .py files or package folders", ("plugins",))
    folder = Path(source.holder("plugins").file).resolve().parent
    loaded = []
    for k, plugin in enumerate(plugins):
        text = str(plugin)
        path = (folder / text).resolve()
        try:
            if text.endswith(".py") or path.is_dir():
                loaded.append(str(path))
                init = path / "__init__.py" if path.is_dir() else path
                if not init.exists():
                    raise source.error(f"plug-in {str(init)!r} does not exist", ("plugins", k))
                name = f"biosim_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
                if name not in sys.modules:
                    spec = importlib.util.spec_from_file_location(
                        name, init, submodule_search_locations=[str(path)] if path.is_dir() else None)
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[name] = module
                    spec.loader.exec_module(module)
            else:
                loaded.append(text)
                importlib.import_module(text)
        except ImportError as err:
            raise source.error(f"cannot import plug-in {text!r}: {err}", ("plugins", k)) from None
    if loaded:
        source.resolved[("plugins",)] = loaded  # absolute, so a saved run finds them from anywhere
