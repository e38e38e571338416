"""Bad input gets one clear error naming file, line, key, allowed values and a guess, before compute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from biosim.config import load_experiment
from biosim.errors import ConfigError
from biosim.networks.spiking.family import build_spiking

CUBA = Path(__file__).parents[1] / "experiments" / "cuba.yaml"


def error_for(tmp_path, text: str, overrides=()) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        exp, source = load_experiment(path, list(overrides))
        build_spiking(exp, source)
    return str(info.value)


BASE = """\
name: t
duration: 10 ms
populations:
  a: {n: 10, model: lif_cuba, params: {tau_m: 20 ms}}
  src: {n: 5, model: poisson, params: {rate: 10 Hz}}
projections:
  p: {pre: src, post: a, target: ge, connector: {name: fixed_probability, p: 0.5}, weight: 1 mV,
      rule: {name: stdp, w_max: 2 mV}}
family: spiking
"""


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("duration: 10 ms", "duraton: 10 ms", ["exp.yaml:2", "unknown key 'duraton'", "did you mean 'duration'",
                                           "allowed: name,"]),
    ("duration: 10 ms", "duration: 10 mV", ["exp.yaml:2", "duration", "is a voltage but a time is expected"]),
    ("model: lif_cuba", "model: lif_cubba", ["populations.a", "unknown neuron 'lif_cubba'",
                                             "did you mean 'lif_cuba'", "lif_delta"]),
    ("tau_m: 20 ms", "tau_mm: 20 ms", ["exp.yaml:4", "populations.a.params.tau_mm", "did you mean 'tau_m'"]),
    ("tau_m: 20 ms", "tau_m: 20 Hz", ["populations.a.params.tau_m", "is a frequency but a time is expected"]),
    ("name: stdp", "name: stpd", ["projections.p.rule", "unknown rule 'stpd'", "did you mean 'stdp'",
                                  "triplet_stdp"]),
    ("w_max: 2 mV", "w_max: 2 nS", ["projections.p.rule.w_max", "conductance but a voltage is expected"]),
    ("target: ge", "target: gee", ["projections.p.target",
                                   "unknown target 'gee' for model 'lif_cuba' (did you mean 'ge'?)",
                                   "allowed: ge, gi, v"]),
    ("pre: src", "pre: scr", ["projections.p.pre", "unknown population 'scr' (did you mean 'src'?)",
                              "allowed: a, src"]),
    ("p: 0.5}", "p: 1.5}", ["projections.p.connector.p", "less than or equal to 1"]),
    ("n: 10,", "n: ten,", ["populations.a.n", "valid integer"]),
    ("name: fixed_probability", "name: fixed_prob", ["unknown connector 'fixed_prob'",
                                                     "did you mean 'fixed_probability'"]),
])
def test_error_messages(tmp_path, old, new, expected):
    assert old in BASE
    message = error_for(tmp_path, BASE.replace(old, new, 1))
    for fragment in expected:
        assert fragment in message, message


def test_rule_of_the_wrong_kind_is_refused(tmp_path):
    message = error_for(tmp_path, BASE.replace("name: stdp, w_max: 2 mV", "name: one_shot_segments"))
    assert "exp.yaml:8: projections.p.rule.name: rule 'one_shot_segments' plugs into 'dendritic_segments', " \
           "not 'spiking_projection'; allowed here: " in message
    from biosim.engine.connectors import OneToOne
    from biosim.engine.network import Network
    from biosim.engine.neurons import LIFCuba
    from biosim.rules.dendritic_segments import OneShotSegments

    net = Network()
    net.add_population("a", 2, LIFCuba())
    with pytest.raises(ValueError, match="plugs into 'dendritic_segments', not into a spiking projection"):
        net.connect("a", "a", target="ge", connector=OneToOne(), weight=1e-3, rule=OneShotSegments())


def test_overrides_and_variants(tmp_path):
    exp, _ = load_experiment(CUBA, ["duration=2 s", "populations.exc.n=100", "seed=7"])
    assert exp.duration == 2.0 and exp.populations["exc"].n == 100 and exp.seed == 7
    brunel = Path(__file__).parents[1] / "experiments" / "brunel.yaml"
    exp, _ = load_experiment(brunel, ["variant=A"])
    assert exp.projections["inh_exc"].weight == "-0.3 mV"
    with pytest.raises(ConfigError, match="unknown variant 'E'.*allowed: A, B, C, D"):
        load_experiment(brunel, ["variant=E"])
    with pytest.raises(ConfigError, match="argument .duration.: an override looks like key.sub=value"):
        load_experiment(CUBA, ["duration"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.yaml")
    message = error_for(tmp_path, "name: [unclosed")
    assert "not valid YAML" in message


def test_every_shipped_experiment_validates_and_its_resolved_config_round_trips(tmp_path):
    """Each shipped file prepares; its resolved config (every entry's full parameters), written as a run writes
    config.yaml, loads again as an experiment file to the same experiment and names every registry entry the
    file uses with its defaults filled in."""
    from biosim import registry
    from biosim.family import resolved_config, write_config
    from biosim.runner import check_plots

    for path in sorted((Path(__file__).parents[1] / "experiments").glob("*.yaml")):
        exp, source = load_experiment(path)
        family = registry.get("family", exp.family)()
        check_plots(exp.plots, family, source)
        try:
            family.prepare(exp, source)
        except ConfigError as err:  # MNIST / CIFAR files are the user's to supply: a clear error is right
            assert err.key.startswith("data.") and "does not exist" in str(err), err
            continue
        config = resolved_config(exp, source)
        run_dir = tmp_path / path.stem
        run_dir.mkdir()
        again, again_source = load_experiment(write_config(run_dir, exp, source))  # as `biosim run runs/x/config.yaml`
        family.prepare(again, again_source)
        assert resolved_config(again, again_source) == config, path
        for loc, params in source.resolved.items():
            node = config
            for part in loc:
                node = node[part]
            assert node == params, (path, loc)


def test_extends_inherits_keys_and_sets_its_own_on_top(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE + "seed: 3\nvariants: {fast: {duration: 1 ms}}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\nduration: 20 ms\n"
                                         "projections.p.rule: static\n")
    exp, _ = load_experiment(tmp_path / "child.yaml")
    assert (exp.name, exp.seed, exp.duration, exp.projections["p"].rule) == ("child", 3, 0.02, "static")
    assert exp.variants == {}, "variants describe the extended file and are not inherited"


def test_extends_errors_point_at_the_file_that_holds_the_key(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE.replace("duration: 10 ms", "duration: 10 mV"))
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\n")
    with pytest.raises(ConfigError, match=r"base\.yaml:2.*duration.*a time is expected"):
        load_experiment(tmp_path / "child.yaml")
    (tmp_path / "nameless.yaml").write_text("extends: base.yaml\n")
    with pytest.raises(ConfigError, match=r"nameless\.yaml.*name.*required key is missing"):
        load_experiment(tmp_path / "nameless.yaml")


@pytest.mark.parametrize(("files", "expected"), [
    ({"a.yaml": "extends: b.yaml\nname: a\n", "b.yaml": "extends: a.yaml\nname: b\n"}, "a loop: a.yaml -> b.yaml"),
    ({"a.yaml": "extends: missing.yaml\nname: a\n"}, r"a\.yaml:1.*extends.*missing\.yaml' does not exist"),
])
def test_bad_extends_is_refused(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_experiment(tmp_path / "a.yaml")


def test_unknown_rule_lists_only_the_rules_that_fit_there(tmp_path):
    message = error_for(tmp_path, BASE.replace("rule: {name: stdp, w_max: 2 mV}", "rule: stdpp"))
    assert ("unknown rule 'stdpp' (did you mean 'stdp'?); allowed here: equations, rstdp, static, stdp, "
            "triplet_stdp") in message


def test_a_key_written_twice_names_both_lines(tmp_path):
    message = error_for(tmp_path, BASE.replace("duration: 10 ms\n", "duration: 10 ms\nseed: 1\nduration: 20 ms\n"))
    assert "exp.yaml:4: duration: key written twice, on lines 2 and 4" in message
    nested = BASE.replace("params: {tau_m: 20 ms}", "params: {tau_m: 20 ms, tau_m: 30 ms}")
    assert "populations.a.params.tau_m: key written twice" in error_for(tmp_path, nested)


@pytest.mark.parametrize(("old", "new", "overrides", "expected"), [
    ("tau_m: 20 ms", "tau_m: 20", (), "exp.yaml:4: populations.a.params.tau_m: 20 has no unit; write one, e.g. '20 s'"),
    ("duration: 10 ms", "duration: 0.01", (), "exp.yaml:2: duration: 0.01 has no unit; write one, e.g. '0.01 s'"),
    ("rate: 10 Hz", "rate: 10", (), "populations.src.params.rate: 10 has no unit; write one, e.g. '10 Hz'"),
    ("w_max: 2 mV", "w_max: 2", (), "projections.p.rule.w_max: 2 has no unit; write one, e.g. '2 V'"),
    ("", "", ("dt=1e-4",), "argument 'dt=1e-4': dt: 0.0001 has no unit; write one, e.g. '0.0001 s'"),
    ("", "", ("dt=0.0001",), "argument 'dt=0.0001': dt: 0.0001 has no unit; write one, e.g. '0.0001 s'"),
    ("", "", ("populations.a.params.tau_m=5",), "argument 'populations.a.params.tau_m=5': "
                                                "populations.a.params.tau_m: 5 has no unit; write one, e.g. '5 s'"),
    ("", "", ("dt=5 mV",), "argument 'dt=5 mV': dt: '5 mV' is a voltage but a time is expected (e.g. '5 ms')"),
    ("", "", ("seed=-1",), "argument 'seed=-1': seed: must be greater than or equal to 0 (got -1)"),
    ("", "", ("duration=[1",), "argument 'duration=[1': the value is not valid YAML"),
    ("", "", ("=3",), "argument '=3': an override looks like key.sub=value"),
    ("", "", ("name.x=3",), "argument 'name.x=3': cannot set 'name.x': 'name' is not a mapping or list"),
    ("", "", ("projections.pp.weight=1 mV",), "argument 'projections.pp.weight=1 mV': projections.pp.pre: required "
                                              "key is missing; 'projections.pp' is a new entry (did you mean 'p'?)"),
    ("", "", ("populations.a.params.tau_mm=5 ms",), "argument 'populations.a.params.tau_mm=5 ms': "
                                                    "populations.a.params.tau_mm: unknown key 'tau_mm'"),
])
def test_bare_numbers_and_override_errors_name_the_unit_and_the_argument(tmp_path, old, new, overrides, expected):
    assert old in BASE
    message = error_for(tmp_path, BASE.replace(old, new, 1), overrides)
    assert expected in message, message
    if overrides:
        assert "exp.yaml" not in message, "an override's error names the argument, not a line of the file"


def test_zero_and_python_numbers_need_no_unit(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(BASE.replace("tau_m: 20 ms", "tau_m: 20 ms, e_l: 0, t_ref: 0.0"))
    exp, source = load_experiment(path, ["projections.p.delay=0"])
    build_spiking(exp, source)
    assert source.resolved[("populations", "a", "params")]["e_l"] == "0 mV"  # recorded with its unit
    from biosim.engine.neurons import LIFCuba

    assert LIFCuba(tau_m=0.01, v_th="-50 mV").tau_m == 0.01  # Python: SI floats and unit strings


def test_a_variant_error_points_at_the_variant_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(BASE + "variants:\n  slow: {duration: 2 s}\n  bad:\n    duration: 3 mV\n")
    with pytest.raises(ConfigError, match=r"exp\.yaml:13: duration: '3 mV' is a voltage"):
        load_experiment(path, ["variant=bad"])
    with pytest.raises(ConfigError, match=r"argument 'variant=\[1\]': variant: unknown variant \[1\]"):
        load_experiment(path, ["variant=[1]"])

    with pytest.raises(ConfigError, match=r"argument 'variants.slow.duration=1 s': a variant cannot be changed on the "
                                          r"command line .*e\.g\. variant=slow duration=\.\.\."):
        load_experiment(path, ["variant=slow", "variants.slow.duration=1 s"])  # it would be silently ignored


def test_a_plug_in_that_fails_to_import_fails_again_on_the_next_load(tmp_path):
    """A failed import is not left in sys.modules, where the next load in this process would skip it."""
    (tmp_path / "bad.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "exp.yaml").write_text("name: t\nfamily: spiking\nplugins: [bad.py]\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"plugins\[0\]|plugins.0") as info:
            load_experiment(tmp_path / "exp.yaml")
        assert "cannot import plug-in 'bad.py': RuntimeError: boom" in str(info.value)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: p.mkdir(), "is a directory; give an experiment file (.yaml)"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe"), "is not a text file; give a YAML experiment file"),
    (lambda p: p.write_text("just a sentence"), "an experiment file must be a mapping of keys"),
    (lambda p: p.write_text("name: x\n? [a, b]\n: 1\n"), "exp.yaml:2: not valid YAML: found unhashable key"),
    (lambda p: p.write_text("name: &a {name: *a}\n"), "exp.yaml:1: name.name: a YAML alias (*name) is used inside"),
    (lambda p: p.write_text("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{k}: &{k} [{', '.join([f'*{chr(ord(k) - 1)}'] * 10)}]\n" for k in "bcdefg")), "more than 200000 keys"),
])
def test_a_file_that_is_not_an_experiment_is_one_error(tmp_path, make, expected):
    make(tmp_path / "exp.yaml")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_experiment(tmp_path / "exp.yaml")


def test_a_missing_file_guesses_a_neighbour(tmp_path):
    (tmp_path / "cuba.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError, match=r"does not exist \(did you mean 'cuba.yaml'\?\)"):
        load_experiment(tmp_path / "cubba.yaml")
