"""Energy and latency of analog inference, from per-operation figures.

The array's own energy is physical: every read dissipates sum_ij V_i^2 G_ij t_read in the devices (counted from
the conductances and the DAC'd inputs of each MVM). The periphery is counted per operation from stated figures:
DAC and ADC conversions (a uniform ADC costs the Walden figure of merit per conversion step, E = FOM 2^bits),
the NL-ADC's ramp (2^bits comparator cycles plus the ramp column's own read energy), and, for comparison, a
conventional ADC followed by a digital activation. Defaults and where they come from:

- t_read 10 ns, clock 1 GHz: DNN+NeuroSim V1.4's read pulse and clock; the NL-ADC paper normalises to 1 GHz.
- ADC figure of merit 10 fJ per conversion step: an assumed value typical of SAR ADCs in Murmann's ADC survey
  (order of magnitude; set your own).
- DAC 5 fJ per conversion and comparator 2 fJ per decision: assumed orders of magnitude (set your own).
- digital activation 3 pJ and 10 cycles: assumed for a 16-bit evaluation of sigmoid/tanh (Horowitz, ISSCC 2014,
  gives 1.1 pJ per 16-bit float multiply and 0.4 pJ per add at 45 nm; a few of each), 32 units in parallel as in
  the NL-ADC paper's Fig. 1c.
- digital accumulation of tile outputs: 0.4 pJ per add (Horowitz, 16-bit float add).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from biosim.params import Energy, Frequency, Params, PositiveTime


class EnergyFigures(Params):
    """Per-operation figures (J, s) for the energy and latency estimate."""

    t_read: PositiveTime = Field(10e-9, description="duration of one analog read (MVM)")
    clock: Frequency = Field(1e9, gt=0, description="converter and digital clock")
    adc_fom: Energy = Field(10e-15, gt=0, description="uniform ADC energy per conversion step")
    dac: Energy = Field(5e-15, ge=0, description="energy per input conversion")
    comparator: Energy = Field(2e-15, ge=0, description="ramp ADC energy per comparator decision")
    digital_activation: Energy = Field(3e-12, ge=0, description="one sigmoid/tanh evaluated digitally")
    activation_cycles: int = Field(10, ge=1, description="clock cycles of one digital activation")
    activation_units: int = Field(32, ge=1, description="digital activation units working in parallel")
    digital_add: Energy = Field(0.4e-12, ge=0, description="one digital addition of tile outputs")


@dataclass
class EnergyCount:
    """Operations counted over a number of inferences (the array's dissipation in J, the rest in counts)."""

    inferences: int = 0
    array_w: float = 0.0  # the arrays' dissipated power summed over reads (W); x t_read gives J
    dac: int = 0
    adc: dict[int, int] = field(default_factory=dict)  # bits -> conversions
    nladc: dict[int, int] = field(default_factory=dict)  # bits -> conversions
    ramp_w: float = 0.0  # the NL-ADC ramp columns' power summed over steps (W); / clock gives J
    adds: int = 0
    reads: int = 0  # tile reads (one per tile and sample)
    nladc_reads: int = 0  # reads digitised by NL-ADCs (one per sample and cell step)

    def add_mvm(self, x: np.ndarray, matrix) -> None:
        """One evaluation MVM of x (B x n) on an AnalogMatrix: the array's power sum_i x~_i^2 sum_j (g+ + g-)_ij
        G_max V_read^2 for the DAC'd inputs x~ and the devices' own conductances at the read (drifted; bound
        management's repeats not counted), B n DAC and B tiles m ADC conversions, and the digital additions of tile
        outputs."""
        from biosim.physical.crossbar.tile import steps_of

        c = matrix.crossbar
        alpha = np.abs(x).max(axis=1, keepdims=True) if c.noise_management == "abs_max" else c.input_range
        xt = np.clip(x / np.where(alpha > 0, alpha, 1.0), -1, 1)
        steps = steps_of(c.dac_bits)
        if steps:
            xt = np.rint(xt * steps) / steps
        gp, gm = matrix.devices.at(matrix.t)
        self.array_w += float(np.sum((xt * xt) @ (gp + gm))) * matrix.device.g_max * c.v_read**2
        batch, (n, m) = len(x), matrix.shape
        self.dac += batch * n
        if c.adc_bits is not None:
            self.adc[c.adc_bits] = self.adc.get(c.adc_bits, 0) + batch * matrix.n_tiles * m
        self.adds += batch * (matrix.n_tiles - 1) * m
        self.reads += batch * matrix.n_tiles

    def add_nladc(self, batch: int, adcs: list, device, v_read: float) -> None:
        """One conversion of every NL-ADC for ``batch`` samples: 2^bits comparator decisions each, and the ramp
        column's read energy (every step and bias device at V_read for one clock period; our estimate)."""
        bits = adcs[0].spec.bits
        self.nladc[bits] = self.nladc.get(bits, 0) + batch * len(adcs)
        self.nladc_reads += batch
        g = sum(float(adc.ramp.g.sum() + adc.bias.g.sum()) for adc in adcs)
        self.ramp_w += batch * g * device.g_max * v_read**2

    def report(self, figures: EnergyFigures) -> dict[str, float]:
        """Per inference: energy (J) by part and in total, the same network with conventional ADCs and digital
        activations in place of the NL-ADCs, and the time (s) from one NL-ADC read to its activations, both ways."""
        n = max(self.inferences, 1)
        adc = sum(c * figures.adc_fom * 2**b for b, c in self.adc.items())
        nladc = sum(c * figures.comparator * 2**b for b, c in self.nladc.items()) + self.ramp_w / figures.clock
        digital_nl = sum(c * (figures.adc_fom * 2**b + figures.digital_activation) for b, c in self.nladc.items())
        parts = {"array": self.array_w * figures.t_read, "dac": self.dac * figures.dac, "adc": adc, "nladc": nladc,
                 "digital": self.adds * figures.digital_add}
        total = sum(parts.values())
        report = {f"energy_{k}_j": v / n for k, v in parts.items()}
        report["energy_j"] = total / n
        if self.nladc:
            report["energy_j_with_digital_activation"] = (total - nladc + digital_nl) / n
            bits = max(self.nladc)
            per_read = self.nladc[bits] / max(self.nladc_reads, 1)  # activations of one read
            # a ramp converts every column at once in 2^bits cycles; a SAR ADC takes bits cycles, then the
            # activations queue for the digital units
            report["nladc_latency_s"] = 2**bits / figures.clock
            report["digital_activation_latency_s"] = (bits + math.ceil(per_read / figures.activation_units)
                                                      * figures.activation_cycles) / figures.clock
        return report
