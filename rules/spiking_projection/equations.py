"""Plasticity written as Brian2 ``Synapses`` equations and ``on_pre`` / ``on_post`` statements::

    rule:
      name: equations
      equations: |
        w : 1
        dapre/dt = -apre / tau_pre : 1 (event-driven)
        dapost/dt = -apost / tau_post : 1 (event-driven)
      on_pre: |
        apre += a_pre
        w = clip(w + apost, 0, w_max)
      on_post: |
        apost += a_post
        w = clip(w + apre, 0, w_max)
      parameters: {tau_pre: 20 ms, tau_post: 20 ms, a_pre: 0.0001, a_post: -0.000105, w_max: 0.01}

``w`` is the synaptic weight, declared in the unit of the projection's target. Brian2 parses the text and checks
every name and unit. An event-driven variable that decays as a trace (``dx/dt = -x / tau``, ``tau`` from the
parameters) and that one kind of spike changes by a constant (``x += c``, or ``x = c`` for nearest-spike
pairing) has the same value in every synapse of its neuron: biosim keeps it once per neuron as an engine trace,
integrated exactly (by exp(-dt/tau) per step, as Brian2 integrates it exactly between events) and read as ``c``
times the trace. A variable without dynamics (``x : 1``) is per synapse and starts at 0; a clock-driven one
(``dc/dt = -c / tau_c : 1 (clock-driven)``, ``w`` included) is per synapse and integrated every step by Brian2's
state updater for ``method``, before the step's spikes act (Brian2's schedule). Statements run per synapse in
their written order, so a trace reads its new value after the statement that changes it, as in Brian2. The
analysis is cached under a hash of the text, like an equation neuron's.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from biosim.engine.equations import analysis
from biosim.engine.equations.cache import cached_analysis
from biosim.engine.equations.generate import NUMPY_FUNCTIONS, render
from biosim.engine.equations.model import CompiledText, check_parameters, parameter_values
from biosim.engine.plasticity import Brian2Synapses, SpikingPlasticity, SpikingRule, Trace
from biosim.errors import KeyedValueError, did_you_mean
from biosim.registry import register
from biosim.units import dimension_name

_SIDES = ("on_pre", "on_post")
#: the functions a trace's tau or scale may call, evaluated in Python when the rule is built
_EVAL = {name: getattr(np, name) for name in analysis.FUNCTIONS if hasattr(np, name)} | {
    "clip": np.clip, "exprel": lambda x: np.expm1(x) / x if x else 1.0, "int": int}


@dataclass(frozen=True)
class SynapseCode:
    """A rule as the generator sees it. ``traces``: name -> (side ``on_pre``/``on_post``, tau and scale as
    expressions of the parameters, nearest); ``synapse_vars``: per-synapse variables other than ``w``;
    ``on_pre``/``on_post``: the statements; ``per_step``/``update``: Brian2's integration of the clock-driven
    equations over one step (loop invariants, statements per synapse; empty without any) by ``method``;
    ``constants``: units and other identifiers -> SI value."""

    shared: dict[str, str]
    weight: str
    traces: dict[str, tuple[str, str, str, bool]]
    synapse_vars: tuple[str, ...]
    on_pre: tuple[str, ...]
    on_post: tuple[str, ...]
    per_step: tuple[str, ...]
    update: tuple[str, ...]
    method: str
    constants: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SynapseCode:
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**{**data, "traces": {k: tuple(v) for k, v in data["traces"].items()}})


def analyse(equations: str, on_pre: str, on_post: str, method: str | None,
            shared: dict[str, tuple[float, tuple]]) -> SynapseCode:
    """Check a rule with Brian2 (a throw-away ``Synapses``) and classify its variables. Raises KeyedValueError."""
    import brian2 as b2
    from brian2.equations.equations import DIFFERENTIAL_EQUATION, PARAMETER
    from brian2.utils.logger import BrianLogger

    BrianLogger.suppress_name("unused_brian_object")  # the analysis objects never run
    eqs = analysis.parse_equations(b2, equations)
    lines = analysis.equation_lines(equations)
    if "w" not in eqs or "event-driven" in eqs["w"].flags:
        raise KeyedValueError("declare the synaptic weight as 'w : <unit>' (or with clock-driven dynamics), in the "
                              "unit of the projection's target (e.g. 'w : 1' or 'w : siemens')", ("equations",))
    if method is not None and method not in analysis.METHODS:
        raise KeyedValueError(f"unknown method {method!r}{did_you_mean(method, analysis.METHODS)}; allowed: "
                              f"{', '.join(analysis.METHODS)}", ("method",))
    for name, eq in eqs.items():
        where = repr(lines.get(name, name))
        if eq.type == DIFFERENTIAL_EQUATION and not {"event-driven", "clock-driven"} & set(eq.flags):
            raise KeyedValueError(f"{where}: mark it '(event-driven)' (integrated between spikes) or "
                                  f"'(clock-driven)' (every step)", ("equations",))
        if eq.type not in (DIFFERENTIAL_EQUATION, PARAMETER):
            raise KeyedValueError(f"{where}: subexpressions are not supported in rules; write the expression in "
                                  f"the statements", ("equations",))
        bad = set(eq.flags) - {"event-driven", "clock-driven", "constant"}
        if bad:
            raise KeyedValueError(f"{where}: flag {sorted(bad)[0]!r} is not supported in biosim's rules",
                                  ("equations",))
    clash = sorted(set(shared) & set(eqs))
    if clash:
        raise KeyedValueError(f"{clash[0]!r} is both a synaptic variable and a shared parameter; remove one",
                              ("parameters", clash[0]))
    namespace = {name: b2.Quantity(value, dim=b2.get_or_create_dimension((*dim, 0, 0, 0))) for name, (value, dim)
                 in shared.items()}
    group = b2.NeuronGroup(1, "", threshold="False", reset="")
    try:
        synapses = b2.Synapses(group, group, model=eqs, on_pre=on_pre or None, on_post=on_post or None,
                               namespace=namespace, method=method or ("exact", "euler", "heun"))
    except Exception as err:  # Brian2 raises EquationError, SyntaxError, ValueError
        raise KeyedValueError(analysis.brian2_message(err), ("equations",)) from None
    known = {**dict.fromkeys(eqs), **dict.fromkeys(shared)}
    for key, text in (("equations", equations), ("on_pre", on_pre), ("on_post", on_post)):
        _check_names(text, key, known, synapses)
        analysis.check_identifiers(b2, synapses, text, key, known, lines, owner="synapse")
    analysis.check_units(b2, synapses, eqs, lines)
    for key, text in (("on_pre", on_pre), ("on_post", on_post)):
        analysis.check_targets(text, eqs, key)
        analysis.check_statements(b2, text, analysis.variables_of(b2, synapses, text), eqs, key)
    traces = _traces(eqs, on_pre, on_post, set(shared))
    clocked = [name for name, eq in eqs.items() if "clock-driven" in eq.flags]
    (per_step, update), chosen = analysis.state_update(b2, synapses, method) if clocked else (((), ()),
                                                                                                   "none")
    code = "\n".join([on_pre, on_post, *per_step, *update,
                      *(part for trace in traces.values() for part in trace[1:3])])
    local = {*eqs, *shared, *analysis.BUILTINS, *analysis.python_names("\n".join((*per_step, *update)) or "0")}
    return SynapseCode(
        shared={name: dimension_name(dim) for name, (_, dim) in shared.items()},
        weight=dimension_name(tuple(int(x) for x in eqs["w"].dim._dims[:4])), traces=traces,
        synapse_vars=tuple(name for name in eqs if name != "w" and name not in traces),
        on_pre=tuple(analysis.statements(on_pre)), on_post=tuple(analysis.statements(on_post)),
        per_step=per_step, update=update, method=chosen,
        constants=analysis.constants_of(b2, synapses, code, local) if code.strip() else {})


def _check_names(text: str, key: str, known: dict, synapses) -> None:
    """Refuse what Brian2 knows but a compiled rule cannot read: neuron variables, time, indices, randomness."""
    from brian2.utils.stringtools import get_identifiers

    code = "\n".join(line.split(":")[0].partition("=")[2] for line in text.splitlines()) if key == "equations" \
        else text
    for name in sorted(get_identifiers(code)):
        if name in ("rand", "randn"):
            raise KeyedValueError(f"{name}() is not available in biosim's compiled rules", (key,))
        if name not in known and (name in synapses.variables or name.endswith(("_pre", "_post"))):
            raise KeyedValueError(f"the rule cannot read {name!r}: biosim's rules read their own variables, "
                                  f"parameters and units (the effect on the target is the projection's "
                                  f"'target:', not a statement){did_you_mean(name, list(known))}", (key,))


def _traces(eqs, on_pre: str, on_post: str, shared: set[str]) -> dict[str, tuple[str, str, str, bool]]:
    """Each event-driven variable as (side, tau, scale, nearest); refuses one that is not a trace."""
    import sympy
    from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

    form = "a trace: dx/dt = -x / tau (tau from the parameters), changed by one kind of spike by a constant"
    changes: dict[str, tuple[str, str, bool]] = {}
    for side, text in (("on_pre", on_pre), ("on_post", on_post)):
        for statement in analysis.statements(text):
            var, op, expr = re.match(r"(\w+)\s*(=|\+=|-=|\*=|/=)\s*(.*)", statement).groups()
            if var not in eqs or "event-driven" not in eqs[var].flags:
                continue
            if op not in ("+=", "=") or analysis.python_names(expr) & set(eqs):
                raise KeyedValueError(f"{statement!r}: biosim compiles {var} as {form} ('{var} += c', or "
                                      f"'{var} = c' for nearest-spike pairing)", (side,))
            if var in changes:
                other = "also in " + changes[var][0] if changes[var][0] != side else "twice"
                raise KeyedValueError(f"{statement!r}: {var} is changed {other}; biosim compiles it as {form}",
                                      (side,))
            changes[var] = (side, expr, op == "=")
    traces = {}
    for name, eq in eqs.items():
        if "event-driven" not in eq.flags:
            continue
        rhs = str_to_sympy(str(eq.expr))
        own = [s for s in rhs.free_symbols if s.name == name]
        rate = sympy.simplify(-rhs / own[0]) if own else None
        if rate is None or {s.name for s in rate.free_symbols} - shared - _units(rate):
            raise KeyedValueError(f"'d{name}/dt = {eq.expr}': biosim compiles an event-driven variable as {form}",
                                  ("equations",))
        if name not in changes:
            raise KeyedValueError(f"{name} is never changed by on_pre or on_post (it stays 0); remove it or give "
                                  f"it a '{name} += c'", ("equations",))
        side, scale, nearest = changes[name]
        traces[name] = (side, sympy_to_str(1 / rate), scale, nearest)
    return traces


def _units(expr) -> set[str]:
    """The symbols of ``expr`` that are Brian2 units (``ms``) rather than parameters."""
    import brian2 as b2

    return {s.name for s in expr.free_symbols if isinstance(getattr(b2, s.name, None), b2.Unit)}


def generate(code: SynapseCode) -> str:
    """The module source: ``Params`` and the kernels of the spiking-projection contract (see
    :mod:`biosim.engine.plasticity`): ``on_pre`` / ``on_post`` for the sides with statements beyond trace
    changes, ``on_step`` for clock-driven equations. User names become ``u_<name>`` (no clash with the kernel's
    own names or Brian2's temporaries, which start with '_')."""
    fields = (*code.shared, *(f"scale__{name}" for name in code.traces), *(("dt",) if code.update else ()))
    renames = {name: f"u_{name}" for name in (*code.shared, "w", *code.traces, *code.synapse_vars)}
    lines = ["# generated by biosim.rules.spiking_projection.equations; do not edit",
             "from collections import namedtuple", "", "from numba import njit",
             "from numpy import " + ", ".join(sorted(NUMPY_FUNCTIONS)), "",
             "from biosim.engine.equations.functions import clip, exp, exprel", "",
             f"Params = namedtuple('Params', {fields!r})"]
    rows = {"pre": [t for t, v in code.traces.items() if v[0] == "on_pre"],
            "post": [t for t, v in code.traces.items() if v[0] == "on_post"]}
    for side in (*_SIDES, "on_step"):
        if side == "on_step" and not code.update or side != "on_step" and not _has_kernel(code, side):
            continue
        body = [render(line, code.constants, [], renames=renames) for line in
                (code.update if side == "on_step" else getattr(code, side))]
        prologue = [render(line, code.constants, [], renames=renames) for line in code.per_step] \
            if side == "on_step" else []
        names = analysis.python_names("\n".join([*prologue, *body]))
        lines += ["", "", "@njit(cache=True, error_model='numpy')", f"def {side}{_SIGNATURES[side]}:"]
        lines += ["    dt = p.dt"] if side == "on_step" else []
        lines += [f"    u_{name} = p.{name}" for name in code.shared if f"u_{name}" in names]
        lines += ["    " + line for line in prologue]
        lines += _LOOPS[side]
        ind = " " * 8
        lines += [f"{ind}u_w = w[s]"] if "u_w" in names else []
        lines += [f"{ind}u_{name} = syn[{r}, s]" for r, name in enumerate(code.synapse_vars) if f"u_{name}" in names]
        for trace_side, neuron in (("pre", "i"), ("post", "j")):
            lines += [f"{ind}u_{name} = p.scale__{name} * {trace_side}_tr[{r}, {neuron}]"
                      for r, name in enumerate(rows[trace_side]) if f"u_{name}" in names]
        lines += [ind + line for line in body]
        written = {re.match(r"(\w+)", line).group(1) for line in body}
        lines += [f"{ind}w[s] = u_w"] if "u_w" in written else []
        lines += [f"{ind}syn[{r}, s] = u_{name}" for r, name in enumerate(code.synapse_vars)
                  if f"u_{name}" in written]
    return "\n".join(lines) + "\n"


_SIGNATURES = {"on_pre": "(i, lo, hi, post_idx, w, syn, pre_tr, post_tr, p)",
               "on_post": "(j, lo, hi, col_syn, col_pre, w, syn, pre_tr, post_tr, p)",
               "on_step": "(w, syn, p, modulator)"}
_LOOPS = {"on_pre": ["    for s in range(lo, hi):", "        j = post_idx[s]"],
          "on_post": ["    for k in range(lo, hi):", "        s = col_syn[k]", "        i = col_pre[k]"],
          "on_step": ["    for s in range(w.shape[0]):"]}


def _has_kernel(code: SynapseCode, side: str) -> bool:
    """Whether ``side``'s statements do more than change traces (which the engine bumps itself)."""
    return any(re.match(r"(\w+)", line).group(1) not in code.traces for line in getattr(code, side))


@register("rule", "equations")
class EquationRule(CompiledText, SpikingRule):
    """Plasticity written as Brian2 Synapses equations with on_pre / on_post statements; ``w`` is the weight."""

    reads: ClassVar[str] = "the traces and per-synapse variables its equations declare"
    equations: str = Field(..., description="synaptic variables, one per line in Brian2's syntax: 'w : <unit>' "
                                            "and traces 'dx/dt = -x / tau : 1 (event-driven)'")
    on_pre: str = Field("", description="statements at a presynaptic spike, e.g. 'apre += a_pre; w += apost'")
    on_post: str = Field("", description="statements at a postsynaptic spike")
    method: str | None = Field(None, description="integration of clock-driven equations (exact, euler, rk4, ...; "
                                                 "Brian2's choice when omitted)")
    parameters: dict[str, Any] = Field({}, description="shared parameters with units, e.g. {tau_pre: 20 ms}")
    _code: SynapseCode | None = PrivateAttr(None)
    _module: Any = PrivateAttr(None)

    _parameters = field_validator("parameters")(check_parameters)

    @model_validator(mode="after")
    def _analyse(self, info: ValidationInfo) -> EquationRule:
        code = self.compiled()[0]
        expected = (info.context or {}).get("weight_dimension")
        if expected is not None:
            try:
                self.check_weight_dimension(expected)
            except ValueError as err:
                raise KeyedValueError(str(err), ("equations",)) from None
        for name, (_, tau, _, _) in code.traces.items():
            if not self._evaluate(tau) > 0:
                raise KeyedValueError(f"the time constant of {name} ({tau}) must be > 0", ("parameters",))
        return self

    def check_weight_dimension(self, dimension: str) -> None:
        weight = self.compiled()[0].weight
        if weight != dimension:
            raise ValueError(f"'w' is declared in {weight} but the projection's target takes weights in {dimension}")

    def compiled(self) -> tuple[SynapseCode, Any]:
        """The analysed rule and its generated module (``Params``, kernels)."""
        from biosim.engine.codegen import load_source

        if self._code is None:
            shared = parameter_values(self.parameters)
            parts = [self.equations, self.on_pre, self.on_post, self.method,
                     sorted((n, list(d)) for n, (_, d) in shared.items())]
            self._code = cached_analysis("synapses", parts, lambda: analyse(self.equations, self.on_pre,
                                                                            self.on_post, self.method, shared),
                                         SynapseCode.from_json, (Path(__file__), Path(analysis.__file__)))
            self._module = load_source(generate(self._code), "synapses")
        return self._code, self._module

    def _evaluate(self, expression: str) -> float:
        """An expression of the parameters (SI), e.g. a trace's tau or scale."""
        values = {name: value for name, (value, _) in parameter_values(self.parameters).items()}
        tree = ast.parse(expression, mode="eval")
        return float(eval(compile(tree, "<rule>", "eval"), {"__builtins__": {}},  # noqa: S307 (parsed by Brian2)
                          {**_EVAL, **self.compiled()[0].constants, **values}))


@register("builder", "equations/numba")
def equations_numba(rule: EquationRule, dt: float) -> SpikingPlasticity:
    """The generated kernels, one engine trace per trace variable, and the parameter record."""
    code, module = rule.compiled()
    traces = {side: tuple(Trace(rule._evaluate(tau), nearest) for (s, tau, _, nearest) in code.traces.values()
                          if s == side) for side in _SIDES}
    values = {name: value for name, (value, _) in parameter_values(rule.parameters).items()}
    scales = {f"scale__{name}": rule._evaluate(scale) for name, (_, _, scale, _) in code.traces.items()}
    kernels = [getattr(module, side) if _has_kernel(code, side) else None for side in _SIDES]
    clock = {"dt": dt} if code.update else {}
    return SpikingPlasticity(*kernels, module.on_step if code.update else None, traces["on_pre"], traces["on_post"],
                             code.synapse_vars, module.Params(**values, **scales, **clock))


@register("builder", "equations/brian2")
def equations_brian2(rule: EquationRule, unit: str) -> Brian2Synapses:
    """The same text for Brian2, the weight renamed ``w_syn`` (its unit is the target's ``unit``: checked)."""
    code = rule.compiled()[0]
    model, on_pre, on_post = (re.sub(r"\bdw/dt", "dw_syn/dt", re.sub(r"\bw\b", "w_syn", text))
                              for text in (rule.equations, rule.on_pre, rule.on_post))
    namespace = {name: (value, code.shared[name]) for name, (value, _) in parameter_values(rule.parameters).items()}
    return Brian2Synapses(model, on_pre, on_post, namespace, code.method if code.update else None)
