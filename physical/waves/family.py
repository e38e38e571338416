"""The ``physical`` family: a stack of frozen physical blocks, each followed by a trained digital linear map,
trained layer-locally without any gradient through the physics (PhyLL, Momeni et al. 2023; or forward-forward /
SymBa on the same stack, one YAML line).

It is the ``layer_local`` family (same data handling, trainer, metrics and figures) with ``physics``: the medium
before every layer (one spec for all layers, one per layer, or null for the digital control), built once per run
from the ``"physics"`` stream of the seed (layer 0 reads the input with its label embedded; layer k the previous
layer's normalised output) and frozen. Extra metrics: physical calls and digital multiply-accumulates per
training sample and epoch.
"""

from __future__ import annotations

from pydantic import Field

from biosim import registry
from biosim.config import Source, Spec, instantiate
from biosim.family import Outcome, Run
from biosim.networks.layer_local import family as layer_local
from biosim.params import Params
from biosim.streams import stream
from biosim.torch.common import check_build


class Perturbation(Params):
    """A one-off change of the physics during training (drift)."""

    epoch: int = Field(..., ge=1, description="the change comes after this epoch (1-based)")
    amount: float = Field(0.1, gt=0, lt=1, description="relative change of each medium (its matrix, or speed map)")


class PhysicalExperiment(layer_local.LayerLocalExperiment):
    """Physical blocks with trained digital maps, trained forward-only (family ``physical``)."""

    family: str = "physical"
    rule: Spec = "phyll"
    physics: Spec | list[Spec] | None = Field(
        None, description="the frozen medium before each layer (scattering, wave_1d, wave_2d, oscillators): one "
                          "spec for every layer or a list with one per layer; null: no physics (digital control)")
    skip: bool = Field(False, description="each digital map also reads its block's input: [P(u), u]")
    perturbation: Perturbation | None = Field(
        None, description="change every physical block once during training (drift): after epoch `epoch` (1-based)"
                          " by the relative `amount`; a physics-aware twin does not learn of it")


def takes_fronts(rule) -> bool:
    """Whether the rule's torch builder puts frozen fronts (physical blocks) before its layers."""
    import inspect

    return "fronts" in inspect.signature(registry.builder(rule, "torch")).parameters


def prepare(exp: PhysicalExperiment, source: Source) -> layer_local.Prepared:
    """The layer-local preparation, then each layer's medium built for its input width."""
    from biosim.physical.waves.front import PhysicalFront

    prepared = layer_local.load(exp, source)
    if exp.physics is not None:
        if not takes_fronts(prepared.rule):
            allowed = [name for name in registry.names("rule") if getattr(registry.get("rule", name), "plugs_into",
                                                                          None) == prepared.rule.plugs_into
                       and takes_fronts(registry.get("rule", name)())]
            raise source.error(f"rule {prepared.rule.registry_name!r} cannot train through physical blocks (no "
                               f"gradient passes them); allowed with physics: {', '.join(allowed)}", ("rule",))
        specs = exp.physics if isinstance(exp.physics, list) else [exp.physics] * len(exp.hidden)
        if len(specs) != len(exp.hidden):
            raise source.error(f"physics needs one medium per layer: {len(exp.hidden)}, not {len(specs)}",
                               ("physics",))
        widths = input_widths(exp, prepared)
        rng, twin_rng = stream(exp.seed, "physics"), stream(exp.seed, "twins")
        fronts = []
        for k, (spec, n) in enumerate(zip(specs, widths, strict=True)):
            loc = ("physics", k) if isinstance(exp.physics, list) else ("physics",)
            params = instantiate(spec, "physics", source, loc)
            try:
                fronts.append(PhysicalFront(params.build(n, rng), exp.skip, twin_rng))
            except ValueError as err:
                raise source.error(f"layer {k + 1} ({n} inputs): {err}", loc) from None
        prepared.context["fronts"] = fronts
    elif exp.skip or exp.perturbation:
        key = "skip" if exp.skip else "perturbation"
        raise source.error(f"{key} acts on physical blocks; with physics: null there are none", (key,))
    if exp.perturbation and exp.validate_every != 1:
        raise source.error(f"a perturbation's recovery is counted in epochs, each scored: validate_every must be 1, "
                           f"not {exp.validate_every}", ("validate_every",))
    if exp.perturbation and exp.perturbation.epoch >= exp.epochs:
        raise source.error(f"the perturbation after epoch {exp.perturbation.epoch} leaves no epoch of the "
                           f"{exp.epochs} to recover in", ("perturbation", "epoch"))
    check_build(prepared.rule, source, **layer_local.net_context(exp, prepared))
    return prepared


