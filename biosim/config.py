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
from biosim.units import TextFloat, TextInt, from_text

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
class TextLoader(yaml.SafeLoader):
    """YAML's safe loader whose numbers remember they were written as text (:func:`biosim.units.from_text`), so
    that a bare number for a quantity can be refused."""


def _text_number(make: Any) -> Any:
    return lambda loader, node: from_text(make(loader, node))


TextLoader.add_constructor("tag:yaml.org,2002:int", _text_number(yaml.SafeLoader.construct_yaml_int))
TextLoader.add_constructor("tag:yaml.org,2002:float", _text_number(yaml.SafeLoader.construct_yaml_float))
# ... and are written back as plain numbers
yaml.SafeDumper.add_representer(TextInt, yaml.SafeDumper.represent_int)
yaml.SafeDumper.add_representer(TextFloat, yaml.SafeDumper.represent_float)


def read_text_yaml(text: str) -> Any:
    """``text`` read as YAML with :class:`TextLoader`."""
    return yaml.load(text, Loader=TextLoader)  # noqa: S506  (a SafeLoader subclass)


MAX_KEYS = 200_000


def _line_map(node: yaml.Node, file: str, path: tuple = (), lines: dict | None = None,
              within: tuple[int, ...] = ()) -> dict[tuple, int]:
    """Line of every key; a key written twice in one mapping is an error naming both lines (YAML would
    silently keep the last value), and so is an alias inside the value it names (``within``: the nodes above)."""
    lines = {} if lines is None else lines
    if id(node) in within:
        raise ConfigError("a YAML alias (*name) is used inside the value it names, which makes it endless",
                          key=".".join(str(p) for p in path), file=file, line=node.start_mark.line + 1)
    within = (*within, id(node))
    lines.setdefault(path, node.start_mark.line + 1)
    if len(lines) > MAX_KEYS:  # aliases of aliases can expand a short file exponentially
        raise ConfigError(f"more than {MAX_KEYS} keys and list items (counting each use of an alias); an experiment "
                          "file describes objects, not data: read data from files", file=file)
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
            _line_map(value, file, child, lines, within)
    elif isinstance(node, yaml.SequenceNode):
        for k, value in enumerate(node.value):
            _line_map(value, file, (*path, k), lines, within)
    return lines


class Source:
    """Where a config came from, to point errors at a file and line, or at the command-line argument that set a
    key. ``base`` is the source of the file this one extends: a key this file does not set is reported there."""

    def __init__(self, file: str = "", lines: dict[tuple, int] | None = None, base: Source | None = None):
        self.file, self.lines, self.base = file, lines or {}, base
        self.resolved: dict[tuple, dict[str, Any]] = {}  # loc -> full parameters of the entry built there
        # keys set after the file was read, in order: (key parts, the command-line argument or this file's line key)
        self.writes: list[tuple[tuple[str, ...], str | tuple]] = []
        self.hints: dict[str, str] = {}  # argument -> what to add to its errors (a guess)

    def _writer(self, loc: tuple) -> str | tuple | None:
        """The last override (argument text) or variant (line key) that set ``loc`` or a mapping above it."""
        parts = tuple(str(part) for part in loc)
        found = None
        for key, origin in self.writes:
            if parts[:len(key)] == key:
                found = origin
        return found

    def error(self, message: str, loc: tuple = ()) -> ConfigError:
        key = ".".join(str(part) for part in loc)
        writer = self._writer(loc)
        if isinstance(writer, str):
            hint = self.hints.get(writer)
            return ConfigError(f"{message}; {hint}" if hint else message, key=key, argument=writer)
        if writer is None and loc and loc[:1] not in self.lines and self.base is not None and self.base.holds(loc[0]):
            return self.base.error(message, loc)
        if writer is not None:  # a variant's key, or a dotted key of a file that extends another
            line = self.lines.get(writer)
        else:  # the line of the key, or of the nearest mapping above it that the file writes
            line = next((self.lines[loc[:cut]] for cut in range(len(loc), -1, -1) if loc[:cut] in self.lines), None)
        below = [origin for parts, origin in self.writes
                 if isinstance(origin, str) and parts[:len(loc)] == tuple(str(p) for p in loc)]
        if below:  # a mapping some of whose keys came from the command line
            message += f" (with argument {', '.join(repr(text) for text in below)})"
        return ConfigError(message, key=key, file=self.file, line=line)

    def folder(self, loc: tuple) -> Path:
        """The folder a relative path at ``loc`` is resolved against: that of the file that wrote it, or the working
        directory for a command-line argument (or a Source without a file)."""
        writer = self._writer(loc)
        if isinstance(writer, str) or not self.file:
            return Path.cwd()
        if writer is None and loc and loc[:1] not in self.lines and self.base is not None and self.base.holds(loc[0]):
            return self.base.folder(loc)
        return Path(self.file).resolve().parent

    def holder(self, key: str) -> Source:
        """The source of the file that sets top-level ``key`` (this one, or one it extends)."""
        if (key,) not in self.lines and self.base is not None and self.base.holds(key):
            return self.base.holder(key)
        return self

    def holds(self, key: str) -> bool:
        """Whether this file, or one it extends, passes on top-level ``key``."""
        return key not in NOT_INHERITED and ((key,) in self.lines or (self.base is not None and self.base.holds(key)))


