"""One analog setting of a crossbar experiment (device, tiles, NL-ADC, time since programming, gate bits), and the
sweeps that vary it: ``vary`` a dotted key (``device.sigma_programming``, ``crossbar.tile_rows``, ``nladc.bits``,
``time``, ``bits``) over ``values``, with other keys ``set`` for the whole sweep. Every point is validated before
anything runs, and its errors point at the sweep's line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError

from biosim.config import Source, Strict, explain
from biosim.errors import did_you_mean
from biosim.params import Time
from biosim.physical.crossbar.device import Memristor
from biosim.physical.crossbar.nladc import NLADCSpec
from biosim.physical.crossbar.tile import Crossbar

PLAIN = ("time", "bits")  # the setting's own keys; the others are device.*, crossbar.*, nladc.*


class Sweep(Strict):
    """Test accuracy (or the NL-ADC's error) against one varied key, ``repeats`` programming draws per value."""

    name: str = Field(..., description="the sweep's name in metrics and figures")
    vary: str = Field(..., description="dotted key: device.<field>, crossbar.<field>, nladc.<field>, time or bits")
    values: list[Any] = Field(..., min_length=1, description="the values the key takes (null allowed where the "
                                                             "key allows it, e.g. device.levels: continuous)")
    set: dict[str, Any] = Field({}, description="dotted keys set for the whole sweep (e.g. device.drift: pcm)")
    panel: str | None = Field(None, description="sweeps with the same panel are drawn on one axis")


class _Plain(Strict):
    time: Time = 0.0
    bits: int | None = Field(None, ge=1, le=12)


@dataclass(frozen=True)
class Setting:
    """Everything an analog evaluation depends on besides the trained weights and the random draws."""

    device: Memristor
    crossbar: Crossbar
    nladc: NLADCSpec
    time: float  # s since programming
    bits: int | None  # NL-ADC gate resolution of the analog LSTM (None: exact functions)


@dataclass(frozen=True)
class Base:
    """The experiment's own setting as validated parts: the device class and each part's parameters."""

    device_cls: type[Memristor]
    parts: dict[str, dict[str, Any]]  # device / crossbar / nladc -> parameters (validated dumps)
    plain: dict[str, Any]  # time, bits

    def allowed(self) -> list[str]:
        classes = {"device": self.device_cls, "crossbar": Crossbar, "nladc": NLADCSpec}
        return [f"{part}.{key}" for part, cls in classes.items() for key in cls.model_fields] + list(PLAIN)

    def check_key(self, key: str, source: Source, loc: tuple) -> None:
        allowed = self.allowed()
        if key not in allowed:
            raise source.error(f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}",
                               loc)

    def setting(self, updates: dict[str, Any], source: Source, loc: tuple) -> Setting:
        """The base with dotted ``updates``; a value a part refuses is reported at ``loc``."""
        parts = {name: dict(params) for name, params in self.parts.items()}
        plain = dict(self.plain)
        for key, value in updates.items():
            part, _, field = key.partition(".")
            if field:
                parts[part][field] = value
            else:
                plain[key] = value
        built = {}
        for name, cls in (("device", self.device_cls), ("crossbar", Crossbar), ("nladc", NLADCSpec),
                          ("plain", _Plain)):
            try:
                built[name] = cls.model_validate(plain if name == "plain" else parts[name])
            except ValidationError as err:
                raise explain(err, cls, source, loc) from None
        return Setting(built["device"], built["crossbar"], built["nladc"], built["plain"].time,
                       built["plain"].bits)


def base_of(device: Memristor, crossbar: Crossbar, nladc: NLADCSpec, time: Any, bits: int | None) -> Base:
    dump = {name: part.model_dump() for name, part in (("device", device), ("crossbar", crossbar), ("nladc", nladc))}
    return Base(type(device), dump, {"time": time, "bits": bits})


def sweep_settings(base: Base, sweeps: list[Sweep], source: Source) -> list[list[Setting]]:
    """Every sweep point's setting, each checked (keys and values) before anything runs."""
    names = [s.name for s in sweeps]
    out = []
    for k, sweep in enumerate(sweeps):
        if names.count(sweep.name) > 1:
            raise source.error(f"sweep name {sweep.name!r} is used twice", ("sweeps", k, "name"))
        base.check_key(sweep.vary, source, ("sweeps", k, "vary"))
        for key in sweep.set:
            base.check_key(key, source, ("sweeps", k, "set", key))
        base.setting(sweep.set, source, ("sweeps", k, "set"))
        points = [base.setting({**sweep.set, sweep.vary: value}, source, ("sweeps", k, "values", i))
                  for i, value in enumerate(sweep.values)]
        for i, point in enumerate(points):
            value = _raw(point, sweep.vary)
            if not isinstance(value, int | float | type(None)):
                raise source.error(f"a sweep varies a number (or null), not {value!r}: for {sweep.vary} write one "
                                   f"sweep per value with 'set'", ("sweeps", k, "values", i))
        out.append(points)
    return out


def _raw(setting: Setting, key: str) -> Any:
    part, _, field = key.partition(".")
    return getattr(getattr(setting, part), field) if field else getattr(setting, key)


def value_of(setting: Setting, key: str) -> float:
    """The varied key's value in ``setting`` as a number for the axis (None: NaN)."""
    value = _raw(setting, key)
    return float("nan") if value is None else float(value)