def input_widths(exp: PhysicalExperiment, prepared: layer_local.Prepared) -> list[int]:
    """The input width of each layer's block: the data (with the label for the forward-forward family), then
    the previous layer's width."""
    context = layer_local.net_context(exp, prepared)
    first = context["n_inputs"] + (context["n_classes"] if prepared.rule.embeds_label else 0)
    return [first, *exp.hidden[:-1]]


def execute(prepared: layer_local.Prepared, exp: PhysicalExperiment, run: Run) -> Outcome:
    fronts = prepared.context.get("fronts")
    change = exp.perturbation
    rng = stream(exp.seed, "perturbation")

    def after_epoch(epoch: int, score) -> dict:
        if change is None or epoch + 1 != change.epoch:
            return {}
        for front in fronts:  # the real media change; a twin keeps the media it was built from
            front.medium = front.medium.perturbed(change.amount, rng)
        accuracy = score()["test_accuracy"]
        run.log.info("physics perturbed by %g after epoch %d: test accuracy %.4f before retraining", change.amount,
                     change.epoch, accuracy)
        return {"perturbed": 1.0, "test_accuracy_after_change": accuracy}

    def picture(net, x, y) -> dict:
        """The first block's picture for the first test item (with its label, where the rule embeds one)."""
        if not fronts:
            return {}
        import torch

        with torch.no_grad():
            u = net.embed(x[:1], y[:1]) if prepared.rule.embeds_label else x[:1]
        return fronts[0].medium.picture(u[0].cpu().double().numpy()) | {"picture_label": y[:1].cpu().numpy()}

    outcome = layer_local.execute(prepared, exp, run, after_epoch, picture)
    if change is not None:
        outcome.metrics.update(recovery(outcome.results.history, change.epoch))
    widths = input_widths(exp, prepared)
    ins = [f.width(n) for f, n in zip(fronts, widths, strict=True)] if fronts else widths
    # per training sample and epoch: every step passes the sample (the forward-forward family: a positive and a
    # negative copy) through every layer; backward about twice the forward
    passes = (2 if prepared.rule.embeds_label else 1) * exp.steps_per_batch
    outcome.metrics["physical_calls_per_sample"] = passes * len(fronts) if fronts else 0
    outcome.metrics["digital_macs_per_sample"] = 3 * passes * sum(a * b for a, b in zip(ins, exp.hidden,
                                                                                          strict=True))
    return outcome


def recovery(history: list[dict], epoch: int) -> dict[str, float | None]:
    """Test accuracy just before the perturbation (after epoch ``epoch``, 1-based), right after it (no training
    yet), its lowest value in the later epochs, and the epochs of training after it until the accuracy is back
    within 1 point of before (None: not within the run)."""
    accuracy = [record["test_accuracy"] for record in history]
    before, after = accuracy[epoch - 1], accuracy[epoch:]
    back = next((k + 1 for k, a in enumerate(after) if a >= before - 0.01), None)
    return {"accuracy_before_perturbation": before,
            "accuracy_right_after_perturbation": history[epoch - 1]["test_accuracy_after_change"],
            "lowest_after_perturbation": min(after) if after else None, "epochs_to_recover": back}


@registry.register("family", "physical")
class Physical(layer_local.LayerLocal):
    """Frozen physical blocks with trained digital maps, trained forward-only."""

    schema = PhysicalExperiment
    plots = (*layer_local.LayerLocal.plots, "perturbation_recovery", "physics_picture")
    prepare = staticmethod(prepare)
    train = staticmethod(execute)
