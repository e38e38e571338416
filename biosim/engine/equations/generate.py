"""Turn a :class:`~biosim.engine.equations.analysis.ModelCode` into the Numba kernels of the engine's neuron
contract (``update`` and ``reset``, see :mod:`biosim.engine.neurons`) and their parameter record.

Brian2's abstract code is scalar Python for one neuron; it is pasted into a loop over the population between a
load of the state variables it reads and a store of those it writes, with identifiers renamed where needed:
shared parameters come from the record (runtime data: a sweep never recompiles), units become literals, and
``rand()`` / ``randn()`` become counter-based draws keyed by (noise key, step, neuron, call site).
"""

from __future__ import annotations

import ast
import re

from biosim.engine.equations.analysis import FUNCTIONS, NOT_REFRACTORY, REFRACTORY_STEP, ModelCode, python_names
from biosim.errors import KeyedValueError

#: Brian2 functions taken from NumPy by the generated code
NUMPY_FUNCTIONS = {"log", "log10", "expm1", "log1p", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin",
                   "arccos", "arctan", "sign", "floor", "ceil"}
_OWN = {"clip", "exp", "exprel"}  # exp and exprel: vectorisable (biosim.engine.equations.functions)
_RANDOM = {"rand", "randn"}
_RESET_SITE = 1 << 20  # call sites of random draws in the reset are numbered from here
assert NUMPY_FUNCTIONS | _OWN | _RANDOM | {"abs", "int"} == set(FUNCTIONS)


