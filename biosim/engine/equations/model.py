"""The ``equations`` neuron model: a model written in Brian2's syntax, compiled into the fused kernel.

::

    model = EquationNeuron(
        equations='''dv/dt = (e_l - v + r_m * i_syn) / tau_m : volt (unless refractory)
                     di_syn/dt = -i_syn / tau_syn : amp''',
        threshold="v > v_th", reset="v = v_reset", refractory="2 ms", method="exact",
        parameters={"e_l": "-60 mV", "r_m": "100 Mohm", "tau_m": "10 ms", "tau_syn": "5 ms", "v_th": "-50 mV",
                    "v_reset": "-65 mV"})

``parameters`` are shared by all neurons (runtime data of the kernel: changing a value never recompiles); a
per-neuron parameter is declared in the equations (``tau : second (constant)``) and set with the population's
``init``. Every state variable starts at 0 unless ``init`` sets it (Brian2's default). Brian2 analyses the model
once per distinct text (see :mod:`~biosim.engine.equations.analysis`); the result and the generated kernel are
cached under a hash of the text, so a later process neither imports Brian2 nor compiles again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, field_serializer, field_validator, model_validator

from biosim.engine.equations.analysis import REFRACTORY_STEP, ModelCode, analyse
from biosim.engine.equations.cache import cached_analysis
from biosim.engine.equations.generate import generate, record_fields, rows
from biosim.engine.neurons import Brian2Model, NeuronModel
from biosim.errors import KeyedValueError
from biosim.params import si_number
from biosim.registry import register
from biosim.units import UnitError, format_quantity, quantity_with_dimension

_NUMBER_FIRST = ("-", "+", ".", *"0123456789")


def compile_model(equations: str, threshold: str, reset: str, refractory: float | str, method: str | None,
                  shared: dict[str, tuple[float, tuple]]) -> tuple[ModelCode, Any]:
    """The analysed model and its generated module (``Params``, ``update``, ``reset``), from the cache when this
    text (and these parameter dimensions) was analysed before."""
    from biosim.engine.codegen import load_source

    def checked() -> ModelCode:
        code = analyse(equations, threshold, reset, refractory, method, shared)
        generate(code)  # refuses what the generator cannot compile before anything is cached
        return code

    # a period's value is runtime data (the record's ref): only whether there is one changes the kernel
    period = isinstance(refractory, int | float)
    parts = [equations, threshold, reset, ("period" if refractory > 0 else 0) if period else refractory, method,
             sorted((name, list(dim)) for name, (_, dim) in shared.items())]
    here = Path(__file__).parent
    code = cached_analysis("equations", parts, checked, ModelCode.from_json,
                           (here / "analysis.py", here / "generate.py"))
    return code, load_source(generate(code), "neuron")


def check_parameters(value: dict[str, Any]) -> dict[str, Any]:
    """Validate shared parameters: names that are identifiers, values that are quantities."""
    for name, raw in value.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise KeyedValueError(f"{name!r} is not a parameter name (letters, digits, '_'; no leading '_')",
                                  (name,))
        try:
            quantity_with_dimension(raw)
        except UnitError as err:
            raise KeyedValueError(str(err), (name,)) from None
    return value


def parameter_values(parameters: dict[str, Any]) -> dict[str, tuple[float, tuple]]:
    """Shared parameters as (SI value, dimension)."""
    return {name: quantity_with_dimension(raw) for name, raw in parameters.items()}


class CompiledText:
    """Mixin of the models compiled from text (their private state holds the compiled module): a copy or an
    unpickled one is validated again from its fields, so it compiles (from the cache) what its own text says."""

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()  # type: ignore[misc]
        state["__pydantic_private__"] = dict.fromkeys(state.get("__pydantic_private__") or {})
        return state

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        return type(self)(**{**self.model_dump(), **(update or {})})  # type: ignore[attr-defined]

    def __copy__(self) -> Any:
        return self.model_copy()

    def __deepcopy__(self, memo: dict | None = None) -> Any:
        return self.model_copy()


class _per_model(property):  # noqa: N801 (used as a decorator, like property)
    """A property of one model's analysed text; on the class (listings of every registered model's variables)
    it reads as the class-level default of :class:`NeuronModel`: no variables, targets or clamps."""

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return getattr(NeuronModel, self.fget.__name__) if obj is None else super().__get__(obj, owner)


@register("neuron", "equations")
class EquationNeuron(CompiledText, NeuronModel):
    """A neuron model written as equations (Brian2 syntax, with units), threshold, reset and refractoriness;
    integrated by ``method`` (Brian2's choice when omitted: exact where linear, else Euler)."""

    equations: str = Field(..., description="differential equations, subexpressions and per-neuron parameters, "
                                            "one per line, in Brian2's syntax")
    threshold: str = Field(..., description="spike condition, e.g. 'v > v_th'")
    reset: str = Field("", description="statements run after a spike, e.g. 'v = v_reset; w += b'")
    refractory: float | str = Field(0.0, description="a period ('2 ms') or a condition ending it ('v < v_th')")
    method: str | None = Field(None, description="exact, exponential_euler, euler, rk2, rk4, heun, milstein")
    parameters: dict[str, Any] = Field({}, description="shared parameters with units, e.g. {tau_m: 20 ms}")
    t_ref: float = Field(0.0, exclude=True)  # the period of 'refractory' (s), for the engine; not a key
    description: ClassVar[None] = None
    _code: ModelCode | None = PrivateAttr(None)
    _module: Any = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _refractory_period(cls, data: Any) -> Any:
        if isinstance(data, dict) and "t_ref" in data:
            raise KeyedValueError("an equation model takes its refractory period as 'refractory'", ("t_ref",))
        if isinstance(data, dict) and data.get("refractory") is not None:
            value = data["refractory"]
            if not isinstance(value, str) or value.strip().startswith(_NUMBER_FIRST):
                try:
                    period = si_number(value, "time")
                except ValueError as err:
                    raise KeyedValueError(f"{err}; or give a condition such as 'v < v_th'", ("refractory",)) \
                        from None
                if period < 0:
                    raise KeyedValueError(f"must be >= 0, got {value!r}", ("refractory",))
                data = {**data, "refractory": period, "t_ref": period}
        return data

    _parameters = field_validator("parameters")(check_parameters)

    @field_serializer("refractory")
    def _refractory_text(self, value: float | str) -> str:
        """A period as text with its unit (a bare number is refused when read back), a condition as written."""
        return value if isinstance(value, str) else format_quantity(value, "time", exact=True)

    @model_validator(mode="after")
    def _analyse(self) -> EquationNeuron:
        try:
            self._compiled()
        except KeyedValueError as err:
            if err.loc and err.loc[0] == "parameters":
                raise
            raise KeyedValueError(str(err), err.loc) from None
        return self

    def _compiled(self) -> tuple[ModelCode, Any]:
        if self._code is None:
            shared = parameter_values(self.parameters)
            self._code, self._module = compile_model(self.equations, self.threshold, self.reset, self.refractory,
                                                     self.method, shared)
        return self._code, self._module

    @classmethod
    def from_model(cls, model: NeuronModel) -> EquationNeuron:
        """A built-in model's own description (:meth:`NeuronModel.brian2`) as an equation model."""
        desc = model.brian2()
        parameters = {name: value if dimension == "dimensionless" else format_quantity(value, dimension, exact=True)
                      for name, (value, dimension) in desc.namespace.items()}
        return cls(equations=desc.equations, threshold=desc.threshold, reset=desc.reset,
                   refractory=desc.refractory, method=desc.method, parameters=parameters)

    # -- the engine's neuron contract ------------------------------------------------------------
    @property
    def code(self) -> ModelCode:
        """The analysed model."""
        return self._compiled()[0]

    @_per_model
    def state_vars(self) -> dict[str, str]:  # type: ignore[override]
        code = self.code
        return {name: code.state.get(name, "dimensionless") for name in rows(code)}

    @_per_model
    def synaptic_targets(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.code.targets

    @_per_model
    def clamped_during_refractory(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.code.clamped if self.code.refractory else ()

    @_per_model
    def refractory_step_row(self) -> str | None:  # type: ignore[override]
        return REFRACTORY_STEP if self.code.refractory not in ("", "time") else None

    def kernels(self) -> tuple[Any, Any]:
        """The generated ``update`` and ``reset``."""
        module = self._compiled()[1]
        return module.update, module.reset

    @property
    def registry_key(self) -> str:
        """A name unique to this model's text (the fused kernel imports its functions under it)."""
        return self._compiled()[1].__name__

    def params(self, dt: float) -> tuple:
        """The kernel's record: refractory steps, dt, noise key 0 (the builder sets the population's), the shared
        parameters in SI."""
        shared = {name: quantity_with_dimension(raw)[0] for name, raw in self.parameters.items()}
        record = self._compiled()[1].Params
        assert record._fields == record_fields(self.code)
        return record(ref=self.ref_steps(dt), dt=dt, noise_key=0, **shared)

    def default_state(self) -> dict[str, float]:
        """Every variable 0 (Brian2's default); a condition's last refractory step -2 (never: the state must stay
        finite, and step 0 starts refractory only after step -1)."""
        return {name: -2.0 if name == REFRACTORY_STEP else 0.0 for name in self.state_vars}

    def brian2(self) -> Brian2Model:
        """The same text for Brian2, with the method biosim's analysis chose."""
        code = self.code
        namespace = {name: (value, code.shared[name]) for name, (value, _) in
                     ((n, quantity_with_dimension(raw)) for n, raw in self.parameters.items())}
        refractory = self.refractory if isinstance(self.refractory, str) else self.t_ref
        return Brian2Model(self.equations, self.threshold, self.reset, code.method if code.method != "none"
                           else "euler", namespace, refractory)
