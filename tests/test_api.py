"""The README's Python API examples, run as written, the lazy top-level names, and the Python API's validation
(the same as for experiment files)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import biosim as bs
from biosim.errors import ConfigError

ROOT = Path(__file__).parents[1]


def test_readme_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(import biosim as bs\n.*?)```", readme, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rate = float(out.stdout.split()[0])
    assert 3.0 < rate < 10.0  # the CUBA network's asynchronous state, not silence or runaway


def test_readme_layer_local_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(import numpy as np\nimport torch\n.*?)```", readme, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) > 0.9  # forward-forward learned the digits


def test_top_level_names():
    assert bs.Network.__name__ == "Network" and bs.STDP.registry_name == "stdp"
    for name in bs.__all__:  # every exported name resolves to the object of that name
        assert getattr(bs, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        bs.Nope  # noqa: B018
    import biosim.engine.network  # noqa: F401  (a subpackage imported by name is no top-level name)

    assert {name for name in dir(bs) if not name.startswith("_")} == set(bs.__all__), "no stray names"


def test_python_api_takes_units_and_names_like_yaml():
    """Unit strings and registry names are accepted where a quantity or an entry is; the network is the same."""
    def network(readable: bool) -> bs.Network:
        net = bs.Network(dt="0.1 ms" if readable else 1e-4, seed=3)
        model = "izhikevich" if readable else bs.Izhikevich()
        net.add_population("src", 20, bs.PoissonSource(rate=50.0))
        net.add_population("n", 10, model, init={"v": "-65 mV" if readable else -65e-3})
        net.connect("src", "n", target="i_syn", connector="all_to_all" if readable else bs.AllToAll(),
                    weight="2 mV" if readable else 2e-3, delay="1.5 ms" if readable else 1.5e-3)
        net.record_spikes("src", "n")
        return net

    readable, plain = (bs.Simulation(network(flag)).run("50 ms" if flag else 0.05) for flag in (True, False))
    assert readable.spikes["n"][0].size > 0
    for pop in ("src", "n"):
        np.testing.assert_array_equal(readable.spikes[pop][0], plain.spikes[pop][0])


@pytest.mark.parametrize(("call", "message"), [
    (lambda net: net.record_spikes("nope"), "monitors.spikes: unknown population 'nope'; allowed: a"),
    (lambda net: net.add_population("b", 3, "izhikevic"), "unknown neuron 'izhikevic' (did you mean 'izhikevich'?)"),
    (lambda net: net.connect("a", "a", target="ge", connector="all_to_al", weight=1e-3),
     "projections.a_to_a.connector: unknown connector 'all_to_al'"),
    (lambda net: net.connect("a", "a", target="ge", connector="all_to_all", weight="1 nS"),
     "projections.a_to_a.weight: '1 nS' is a conductance but a voltage is expected"),
    (lambda net: net.connect("a", "a", target="ge", connector="all_to_all", weight=1e-3, rule="stdp"),
     "projections.a_to_a.rule.w_max: required key is missing"),
    (lambda net: net.add_population("b", 3, bs.LIFCuba(), init={"v": "-65 ms"}), "is a time but a voltage"),
    (lambda net: net.record_state("a", ["v"], [7]), "monitors.state.0.indices: must lie in [0, 2)"),
    (lambda net: bs.Simulation(net).run(-1.0), "duration: must be >= 0.1 ms (1 step of dt = 0.1 ms), got -1000 ms"),
    (lambda net: bs.Simulation(net).run("1 mV"), "duration: '1 mV' is a voltage but a time is expected"),
])
def test_python_api_mistakes_are_config_errors(call, message):
    net = bs.Network()
    net.add_population("a", 2, bs.LIFCuba())
    with pytest.raises(ConfigError) as info:
        call(net)
    assert message in str(info.value)