class _Rewrite(ast.NodeTransformer):
    """Units to literals, names renamed; ``rand()``/``randn()`` to counter-based draws, one call site each."""

    def __init__(self, constants: dict[str, float], sites: list[int], step: str, renames: dict[str, str]):
        self.constants, self.sites, self.step, self.renames = constants, sites, step, renames

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.renames:
            return ast.copy_location(ast.Name(self.renames[node.id], node.ctx), node)
        if node.id in self.constants:
            return ast.copy_location(ast.Constant(self.constants[node.id]), node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in _RANDOM:
            site = self.sites[0]
            self.sites[0] += 2 if node.func.id == "randn" else 1  # randn uses the uniforms of two sites
            args = [ast.Name("_noise_key"), ast.Name(self.step), ast.Name("i"), ast.Constant(site)]
            return ast.copy_location(ast.Call(ast.Name(f"_{node.func.id}"), args, []), node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        """``exp(a) ** b`` (SymPy's form of e^(a b)) as ``exp(a * b)``: one exp instead of an exp and a pow."""
        self.generic_visit(node)
        left = node.left
        if isinstance(node.op, ast.Pow) and isinstance(left, ast.Call) and isinstance(left.func, ast.Name) \
                and left.func.id == "exp" and len(left.args) == 1:
            product = ast.BinOp(left.args[0], ast.Mult(), node.right)
            return ast.copy_location(ast.Call(left.func, [product], []), node)
        return node


def render(code: str, constants: dict[str, float], sites: list[int], step: str = "_step",
           renames: dict[str, str] | None = None) -> str:
    """Brian2 abstract code as Numba-compilable Python (see :class:`_Rewrite`)."""
    tree = _Rewrite(constants, sites, step, renames or {}).visit(ast.parse(code))
    return ast.unparse(ast.fix_missing_locations(tree))


def _needed_subexpressions(code: str, subexpressions: dict[str, str]) -> list[str]:
    """The subexpressions ``code`` reads, directly or through others, in dependency order."""
    needed, pending = set(), python_names(code) & set(subexpressions)
    while pending:
        name = pending.pop()
        needed.add(name)
        pending |= (python_names(subexpressions[name]) & set(subexpressions)) - needed
    return [name for name in subexpressions if name in needed]


def record_fields(model: ModelCode) -> tuple[str, ...]:
    """Fields of the kernel's parameter record: ``ref`` (steps), ``dt`` (s), ``noise_key``, then the shared
    parameters (SI)."""
    return ("ref", "dt", "noise_key", *model.shared)


def rows(model: ModelCode) -> dict[str, int]:
    """State array rows: the model's variables, then (for a condition) the hidden last refractory step."""
    names = list(model.state)
    if model.refractory not in ("", "time"):
        names.append(REFRACTORY_STEP)
    return {name: k for k, name in enumerate(names)}


def _loads(model: ModelCode, indent: str, names: set[str], rows_too: bool = True) -> list[str]:
    """Shared parameters used by ``names`` and (``rows_too``) the state rows of ``_S``."""
    lines = [f"{indent}{name} = _P.{name}" for name in model.shared if name in names]
    if rows_too:
        lines += [f"{indent}_row_{name} = _S[{k}]" for name, k in rows(model).items()]
    return lines


def _step_body(update: list[str], written: list[str], threshold_code: list[str], threshold: str,
               condition_code: list[str], condition: str, refractory: str) -> list[str]:
    """One neuron's step after its loads: refractoriness, the update, stores, the threshold, at position ``_k``
    of the thread's block (neuron ``i = _lo + _k``). The kernel's own names start with '_' (a model's names
    cannot), except Brian2's builtins t, dt, i and N."""
    if refractory == "time":
        lines = [f"{NOT_REFRACTORY} = _step - _block_last[_k] >= _ref"]
    elif condition:  # Brian2: refractory from the spike until the condition first fails
        lines = [*condition_code,
                 f"{NOT_REFRACTORY} = _row_{REFRACTORY_STEP}[_k] < _step - 1 or not ({condition})"]
    else:
        lines = [f"{NOT_REFRACTORY} = True"]
    lines += update
    lines += [f"_row_{name}[_k] = {name}" for name in written]
    lines += threshold_code
    lines.append(f"_spiked = ({threshold}) & {NOT_REFRACTORY}")
    lines.append("_block_flags[_k] = _spiked")  # branch-free, so LLVM can vectorise the loop
    if condition:
        lines += [f"if _spiked or not {NOT_REFRACTORY}:", f"    _row_{REFRACTORY_STEP}[_k] = _step"]
    return lines


def generate(model: ModelCode) -> str:
    """The module source: ``Params`` (the record type), ``update`` and ``reset``."""
    constants = model.constants
    sites = [0]
    per_step = [render(line, constants, sites) for line in model.per_step]
    update = [render(line, constants, sites) for line in model.update]
    thr_subs = _needed_subexpressions(model.threshold, model.subexpressions)
    threshold_code = [f"{name} = {render(model.subexpressions[name], constants, sites)}" for name in thr_subs]
    threshold = render(model.threshold, constants, sites)
    refractory = model.refractory
    condition = render(refractory, constants, sites) if refractory not in ("", "time") else ""
    condition_code = [f"{name} = {render(model.subexpressions[name], constants, sites)}"
                      for name in _needed_subexpressions(condition, model.subexpressions)] if condition else []

    reset_sites = [_RESET_SITE]
    reset_text = "\n".join(model.reset)
    for forbidden in ("t", "rand", "randn", "dt"):
        if forbidden in python_names(reset_text) | {n for s in _needed_subexpressions(reset_text, model.subexpressions)
                                              for n in python_names(model.subexpressions[s])}:
            raise KeyedValueError(f"the reset cannot read {forbidden!r} in biosim's compiled models; compute it in "
                                  f"the equations instead", ("reset",))
    reset_subs = _needed_subexpressions(reset_text, model.subexpressions)
    reset = [f"{name} = {render(model.subexpressions[name], constants, reset_sites)}" for name in reset_subs]
    reset += [render(line, constants, reset_sites) for line in model.reset]

    state = list(model.state)
    body_names = set().union(*(python_names(c) for c in (*per_step, *update, *threshold_code, threshold,
                                                         *condition_code, condition or "0")))
    read = [name for name in state if name in body_names]
    written = [name for name in state if any(re.match(rf"{name}\s*=", line) for line in update)]
    row_names = "".join(f"_row_{name}, " for name in rows(model))
    block_rows = "".join(f"_S[{k}, _lo:_hi], " for k in rows(model).values())
    lines = ["# generated by biosim.engine.equations.generate; do not edit",
             "from collections import namedtuple", "",
             "from numba import njit",
             "from numpy import " + ", ".join(sorted(NUMPY_FUNCTIONS)), "",
             "from biosim.engine.equations.functions import clip, exp, exprel",
             "from biosim.engine.equations.functions import rand as _rand",
             "from biosim.engine.neurons import collect_spikes as _collect_spikes",
             "from biosim.engine.equations.functions import randn as _randn", "",
             f"Params = namedtuple('Params', {record_fields(model)!r})", "", "",
             "@njit(cache=True, error_model='numpy')",
             "def update(_S, _last, _P, _has_input, _step, _flags, _spk, _lo, _hi):",
             f"    _update_block({block_rows}_last[_lo:_hi], _flags[_lo:_hi], _P, _has_input[0], _step, _lo, "
             "_S.shape[1])",
             "    return _collect_spikes(_flags, _spk, _last, _step, _lo, _hi)", "", "",
             "# the block's rows as separate slices, so that LLVM vectorises the loop over its neurons",
             "@njit(cache=True, error_model='numpy')  # x / 0 is inf or NaN, as in Brian2's C++ (divergence)",
             f"def _update_block({row_names}_block_last, _block_flags, _P, _has_input, _step, _lo, N):",
             "    dt, _ref, _noise_key = _P.dt, _P.ref, _P.noise_key",
             *_loads(model, "    ", body_names, rows_too=False),
             "    t = _step * dt",
             *("    " + line for line in per_step)]
    # without external input in the coming chunk (has_input == 0) i_ext is 0 and not streamed
    split = "i_ext" in read and "i_ext" not in written
    for branch, loads in enumerate(([f"{name} = _row_{name}[_k]" for name in read],
                               [f"{name} = 0.0" if name == "i_ext" else f"{name} = _row_{name}[_k]"
                                for name in read])[:1 + split]):
        if split:
            lines.append("    if _has_input:" if branch == 0 else "    else:")
        ind = " " * (8 + 4 * split)
        lines.append(f"{ind[4:]}for _k in range(_block_last.shape[0]):")
        lines.append(f"{ind}i = _lo + _k")
        lines += [ind + line for line in loads]
        lines += [ind + line for line in _step_body(update, written, threshold_code, threshold, condition_code,
                                                     condition, refractory)]
    ind = " " * 8
    reset_names = set().union(set(), *(python_names(line) for line in reset))
    lines += ["", "", "@njit(cache=True, error_model='numpy')", "def reset(_S, _P, _spk, _n):",
              *_loads(model, "    ", reset_names), "    for _k in range(_n):", f"{ind}i = _spk[_k]"]
    if reset:
        lines += [f"{ind}{name} = _row_{name}[i]" for name in state if name in reset_names]
        lines += [ind + line for line in reset]
        lines += [f"{ind}_row_{name}[i] = {name}" for name in state
                  if any(re.match(rf"{name}\s*[-+*/]?=", line) for line in model.reset)]
    else:
        lines.append(f"{ind}pass")
    return "\n".join(lines) + "\n"
