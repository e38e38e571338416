"""Wave layers: a frozen scalar-wave medium (``fdtd.py``) as a black box from input vectors to probe intensities. The
input x (batch x n) enters as a time series: ``parallel``, one point source per feature along a line near one
wall (the features wired to the sources in a random order), source i emitting x_i times a Hann-windowed carrier
burst; or ``sequence``, one line source emitting the features one after another, each held for ``hold`` steps on
the carrier (as a sound wave, wavetorch-style). The outputs are the time-integrated intensities at probes spread
along the opposite wall, divided by their mean when ``normalise`` is set (so of order 1). The medium's density
rho in [0, 1] (frozen random smooth blobs drawn from the layer's stream) sets the speed c0 + (c1 - c0) rho and
where the Kerr and saturable nonlinearities act."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import ndimage

from biosim.params import Params
from biosim.physical.waves import fdtd
from biosim.registry import register

SILENCE = 1e-12  # added to the mean intensity a normalised reading divides by (a silent input reads 0)


@dataclass(frozen=True)
class WaveMedium:
    """A built medium: per-cell fields (nx x ny; ny = 1 in 1-D), source and probe cells, the step and the input
    encoding. ``__call__`` maps inputs to probe intensities; ``field_traces`` gives u at the probes over time."""

    c0: np.ndarray
    kerr: np.ndarray
    damping: np.ndarray
    saturable: np.ndarray
    u_th: float
    dt: float
    steps: int
    sources: np.ndarray  # int64[n_src, 2]
    probes: np.ndarray  # int64[n_probe, 2]
    omega: float  # carrier angular frequency, rad per unit time
    encoding: str
    hold: int
    normalise: bool
    centre: bool = False
    windows: int = 1  # time windows per probe, each read out on its own

    @property
    def dims(self) -> int:
        return 1 if self.c0.shape[1] == 1 else 2

    @property
    def n_outputs(self) -> int:
        return len(self.probes) * self.windows

    def signals(self, x: np.ndarray) -> np.ndarray:
        """Source amplitudes (batch x steps x sources) of inputs ``x`` (batch x n)."""
        if self.centre:
            x = x - x.mean(axis=1, keepdims=True)
        t = np.arange(self.steps) * self.dt
        carrier = np.sin(self.omega * t)
        if self.encoding == "parallel":
            burst = min(self.steps, self.hold)
            window = np.zeros(self.steps)
            window[:burst] = np.hanning(burst)
            return x[:, None, :] * (carrier * window)[None, :, None]
        held = np.zeros((len(x), self.steps))
        n = min(x.shape[1] * self.hold, self.steps)
        held[:, :n] = np.repeat(x, self.hold, axis=1)[:, :n]
        return np.repeat((held * carrier)[:, :, None], len(self.sources), axis=2)

    def run(self, signals: np.ndarray, keep_traces: bool = False,
            energy: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(intensity batch x probes x windows, traces batch x steps x probes or batch x 0 x probes) of source
        signals;
        ``energy`` (nx x ny), where given, gets the first sample's time-integrated u^2 over the grid."""
        batch = len(signals)
        traces = np.zeros((batch, self.steps if keep_traces else 0, len(self.probes)))
        intensity = np.zeros((batch, self.n_outputs))
        fdtd.leapfrog(self.sources, np.ascontiguousarray(signals, np.float64), self.probes, self.c0, self.kerr,
                      self.damping, self.saturable, self.u_th, self.dt, fdtd.cfl_speed(self.dt, self.dims),
                      traces, intensity, np.zeros((0, 0)) if energy is None else energy)
        return intensity, traces

    def picture(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """For one input x (n,): the time-integrated intensity over the grid, the speed map, sources and probes."""
        energy = np.zeros(self.c0.shape)
        self.run(self.signals(np.asarray(x, np.float64)[None]), energy=energy)
        return {"picture_energy": energy, "picture_speed": self.c0, "picture_sources": self.sources,
                "picture_probes": self.probes, "picture_output": self(np.asarray(x)[None])[0]}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        intensity = self.run(self.signals(np.asarray(x, np.float64)))[0]
        if self.normalise:
            intensity = intensity / (intensity.mean(axis=1, keepdims=True) + SILENCE)
        return intensity

    def field_traces(self, x: np.ndarray) -> np.ndarray:
        """u at the probes after every step (batch x steps x probes): linear in x without the nonlinearities."""
        return self.run(self.signals(np.asarray(x, np.float64)), keep_traces=True)[1]

    def perturbed(self, amount: float, rng: np.random.Generator) -> WaveMedium:
        """The same medium with its speed map changed by a relative ``amount`` (a smooth random field, still
        within the CFL speed)."""
        change = ndimage.gaussian_filter(rng.standard_normal(self.c0.shape), 2.0)
        change *= amount / max(np.abs(change).max(), 1e-300)
        return replace(self, c0=np.minimum(self.c0 * (1 + change), fdtd.cfl_speed(self.dt, self.dims)))


class WaveLayer(Params):
    """A frozen nonlinear wave medium on a grid (lengths in cells, speeds in cells per unit time)."""

    dims: ClassVar[int]
    size: int = Field(..., ge=8, description="cells along each side of the grid, absorbing layer included")
    absorber: int = Field(20, ge=0, description="absorbing-layer width N (cells)")
    sigma: float = Field(11.0, ge=0, description="absorbing-layer strength (per unit time)")
    power: float = Field(4.0, gt=0, description="absorbing-layer profile exponent p")
    c0: float = Field(1.0, gt=0, description="background speed (cells per unit time)")
    c1: float = Field(0.5, gt=0, description="speed inside the medium's blobs (rho = 1)")
    blob: float = Field(3.0, ge=0, description="smoothing of the random density map (cells); 0: uniform c0")
    kerr: float = Field(0.0, ge=0, description="Kerr-like speed increase c_nl per unit u^2 where rho = 1")
    absorption: float = Field(0.0, ge=0, description="saturable absorption b_sat where rho = 1 (per unit time)")
    u_th: float = Field(1.0, gt=0, description="saturation amplitude of the absorption")
    courant: float = Field(0.5, gt=0, description="c_max dt sqrt(dims) / h; the CFL condition needs <= 1")
    steps: int = Field(..., gt=0, description="time steps per sample")
    wavelength: float = Field(8.0, gt=2, description="carrier wavelength in the background (cells)")
    encoding: Literal["parallel", "sequence"] = Field(
        "parallel", description="parallel: a point source per feature; sequence: the features in turn from one "
                                "line source")
    hold: int = Field(20, gt=0, description="steps of the burst (parallel) or of each feature (sequence)")
    shuffle: bool = Field(True, description="wire the inputs to the point sources in a random order (drawn from the "
                                            "layer's stream) so that neighbouring inputs, e.g. the label's "
                                            "entries, do not sit side by side and mix only with each other")
    centre: bool = Field(True, description="drive the sources with x - mean(x) (signed amplitudes: phase 0 or "
                                           "pi), so the probes see the input's pattern rather than its mean")
    outputs: int = Field(..., gt=0, description="probes")
    windows: int = Field(1, gt=0, description="equal time windows per probe, each integrated on its own (outputs: "
                                              "probes x windows)")
    normalise: bool = Field(True, description="divide the probe intensities by their mean")

    @model_validator(mode="after")
    def _stable(self) -> WaveLayer:
        if self.courant > 1:
            raise ValueError(f"courant = {self.courant:g} violates the CFL condition c_max dt sqrt({self.dims}) / h "
                             "<= 1: the leapfrog update would diverge; use e.g. 0.5")
        if 2 * self.absorber + 4 >= self.size:
            raise ValueError(f"size {self.size} leaves no room inside two absorbing layers of {self.absorber} cells")
        return self

    def build(self, n_inputs: int, rng: np.random.Generator) -> WaveMedium:
        """The frozen medium for inputs of ``n_inputs`` features, its density drawn from ``rng``."""
        shape = (self.size, self.size if self.dims == 2 else 1)
        inside = slice(self.absorber + 2, self.size - self.absorber - 2)
        rho = np.zeros(shape)
        if self.blob > 0:
            field = ndimage.gaussian_filter(rng.standard_normal(shape), self.blob, mode="wrap")
            rho = np.clip(0.5 + field / (2 * field.std()), 0.0, 1.0)
        mask = np.zeros(shape, bool)  # the medium fills the space between the source and probe lines
        mask[inside.start + 2:inside.stop - 2, slice(inside.start, inside.stop) if self.dims == 2 else 0] = True
        rho = np.where(mask, rho, 0.0)
        c = self.c0 + (self.c1 - self.c0) * rho
        dt = self.courant / (max(self.c0, self.c1) * np.sqrt(self.dims))
        n_sources = n_inputs if self.encoding == "parallel" else 1
        sources = self._cells(n_sources, inside, first=True)
        if self.shuffle and n_sources > 1:
            sources = sources[rng.permutation(n_sources)]
        return WaveMedium(
            c0=c, kerr=self.kerr * rho, damping=fdtd.absorbing_profile(shape, self.absorber, self.sigma, self.power),
            saturable=self.absorption * rho, u_th=self.u_th, dt=dt, steps=self.steps,
            sources=sources, probes=self._cells(self.outputs, inside, first=False),
            omega=2 * np.pi * self.c0 / self.wavelength, encoding=self.encoding, hold=self.hold,
            normalise=self.normalise, centre=self.centre, windows=self.windows)

    def _cells(self, n: int, inside: slice, first: bool) -> np.ndarray:
        """``n`` cells for sources (``first``) or probes: in 2-D spread across the interior from its first (or
        last) row, on as many rows (every other row) as ``n`` needs; in 1-D spread over the first or last fifth
        of the interior (one cell for one source)."""
        if self.dims == 2:
            width = inside.stop - inside.start
            per_row = max(min(n, width), 1)
            rows = -(-n // per_row)
            k = np.arange(n)
            columns = inside.start + np.round((k % per_row + 0.5) * width / per_row - 0.5).astype(np.int64)
            offsets = 2 * (k // per_row)
            row = inside.start + offsets if first else inside.stop - 1 - offsets
            if rows * 2 > width // 3:
                raise ValueError(f"{n} {'sources' if first else 'probes'} need {rows} rows of the {width}-cell "
                                 f"interior: use a larger size")
            return np.stack([row.astype(np.int64), columns], axis=1)
        span = max((inside.stop - inside.start) // 5, 1)
        lo = inside.start if first else inside.stop - span
        rows = np.round(np.linspace(lo, lo + span - 1, n)).astype(np.int64) if n > 1 else np.array([lo])
        return np.stack([rows, np.zeros(n, dtype=np.int64)], axis=1)


@register("physics", "wave_1d")
class Wave1D(WaveLayer):
    """A 1-D nonlinear wave medium (3-point Laplacian): sources at one end, probes at the other."""

    dims: ClassVar[int] = 1


@register("physics", "wave_2d")
class Wave2D(WaveLayer):
    """A 2-D nonlinear wave medium (5-point Laplacian): a line of sources along one side, probes along the
    opposite one."""

    dims: ClassVar[int] = 2
