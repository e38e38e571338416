"""The one torch trainer: every hook is called and has its effect; stages, early stopping and restore,
divergence and stop requests."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from biosim.family import DIVERGED, INTERRUPTED
from biosim.torch.trainer import Hooks, Schedule, greedy, simultaneous, train

X = torch.linspace(-1, 1, 16).unsqueeze(1)
Y = 3 * X + 1


class Line(nn.Module):
    """y = a x + b with a and b in two groups, each with its own squared-error loss."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))

    def groups(self):
        return [[self.a], [self.b]]

    def losses(self, index, active):
        x, y = (X, Y) if index is None else (X[index], Y[index])
        error = self.a * x + self.b - y
        return [(error**2).mean(), (error**2).mean()], {"error": error.detach().abs().mean()}


def fit(net=None, *, evaluate=lambda stage, epoch: {}, hooks=None, stop=lambda: False, losses=None, **schedule):
    net = net or Line()
    schedule = Schedule(**({"stages": simultaneous(2), "epochs": 3} | schedule))
    training = train(net, net.groups(), losses or net.losses, evaluate, schedule,
                     lambda params: torch.optim.SGD(params, lr=0.1), hooks, stop)
    return net, training


def values(net):
    return net.a.item(), net.b.item()


def test_plain_training_moves_both_groups_and_records_every_epoch():
    net, training = fit()
    assert net.a.item() != 0 and net.b.item() != 0
    assert training.complete and [r["epoch"] for r in training.history] == [0, 1, 2]
    assert len(training.history[0]["group_loss"]) == 2 and training.history[-1]["error"] < training.history[0]["error"]


def test_a_gradient_transform_that_zeroes_gradients_leaves_the_parameters_unchanged():
    calls = []

    def zero(g, params):
        calls.append(g)
        for p in params:
            p.grad.zero_()

    net, _ = fit(hooks=Hooks(transform_gradients=zero))
    assert values(net) == (0.0, 0.0) and calls == [0, 1] * 3
    only_a = fit(hooks=Hooks(transform_gradients=lambda g, params: [p.grad.zero_() for p in params if g == 1]))[0]
    assert only_a.a.item() != 0 and only_a.b.item() == 0  # the transform reaches the group it is called for


def test_a_post_step_update_is_applied_outside_autograd():
    seen = []

    def shrink(g, params):
        seen.append(torch.is_grad_enabled())
        for p in params:
            p.mul_(0.0).add_(7.0)  # in place on a leaf: only allowed without autograd

    net, _ = fit(hooks=Hooks(after_step=shrink), batch_size=4, items=16, epochs=2)
    assert values(net) == (7.0, 7.0) and seen == [False] * (2 * 4 * 2)


def test_extra_optimiser_steps_per_batch_happen():
    """Full batch: 3 steps per batch for 1 epoch are 3 epochs of 1 step, bit for bit."""
    calls = []

    def counted(index, active):
        calls.append(index)
        return net.losses(index, active)

    net = Line()
    fit(net, losses=counted, epochs=1, steps_per_batch=3)
    three_epochs, _ = fit(epochs=3)
    assert len(calls) == 3 and values(net) == values(three_epochs)
    assert values(net) != values(fit(epochs=1)[0])


def test_greedy_stages_train_one_group_after_the_other():
    ends = []
    net = Line()
    fit(net, stages=greedy(2), hooks=Hooks(end_stage=lambda stage: ends.append((stage, *values(net)))))
    (first, a0, b0), (second, a1, b1) = ends
    assert (first, second) == (0, 1) and a0 != 0 and b0 == 0  # stage 0: only group 0 moved
    assert a1 == a0 and b1 != 0  # stage 1: only group 1


def scripted(net, scores, key="val_accuracy"):
    """An evaluate() giving the scripted validation scores and remembering the parameters at each."""
    states = []

    def evaluate(stage, epoch):
        states.append(values(net))
        return {key: scores[len(states) - 1]}

    return evaluate, states


@pytest.mark.parametrize(("score", "key", "scripted_scores"), [
    ("accuracy", "val_accuracy", [0.1, 0.5, 0.2, 0.3, 0.9, 0.9]),
    ("roc_auc", "val_roc_auc", [0.1, 0.5, 0.2, 0.3, 0.9, 0.9]),
    ("mse", "val_mse", [0.9, 0.5, 0.8, 0.7, 0.1, 0.1]),  # smaller is better
])
def test_patience_stops_and_restores_the_best_state(score, key, scripted_scores):
    net = Line()
    evaluate, states = scripted(net, scripted_scores, key)
    _, training = fit(net, evaluate=evaluate, epochs=6, score=score, patience=2, restore_best=True)
    assert [r["epoch"] for r in training.history] == [0, 1, 2, 3]  # two validations without improvement
    assert values(net) == states[1] != states[3] and training.history[-1]["best_epoch"] == 1
    kept = Line()
    evaluate, states = scripted(kept, scripted_scores, key)
    fit(kept, evaluate=evaluate, epochs=6, score=score, patience=2)  # no restore: ends on the last state
    assert values(kept) != states[1]


def test_validation_every_k_epochs_and_the_last():
    net = Line()
    evaluate, states = scripted(net, [0.0] * 10)
    _, training = fit(net, evaluate=evaluate, epochs=7, validate_every=3)
    assert [r["epoch"] for r in training.history] == [0, 3, 6] and len(states) == 3


def test_a_nan_loss_stops_and_keeps_the_records():
    net = Line()
    calls = []

    def diverging(index, active):
        calls.append(index)
        losses, stats = net.losses(index, active)
        return ([loss * math.nan for loss in losses] if len(calls) > 2 else losses), stats

    _, training = fit(net, losses=diverging, epochs=5, evaluate=lambda stage, epoch: {"val_accuracy": 0.5})
    assert not training.complete and training.stop_reason == f"{DIVERGED} in the loss" and len(training.history) == 2
    assert math.isfinite(net.a.item()) and math.isfinite(net.b.item())  # no step on the NaN loss


def test_a_stop_request_ends_after_the_epoch_and_restores_the_best():
    net = Line()
    evaluate, states = scripted(net, [0.9, 0.1, 0.1])
    requests = iter([False, True])
    _, training = fit(net, evaluate=evaluate, stop=lambda: next(requests), restore_best=True)
    assert not training.complete and training.stop_reason == INTERRUPTED and len(training.history) == 2
    assert values(net) == states[0] != states[1]


def test_groups_a_loss_leaves_out_are_recorded_as_nan():
    net = Line()
    _, training = fit(net, stages=greedy(2), losses=lambda index, active: (
        [loss if g in active else None for g, loss in enumerate(net.losses(index, active)[0])], {}))
    first, last = training.history[0]["group_loss"], training.history[-1]["group_loss"]
    assert math.isfinite(first[0]) and math.isnan(first[1]) and math.isnan(last[0]) and math.isfinite(last[1])


def test_an_unknown_score_is_refused():
    with pytest.raises(ValueError, match="unknown score 'f1'"):
        Schedule(stages=[[0]], epochs=1, score="f1")
