"""The dendritic_segments and sparsey_mac targets: declared once, rules reach their engines only through the
registered builders, as the typed records the targets declare, and the rule modules import no network code."""

from __future__ import annotations

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