def _read_yaml(path: Path) -> tuple[dict, Source]:
    shown = str(path)
    if not path.exists():
        nearby = [p.name for p in path.parent.glob("*.y*ml")] if path.parent.is_dir() else []
        raise ConfigError(f"experiment file {shown!r} does not exist{did_you_mean(path.name, nearby)}")
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.yaml"))[:6]
        raise ConfigError(f"{shown!r} is a directory; give an experiment file (.yaml)"
                          + (f", e.g. one of: {', '.join(inside)}" if inside else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{shown!r} is not a text file; give a YAML experiment file such as experiments/cuba.yaml"
                          ) from None
    except OSError as err:
        raise ConfigError(f"cannot read {shown!r}: {err.strerror or err}") from None
    not_yaml = ConfigError(f"{shown!r} is not an experiment file (YAML, *.yaml); give e.g. experiments/cuba.yaml")
    try:
        data = read_text_yaml(text)
        node = yaml.compose(text)
    except yaml.YAMLError as err:
        if path.suffix not in (".yaml", ".yml"):
            raise not_yaml from None
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        raise ConfigError(f"not valid YAML: {problem}", file=shown, line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict) and path.suffix not in (".yaml", ".yml"):
        raise not_yaml
    if not isinstance(data, dict):
        raise ConfigError("an experiment file must be a mapping of keys (key: value lines), e.g. experiments/cuba.yaml",
                          file=shown)
    return data, Source(shown, _line_map(node, shown) if node is not None else {})


# Keys that describe one file and are not inherited by a file that ``extends`` it.
NOT_INHERITED = ("name", "description", "variants")


def read_experiment_file(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict, Source]:
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
    base, base_source = read_experiment_file(base_path, chain + (path.resolve(),))
    for key in NOT_INHERITED:
        base.pop(key, None)
    for key, value in data.items():
        created = apply_override(base, str(key), value)
        if "." in created:  # a dotted key sets one value inside the extended file's mapping
            source.writes.append((tuple(created.split(".")), (key,)))
    source.base = base_source
    return base, source


# -- overrides -----------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` -> (``"key.sub"``, the value read as YAML)."""
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise ConfigError("an override looks like key.sub=value, e.g. duration='2 s'", argument=text)
    key, value = text.split("=", 1)
    try:
        return key.strip(), read_text_yaml(value)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        raise ConfigError(f"the value is not valid YAML ({problem}); quote text, e.g. {key.strip()}='...'",
                          argument=text) from None


def apply_override(data: dict, dotted: str, value: Any) -> str:
    """Set ``a.b.c`` in nested mappings (missing ones are created); an integer part indexes a list
    (``levels.0.q``). Returns the part of ``dotted`` that was new (``a.b`` when ``b`` did not exist)."""
    parts = dotted.split(".")
    created = dotted
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
            if key not in node and created == dotted:
                created = where
            if not last and node.get(key) is None:
                node[key] = {}
        else:
            raise ConfigError(f"cannot set {dotted!r}: {'.'.join(parts[:depth])!r} is not a mapping or list")
        if last:
            node[key] = value
        else:
            node = node[key]
    return created


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
    loc += getattr(first.get("ctx", {}).get("error"), "loc", ())  # a KeyedValueError names its key
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
        message = first["msg"].removeprefix("Value error, ").replace("Input should be", "must be", 1)
        if "input" in first and first["type"] not in ("value_error",):
            message += f" (got {first['input']!r})"
    return source.error(message, prefix + loc)


def validate_params(cls: type[BaseModel], data: Any, source: Source, loc: tuple, context: dict | None = None):
    """Validate a parameter object (model, rule, connector) and point errors at ``loc``; its full
    parameters (defaults filled in) are recorded for the resolved config."""
    try:
        obj = cls.model_validate(data if data is not None else {},
                                 context={"source": source, "loc": loc, **(context or {})})
    except ValidationError as err:
        raise explain(err, cls, source, loc) from None
    source.resolved[loc] = dump_with_units(obj, (context or {}).get("weight_dimension"))
    return obj


def dump_with_units(obj: BaseModel, weight_dimension: str | None = None) -> dict[str, Any]:
    """``obj`` as JSON-able data that reads back as an experiment file: every quantity (a field with
    :class:`biosim.params.Unit` metadata) as text with its unit, exactly (``'0.1 ms'``), since a bare number from
    text is refused. A weight takes ``weight_dimension`` (the target's); without one it stays a number."""
    from biosim.params import Unit
    from biosim.units import format_quantity

    def walk(value: Any, dumped: Any) -> Any:
        if isinstance(value, BaseModel):
            out = dict(dumped)
            for name, field in type(value).model_fields.items():
                if name not in out:
                    continue
                unit = next((m for m in field.metadata if isinstance(m, Unit)), None)
                dimension = weight_dimension if unit and unit.dimension == "weight" else unit and unit.dimension
                field_value = getattr(value, name)
                if dimension and isinstance(field_value, float):
                    out[name] = format_quantity(field_value, dimension, exact=True)
                else:
                    out[name] = walk(field_value, out[name])
            return out
        if isinstance(value, list | tuple) and isinstance(dumped, list) and len(value) == len(dumped):
            return [walk(v, d) for v, d in zip(value, dumped, strict=True)]
        if isinstance(value, dict) and isinstance(dumped, dict):
            return {k: walk(value[k], d) if k in value else d for k, d in dumped.items()}
        return dumped

    return walk(obj, obj.model_dump(mode="json"))


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
    if not isinstance(name, str):
        allowed = ", ".join(_names_of_kind(namespace, kind))
        raise source.error(f"a {namespace} is named by text, not {name!r}; allowed: {allowed}", name_loc)
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
    """Read, override and validate an experiment file. Raises ConfigError; computes nothing. An error in a value
    set by an override names the command-line argument; one set by a variant, the variant's line."""
    path = Path(path)
    data, source = read_experiment_file(path)
    pairs = [(text, *parse_override(text)) for text in overrides or []]
    for text, key, value in pairs:
        if key.split(".")[0] == "variants":  # applied before the overrides: this one would be silently ignored
            _, name, sub = (key.split(".", 2) + ["NAME", "key"])[:3]
            raise ConfigError(f"a variant cannot be changed on the command line (variants are applied before "
                              f"overrides); set the key itself with the variant, e.g. variant={name} {sub}=...",
                              argument=text)
        if key == "variant":
            data["variant"] = value
            source.writes.append((("variant",), text))
    variant = data.get("variant")
    if variant is not None:
        variants = data.get("variants") or {}
        if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
            raise source.error("variants is a mapping of variant name -> {key: value, ...}", ("variants",))
        if not isinstance(variant, str) or variant not in variants:
            raise source.error(f"unknown variant {variant!r}{did_you_mean(str(variant), variants)}; "
                               f"allowed: {', '.join(variants) or '(none defined)'}", ("variant",))
        for key, value in variants[variant].items():
            created = apply_override(data, str(key), value)
            source.writes.append((tuple(created.split(".")), ("variants", variant, key)))
    for text, key, value in pairs:
        if key != "variant":
            try:
                created = apply_override(data, key, value)
            except ConfigError as err:
                raise ConfigError(str(err), argument=text) from None
            source.writes.append((tuple(created.split(".")), text))
            if created != key:  # a new entry: a typo of an existing one is more likely than a new population
                *above, new = created.split(".")
                parent = data
                for part in above:
                    parent = parent[int(part)] if isinstance(parent, list) else parent[part]
                guess = did_you_mean(new, [k for k in parent if k != new])
                source.hints[text] = f"{created!r} is a new entry{guess}" if guess else ""
    load_plugins(data.get("plugins") or [], source)
    schema = family_of(data, source).schema
    try:
        return schema.model_validate(data, context={"source": source, "loc": ()}), source
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
                    try:
                        spec.loader.exec_module(module)
                    except BaseException:  # not left half-initialised for the next load in this process
                        sys.modules.pop(name, None)
                        raise
            else:
                loaded.append(text)
                importlib.import_module(text)
        except ConfigError:
            raise
        except Exception as err:  # the plug-in's own code failed to import: one line, naming it
            raise source.error(f"cannot import plug-in {text!r}: {type(err).__name__}: {err}", ("plugins", k)) from None
    if loaded:
        source.resolved[("plugins",)] = loaded  # absolute, so a saved run finds them from anywhere
