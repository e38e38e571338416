"""Analyse a neuron model written as Brian2 equations with Brian2's own machinery.

Brian2 parses the equations, resolves every identifier, checks every unit and writes the state update of the
chosen integration method as abstract code (scalar statements for one neuron). :func:`analyse` runs those steps
on a throw-away ``NeuronGroup`` and returns a :class:`ModelCode`: what biosim's code generator needs, in plain
data (it is cached as JSON, so a second process never imports Brian2 for a model it has seen). Every mistake is a
:class:`~biosim.errors.KeyedValueError` naming the key (``equations``, ``threshold``, ``reset``, ``refractory``,
``method``, ``parameters``), the equation's line and, for unit errors, the term and the dimensions found.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from typing import Any

from biosim.errors import KeyedValueError, did_you_mean
from biosim.units import Dim, dimension_name, si_unit

#: Brian2 functions the generated Numba code implements (see ``biosim.engine.equations.generate``)
FUNCTIONS = ("exp", "log", "log10", "expm1", "log1p", "exprel", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
             "arcsin", "arccos", "arctan", "abs", "sign", "floor", "ceil", "clip", "int", "rand", "randn")
#: integration methods (Brian2's names)
METHODS = ("exact", "linear", "exponential_euler", "euler", "rk2", "rk4", "heun", "milstein")
#: names every model can read: time, step, index, population size
BUILTINS = ("t", "dt", "i", "N")
NOT_REFRACTORY = "not_refractory"
#: the hidden state row of a refractory condition: the last step (s / dt) at which the neuron was refractory
REFRACTORY_STEP = "refractory_step"


@dataclass(frozen=True)
class ModelCode:
    """A neuron model as the code generator sees it (dimensions are names :func:`biosim.units.dimension_of`
    reads). ``state``: every per-neuron variable (rows of the state array) in written order; ``shared``: the
    shared parameters (fields of the kernel record); ``per_step``: Brian2's loop invariants, computed once per
    step; ``update``: the statements of one step for one neuron (``not_refractory`` already known);
    ``subexpressions``: name -> expression, in dependency order;
    ``refractory``: ``""`` (none), ``"time"`` (a period, the record's ``ref`` in steps) or a boolean condition
    that ends refractoriness; ``constants``: other identifiers (units such as ``mV``) -> SI value."""

    state: dict[str, str]
    shared: dict[str, str]
    per_step: tuple[str, ...]
    update: tuple[str, ...]
    threshold: str
    reset: tuple[str, ...]
    subexpressions: dict[str, str]
    refractory: str
    clamped: tuple[str, ...]
    targets: tuple[str, ...]
    constants: dict[str, float]
    method: str

    def to_json(self) -> dict[str, Any]:
        """Plain data (the analysis cache)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCode:
        """The inverse of :meth:`to_json`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def analyse(equations: str, threshold: str, reset: str, refractory: float | str, method: str | None,
            shared: dict[str, tuple[float, Dim]]) -> ModelCode:
    """Check and integrate a model: ``refractory`` is a period (s; 0: none) or a boolean condition; ``shared``
    maps parameter names to (SI value, dimension). Raises KeyedValueError."""
    import brian2 as b2
    from brian2.equations.equations import DIFFERENTIAL_EQUATION, SUBEXPRESSION
    from brian2.utils.logger import BrianLogger

    for name in ("unused_brian_object", "method_choice", "no_refractory"):  # analysis groups never run
        BrianLogger.suppress_name(name)
    eqs = parse_equations(b2, equations)
    lines = equation_lines(equations)
    for name, eq in eqs.items():
        bad = set(eq.flags) - {"constant", "unless refractory"}
        if bad:
            raise KeyedValueError(f"{lines.get(name, name)!r}: flag {sorted(bad)[0]!r} is not supported; a value "
                                  f"shared by all neurons is a parameter (parameters: {{{name}: ...}})",
                                  ("equations",))
        if any(tuple(eq.dim._dims)[4:]):
            raise KeyedValueError(f"{lines.get(name, name)!r}: biosim's units are built from m, kg, s and A; "
                                  f"{name} is in {eq.dim}", ("equations",))
    reserved = sorted(set(shared) & {"ref", "noise_key"})
    if reserved:
        raise KeyedValueError(f"{reserved[0]!r} is a field of biosim's compiled parameter record; rename the "
                              f"parameter", ("parameters", reserved[0]))
    clash = sorted(set(shared) & set(eqs))
    if clash:
        raise KeyedValueError(f"{clash[0]!r} is both a model variable and a shared parameter; remove one",
                              ("parameters", clash[0]))
    if method is not None and method not in METHODS:
        raise KeyedValueError(f"unknown method {method!r}{did_you_mean(method, METHODS)}; allowed: "
                              f"{', '.join(METHODS)}", ("method",))
    namespace = {name: b2.Quantity(value, dim=b2.get_or_create_dimension((*dim, 0, 0, 0))) for name, (value, dim)
                 in shared.items()}
    condition = refractory if isinstance(refractory, str) else ""
    group = b2.NeuronGroup(1, eqs, threshold=threshold, reset=reset or None, namespace=namespace,
                           refractory=condition or (refractory * b2.second if refractory > 0 else False),
                           method=method or ("exact", "euler", "heun"))
    check_targets(reset, eqs)
    known = {**dict.fromkeys(eqs), **dict.fromkeys(shared)}
    for key, text in (("equations", equations), ("threshold", threshold), ("reset", reset),
                      ("refractory", condition)):
        check_identifiers(b2, group, text, key, known, lines)
    check_units(b2, group, eqs, lines)
    variables = variables_of(b2, group, " ".join((threshold, reset, condition)))
    _check_condition(b2, threshold, variables, "threshold")
    if condition:
        _check_condition(b2, condition, variables, "refractory")
    check_statements(b2, reset, variables, eqs)
    (per_step, update), chosen = state_update(b2, group, method)
    subexpressions = {name: str(eq.expr) for name, eq in eqs.items() if eq.type == SUBEXPRESSION}
    state = {name: dimension_name(tuple(eq.dim._dims[:4])) for name, eq in eqs.items() if eq.type != SUBEXPRESSION}
    code = "\n".join((*per_step, *update, threshold, reset, condition, *subexpressions.values()))
    return ModelCode(
        state=state, shared={name: dimension_name(dim) for name, (_, dim) in shared.items()}, per_step=per_step,
        update=update,
        threshold=threshold, reset=tuple(line for line in statements(reset)), subexpressions=subexpressions,
        refractory=condition or ("time" if refractory > 0 else ""),
        clamped=tuple(name for name, eq in eqs.items() if "unless refractory" in eq.flags),
        targets=tuple(name for name, eq in eqs.items() if eq.type == DIFFERENTIAL_EQUATION),
        constants=constants_of(b2, group, code, {*state, *shared, *subexpressions, *BUILTINS, NOT_REFRACTORY,
                                               *_assigned(per_step + update)}),
        method=chosen if any(eq.type == DIFFERENTIAL_EQUATION for eq in eqs.values()) else "none")


def parse_equations(b2, text: str):
    try:
        return b2.Equations(text)
    except Exception as err:  # Brian2 raises EquationError, SyntaxError, ValueError, TypeError
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.split("#")[0].strip()
            if stripped:
                try:
                    b2.Equations(stripped)
                except Exception as line_err:
                    raise KeyedValueError(f"line {number} {stripped!r}: {brian2_message(line_err)}",
                                          ("equations",)) from None
        raise KeyedValueError(brian2_message(err), ("equations",)) from None


def brian2_message(err: Exception) -> str:
    text = str(err).strip().strip("'\"")
    return re.sub(r"\s+", " ", text.split("\n\n")[0])


def equation_lines(text: str) -> dict[str, str]:
    """Variable name -> the line (with its number) that defines it, for messages."""
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#")[0].strip()
        match = re.match(r"d(\w+)\s*/\s*dt\s*=|(\w+)\s*[=:]", stripped)
        if match:
            found[match.group(1) or match.group(2)] = f"line {number}: {stripped}"
    return found


def _resolvable(group, name: str) -> bool:
    try:
        group.resolve_all([name], run_namespace={}, user_identifiers=set())
    except KeyError:
        return False
    return True


def check_identifiers(b2, group, text: str, key: str, known: dict, lines: dict[str, str],
                      owner: str = "neuron") -> None:
    """Every name of ``text`` is known (a variable, parameter, function, builtin or Brian2 unit); an unknown one
    gets a did-you-mean or says where a parameter (shared, or per ``owner``) is declared."""
    from brian2.utils.stringtools import get_identifiers

    if not text:
        return
    candidates = [*known, *FUNCTIONS, *BUILTINS]
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#")[0]
        if key == "equations":  # the right-hand side: not the unit and flags after ':'
            code = code.split(":")[0].partition("=")[2]
        for name in sorted(get_identifiers(code) - set(known) - set(BUILTINS) - {"xi"}):
            if name.startswith("xi_") or _resolvable(group, name):
                continue
            where = f"line {number} {line.strip()!r}: " if key == "equations" else ""
            hint = did_you_mean(name, candidates) or (f" (a shared parameter goes under 'parameters', a per-{owner} "
                                                      f"one is declared in the equations as '{name} : <unit>')")
            raise KeyedValueError(f"{where}unknown name {name!r}{hint}", (key,))


def check_units(b2, group, eqs, lines: dict[str, str]) -> None:
    from brian2.equations.equations import DIFFERENTIAL_EQUATION
    from brian2.parsing.expressions import parse_expression_dimensions

    for name, eq in eqs.items():
        if eq.expr is None:
            continue
        variables = variables_of(b2, group, str(eq.expr))
        try:
            found = parse_expression_dimensions(str(eq.expr), variables)
        except b2.DimensionMismatchError as err:
            raise KeyedValueError(f"{lines.get(name, name)!r}: {brian2_message(err)}", ("equations",)) from None
        expected = eq.dim / b2.second.dim if eq.type == DIFFERENTIAL_EQUATION else eq.dim
        if found is not expected:
            what = f"d{name}/dt" if eq.type == DIFFERENTIAL_EQUATION else name
            hint = " (a rate: divide by a time constant?)" if eq.type == DIFFERENTIAL_EQUATION \
                and found is eq.dim else ""
            raise KeyedValueError(f"{lines.get(name, name)!r}: the right-hand side {str(eq.expr)!r} is in "
                                  f"{unit_text(found)} but {what} is in {unit_text(expected)}{hint}",
                                  ("equations",))


def unit_text(dim) -> str:
    """A Brian2 dimension as a unit people read: ``V``, ``V/s``, ``A``, else SI base units."""
    exponents = tuple(int(x) for x in tuple(dim._dims)[:4])
    per_second = (*exponents[:2], exponents[2] + 1, exponents[3])  # the quantity times a second
    if si_unit(exponents) in ("", "s") or "^" not in si_unit(exponents) or "^" in si_unit(per_second):
        return si_unit(exponents) or "1 (dimensionless)"
    return f"{si_unit(per_second)}/s"


def variables_of(b2, group, text: str) -> dict:
    from brian2.utils.stringtools import get_identifiers

    names = get_identifiers(text) | set(group.variables)
    for eq in group.equations.values():  # what the subexpressions read
        names |= eq.identifiers
    return group.resolve_all(names, run_namespace={}, user_identifiers=set())


def _check_condition(b2, text: str, variables: dict, key: str) -> None:
    from brian2.parsing.expressions import is_boolean_expression, parse_expression_dimensions

    try:
        parse_expression_dimensions(text, variables)
        boolean = is_boolean_expression(text, variables)
    except b2.DimensionMismatchError as err:
        sides = [node for node in ast.walk(ast.parse(text, mode="eval")) if isinstance(node, ast.Compare)]
        for node in sides:
            left, right = ast.unparse(node.left), ast.unparse(node.comparators[0])
            try:
                dims = [parse_expression_dimensions(side, variables) for side in (left, right)]
            except b2.DimensionMismatchError:  # the mismatch is inside one side
                continue
            if dims[0] is not dims[1]:
                raise KeyedValueError(f"{text!r} compares quantities in different units: {left!r} is in "
                                      f"{unit_text(dims[0])}, {right!r} in {unit_text(dims[1])}", (key,)) from None
        raise KeyedValueError(f"{text!r}: {brian2_message(err)}", (key,)) from None
    except SyntaxError as err:
        raise KeyedValueError(f"{text!r} is not an expression: {err.msg}", (key,)) from None
    if not boolean:
        example = "'v > v_th'" if key == "threshold" else "a time ('2 ms') or a condition ('v > v_th')"
        raise KeyedValueError(f"{text!r} is not a boolean condition; write e.g. {example}", (key,))


def statements(text: str) -> list[str]:
    return [part.strip() for line in text.splitlines() for part in line.split("#")[0].split(";") if part.strip()]


def check_targets(text: str, eqs, key: str = "reset") -> None:
    """Every statement of ``text`` assigns one of ``eqs``' variables."""
    for statement in statements(text):
        match = re.match(r"(\w+)\s*(=|\+=|-=|\*=|/=)", statement)
        if match is None or match.group(1) not in eqs:
            target = match.group(1) if match else statement
            raise KeyedValueError(f"{statement!r} must assign a model variable (var = ..., var += ...); "
                                  f"{target!r} is not one{did_you_mean(target, list(eqs))}", (key,))


def check_statements(b2, text: str, variables: dict, eqs, key: str = "reset") -> None:
    """Brian2's unit check of every statement, reported with the dimensions of both sides."""
    from brian2.equations.unitcheck import check_units_statements
    from brian2.parsing.expressions import parse_expression_dimensions

    for statement in statements(text):
        var, op, expr = re.match(r"(\w+)\s*(=|\+=|-=|\*=|/=)\s*(.*)", statement).groups()
        try:
            check_units_statements(statement, variables)
        except b2.DimensionMismatchError as err:
            try:
                found = parse_expression_dimensions(expr, variables) if op in ("=", "+=", "-=") else None
            except b2.DimensionMismatchError:  # the mismatch is inside the expression
                found = None
            if found is not None:
                raise KeyedValueError(f"{statement!r}: {var} is in {unit_text(eqs[var].dim)} but {expr!r} is in "
                                      f"{unit_text(found)}", (key,)) from None
            raise KeyedValueError(f"{statement!r}: {brian2_message(err)}", (key,)) from None
        except SyntaxError as err:
            raise KeyedValueError(f"{statement!r} is not a statement: {err.msg}", (key,)) from None


def state_update(b2, group, method: str | None) -> tuple[tuple, str]:
    """Brian2's state update of one step (see :func:`optimised`) and the method it used."""
    from brian2.stateupdaters.base import UnsupportedEquationsException

    candidates = (method,) if method else ("exact", "euler", "heun")  # Brian2's default choice, in its order
    for chosen in candidates:
        group.state_updater.method_choice = chosen
        try:
            group.state_updater.update_abstract_code(run_namespace={})
            break
        except UnsupportedEquationsException as err:
            if chosen == candidates[-1]:
                others = ", ".join(m for m in METHODS if m not in ("exact", "linear", method))
                raise KeyedValueError(f"method {chosen!r} cannot integrate these equations: "
                                      f"{brian2_message(err)}; choose one of {others}", ("method",)) from None
    return optimised(b2, group, group.state_updater.abstract_code), chosen


def optimised(b2, group, abstract_code: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Brian2's loop-invariant optimisation of the abstract code: (statements computed once per step,
    statements per neuron). A statement that reads ``not_refractory`` becomes a select between Brian2's two
    simplified forms; the ``not_refractory`` update itself is left to the generator."""
    import numpy as np
    from brian2.codegen.translation import make_statements
    from brian2.utils.stringtools import get_identifiers

    names = {name for name in get_identifiers(abstract_code) if not name.startswith("_")} | set(group.variables)
    variables = group.resolve_all(names, run_namespace={}, user_identifiers=set())
    scalar, vector = make_statements(abstract_code, variables, np.float64, optimise=True)

    def line(statement) -> str:
        expr = statement.expr
        forms = statement.boolean_simplified_expressions
        if statement.used_boolean_variables == [NOT_REFRACTORY] and forms:
            free, frozen = forms[((NOT_REFRACTORY, True),)], forms[((NOT_REFRACTORY, False),)]
            expr = f"({free}) if {NOT_REFRACTORY} else ({frozen})"
        return f"{statement.var} {'=' if statement.op == ':=' else statement.op} {expr}"

    per_neuron = [line(st) for st in vector if st.var != NOT_REFRACTORY]
    per_step = [line(st) for st in scalar]
    used = python_names("\n".join(per_neuron))
    kept: list[str] = []
    for text in reversed(per_step):  # drop the constants only the refractory test read (its timestep)
        if text.split()[0] in used:
            kept.append(text)
            used |= python_names(text)
    return tuple(reversed(kept)), tuple(per_neuron)


def python_names(code: str) -> set[str]:
    """Every name that Python code (statements or an expression, one per line) reads or writes."""
    return {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}


def _assigned(statements: tuple[str, ...]) -> set[str]:
    return {re.match(r"(\w+)", s).group(1) for s in statements}


def constants_of(b2, group, code: str, local: set[str]) -> dict[str, float]:
    """Identifiers that are neither variables nor functions (units, physical constants) -> SI value."""
    from brian2.core.functions import Function

    values = {}
    for name, obj in group.resolve_all(python_names(code) - local, run_namespace={},
                                       user_identifiers=set()).items():
        if isinstance(obj, Function):
            if name not in FUNCTIONS:
                raise KeyedValueError(f"function {name!r} is not available in biosim's compiled models; available: "
                                      f"{', '.join(FUNCTIONS)}", ("equations",))
            continue
        values[name] = float(obj.get_value())
    return values
