"""The dendritic_segments and sparsey_mac targets: declared once, rules reach their engines only through the
registered builders, as the typed records the targets declare, and the rule modules import no network code."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from biosim import registry
from biosim.networks.dendritic.target import SegmentRuleKernels
from biosim.networks.sparsey.target import MacRuleKernels
from biosim.rules.dendritic_segments import HTMPermanence, OneShotParams, OneShotSegments, PermanenceParams
from biosim.rules.sparsey_mac import BinaryHebbian, NoParams, SubsampledHebbian, SubsampledParams


@pytest.mark.parametrize(("rule", "target", "params"), [
    (HTMPermanence(increment=0.05), SegmentRuleKernels, PermanenceParams(0.21, 0.05, 0.1, 0.0, 20)),
    (OneShotSegments(max_new_synapses=8), SegmentRuleKernels, OneShotParams(1.0, 8)),
    (BinaryHebbian(), MacRuleKernels, NoParams()),
    (SubsampledHebbian(fraction=0.3), MacRuleKernels, SubsampledParams(0.3)),
])
def test_rules_reach_their_engine_through_the_declared_target(rule, target, params):
    declared = registry.get("target", rule.plugs_into)
    assert declared.implementation is target and declared.backends == ("numba",)
    assert rule.backends() == ["numba"]
    kernels = rule.implementation("numba")
    assert isinstance(kernels, target)
    assert type(kernels.params) is type(params) and kernels.params == params  # read by name in the kernels


@pytest.mark.parametrize("module", ["biosim.rules.dendritic_segments", "biosim.rules.sparsey_mac"])
def test_rule_modules_import_no_network_code(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('biosim.networks')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


TM_FILE = """\
name: t
family: temporal_memory
model: {columns: 64, cells_per_column: 4, activation_threshold: 6, min_threshold: 4, max_synapses_per_segment: 32}
rule: {name: htm_permanence, max_new_synapses: 8}
data: {name: random_sequences, count: 2, length: 3, columns: 64, active: 5}
"""


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ("min_threshold: 4", "min_threshold: 7", "model.min_threshold",
     "min_threshold = 7 must lie in [1, activation_threshold = 6]"),
    ("max_synapses_per_segment: 32", "max_synapses_per_segment: 5", "model.max_synapses_per_segment",
     "activation_threshold = 6 must lie in [1, max_synapses_per_segment = 5]: no segment could become active"),
    ("max_new_synapses: 8", "max_new_synapses: 3", "rule.max_new_synapses",
     "max_new_synapses = 3 must be 0 (no learning) or lie in [min_threshold = 4, 32]: a new segment could never"),
])
def test_impossible_temporal_memory_thresholds_are_refused_alike_in_python_and_yaml(tmp_path, old, new, key, message):
    """Python (TemporalMemoryParams, TemporalMemory) refuses what an experiment file's prepare refuses, in one
    wording; the file's error names the key and its line."""
    from pydantic import ValidationError

    from biosim.config import load_experiment
    from biosim.errors import ConfigError
    from biosim.networks.temporal_memory.model import TemporalMemory, TemporalMemoryParams
    from biosim.streams import stream

    path = tmp_path / "tm.yaml"
    path.write_text(TM_FILE.replace(old, new))
    with pytest.raises(ConfigError) as info:
        exp, source = load_experiment(path)
        registry.get("family", "temporal_memory")().prepare(exp, source)
    line = 4 if key.startswith("rule") else 3
    assert f"tm.yaml:{line}: {key}: {message}" in str(info.value)

    model = dict(columns=64, cells_per_column=4, activation_threshold=6, min_threshold=4, max_synapses_per_segment=32)
    name, value = new.split(": ")
    with pytest.raises((ValidationError, ValueError), match=re.escape(message)):
        if name == "max_new_synapses":
            TemporalMemory(TemporalMemoryParams(**model), HTMPermanence(max_new_synapses=int(value)), stream(0, "tm"))
        else:
            TemporalMemoryParams(**{**model, name: int(value)})
