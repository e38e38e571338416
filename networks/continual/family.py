"""The ``continual`` family: a net trained on a sequence of tasks, one rule deciding what protects the old ones.

Each task trains with the one torch trainer (``biosim.torch.trainer.train``, a Schedule per task; the rule's
gradient transform and post-step update as its Hooks); after task t the test accuracy on every task j <= t fills
A[t, j]. ACC = mean_j A[T-1, j], BWT = mean_{j<T-1} (A[T-1, j] - A[j, j]) (fractions). Per task it also records the
protected subspace size and orthonormality error max|H H^T - I| of each shared layer, and the wall time. Ctrl-C (or
a NaN loss) keeps the finished tasks and marks the run incomplete. The data split, the permutations, the initial
weights, the subspace rows' initialisation and each task's batch order draw from their own streams of the seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from biosim import registry
from biosim.config import ExperimentBase, Source, Spec, instantiate
from biosim.family import INTERRUPTED, Family, Outcome, Run, number
from biosim.streams import stream
from biosim.torch.common import Width, load_data, require_device, torch_generator, torch_threads

#: the neuron of the net (``nets.make_net``)
Neuron = Literal["relu", "dsr", "lif_bptt", "lif_ottt"]


class ContinualExperiment(ExperimentBase):
    """A task sequence learned by a rate or spiking MLP under one continual-learning rule (family ``continual``)."""

    family: str = "continual"
    scenario: Literal["permuted", "split"] = Field(
        "permuted", description="permuted: every task a pixel permutation, shared head; split: classes in "
                                "consecutive groups, one head per task")
    tasks: int = Field(5, ge=1, description="tasks in the sequence")
    rule: Spec = "hlop"
    hidden: list[Width] = Field([100, 100], min_length=1, description="hidden layer widths (no bias)")
    neuron: Neuron = Field("relu", description="relu: rate MLP; dsr: DSR spiking neurons (gradients through the "
                                               "weighted firing rate); lif_bptt: multi-step LIF by BPTT; lif_ottt: "
                                               "multi-step LIF by OTTT (presynaptic traces)")
    timesteps: int | None = Field(None, gt=0, description="T steps of repeated input for a spiking neuron "
                                                          "(default: dsr 20, lif_bptt and lif_ottt 6)")
    data: Spec = {"name": "digits", "test_fraction": 0.3, "stratify": True}
    normalise: bool = Field(False, description="standardise the inputs with the training images' pixel mean and "
                                               "standard deviation (one number each, as MNIST's 0.1307, 0.3081)")
    lr: float = Field(0.05, gt=0, description="SGD learning rate")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum")
    batch_size: int = Field(32, gt=0)
    epochs: int = Field(20, ge=1, description="epochs per task")
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    plots: list[str] = ["accuracy_matrix", "task_accuracy", "subspace_sizes"]


@dataclass
class Prepared:
    rule: Any
    tasks: list[Any]
    n_classes: int


def prepare(exp: ContinualExperiment, source: Source) -> Prepared:
    """The rule, the tasks, and every check that needs no training: the rule's kind, a GPU when asked for,
    tasks against classes, subspace sizes against the shared layers' count and widths."""
    from biosim.networks.continual import tasks as sequences
    from biosim.networks.continual.target import CONTINUAL_LEARNING

    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", CONTINUAL_LEARNING.registry_name))
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "images"))
    require_device(exp.device, source)
    if exp.neuron == "relu" and exp.timesteps is not None:
        raise source.error("timesteps is for a spiking neuron (dsr, lif_bptt, lif_ottt); a relu net has none",
                           ("timesteps",))
    split = load_data(data, exp.seed, source)
    if exp.normalise:
        mean, sd = split.train_x.mean(), split.train_x.std()
        split.train_x, split.test_x = (split.train_x - mean) / sd, (split.test_x - mean) / sd
    classes = np.unique(split.train_y)
    if exp.scenario == "split":
        if exp.tasks > len(classes):
            raise source.error(f"split into {exp.tasks} tasks needs at least as many classes; the data has "
                               f"{len(classes)}", ("tasks",))
        tasks = sequences.split_classes(split, exp.tasks)
    else:
        tasks = sequences.permuted(split, exp.tasks, stream(exp.seed, "permutations"))
    n_inputs = tasks[0].train_x.shape[1]
    shared = [n_inputs, *exp.hidden][:len(exp.hidden) + (exp.scenario == "permuted")]
    if hasattr(rule, "k_per_task"):
        for key in ("k", "k_per_task"):
            if len(getattr(rule, key)) != len(shared):
                raise source.error(f"{key} needs one entry per shared layer: {len(shared)} (input widths "
                                   f"{', '.join(map(str, shared))}), not {len(getattr(rule, key))}", ("rule", key))
        if isinstance(getattr(rule, "lr", None), list) and len(rule.lr) != len(shared):
            raise source.error(f"lr needs one entry per shared layer: {len(shared)}, not {len(rule.lr)}",
                               ("rule", "lr"))
        for l, n in enumerate(shared):
            total = rule.k[l] + (exp.tasks - 1) * rule.k_per_task[l]
            if total > n:
                raise source.error(f"layer {l + 1} has {n} inputs, but k + (tasks - 1) k_per_task = {total} "
                                   f"subspace rows: at most {n} orthonormal rows fit", ("rule", "k"))
    n_classes = max(len(t.classes) for t in tasks) if exp.scenario == "split" else int(classes.max()) + 1
    return Prepared(rule, tasks, n_classes)


@dataclass
class ContinualResults:
    """The accuracy matrix (NaN above the diagonal and for unfinished tasks) and the per-task records."""

    title: str
    rule: str
    scenario: str
    accuracy: np.ndarray  # tasks x tasks: A[t, j] after task t on task j
    subspace_sizes: np.ndarray  # tasks x shared layers (rows after task t)
    orthonormality: np.ndarray  # tasks x shared layers, max |H H^T - I| (NaN: no rows)
    task_seconds: np.ndarray  # training wall time per task, s
    layers: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)

    FILE: ClassVar[str] = "results.npz"

    def save(self, run_dir: Path) -> Path:
        import json

        path = Path(run_dir) / self.FILE
        meta = {"title": self.title, "rule": self.rule, "scenario": self.scenario, "layers": self.layers,
                "history": self.history}
        np.savez_compressed(path, _meta=np.array(json.dumps(meta)), accuracy=self.accuracy,
                            subspace_sizes=self.subspace_sizes, orthonormality=self.orthonormality,
                            task_seconds=self.task_seconds)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> ContinualResults:
        import json

        with np.load(Path(run_dir) / cls.FILE) as data:
            meta = json.loads(str(data["_meta"]))
            return cls(meta["title"], meta["rule"], meta["scenario"], data["accuracy"], data["subspace_sizes"],
                       data["orthonormality"], data["task_seconds"], meta["layers"], meta["history"])


def scores(A: np.ndarray, done: int) -> tuple[float, float]:
    """ACC and BWT of the first ``done`` tasks of accuracy matrix ``A`` (NaN without a task; BWT NaN with one)."""
    if done == 0:
        return float("nan"), float("nan")
    last = A[done - 1, :done]
    bwt = float(np.mean(last[:-1] - np.diag(A)[:done - 1])) if done > 1 else float("nan")
    return float(np.mean(last)), bwt


def orthonormality_error(H: Any) -> float:
    """max |H H^T - I| of torch rows ``H`` (the rate Hebbian family's measure, in float64; NaN for no rows)."""
    from biosim.networks.rate_hebbian.model import orthonormality_error as measure

    return measure(H.detach().double().cpu().numpy()) if len(H) else float("nan")


def execute(prepared: Prepared, exp: ContinualExperiment, run: Run) -> Outcome:
    import torch

    from biosim.networks.continual.nets import make_net
    from biosim.torch.common import initialise
    from biosim.torch.trainer import Hooks, Schedule, train

    device = torch.device(exp.device)
    rule, tasks, T = prepared.rule, prepared.tasks, exp.tasks
    net = make_net(exp.neuron, tasks[0].train_x.shape[1], list(exp.hidden), prepared.n_classes,
                   T if exp.scenario == "split" else 1, exp.timesteps)
    initialise(net, torch_generator(exp.seed, "init"))
    net.to(device)
    method = rule.implementation("torch", net=net, generator=torch_generator(exp.seed, "subspace"))

    def tensors(t: int, part: str) -> tuple[Any, Any, Any]:
        x, y = getattr(tasks[t], f"{part}_x"), getattr(tasks[t], f"{part}_y")
        return (torch.tensor(x, dtype=torch.float32, device=device), torch.tensor(y, dtype=torch.long, device=device),
                torch.full((len(y),), t, dtype=torch.long, device=device))

    test = [tensors(t, "test") for t in range(T)]
    train_sets = [tensors(t, "train") for t in range(T)]

    def accuracy(x, y, task) -> float:
        with torch.no_grad():
            predicted = torch.cat([net(x[k:k + 1024], task[k:k + 1024]).argmax(1) for k in range(0, len(x), 1024)])
        return float((predicted == y).float().mean())

    L = len(net.shared_layers())
    A = np.full((T, T), np.nan)
    sizes, ortho, seconds = np.zeros((T, L), np.int64), np.full((T, L), np.nan), np.full(T, np.nan)
    history: list[dict[str, Any]] = []
    hooks = Hooks(transform_gradients=lambda g, params: method.transform_gradients(),
                  after_step=lambda g, params: method.after_step())
    done, complete, reason, epochs_run = 0, True, None, 0
    start_all = time.perf_counter()
    for t in range(T):
        start = time.perf_counter()
        x, y, task = (torch.cat(parts) for parts in zip(*(train_sets[s] for s in method.training_tasks(t)),
                                                             strict=True))
        method.begin_task(t)

        def losses(index, active, x=x, y=y, task=task):
            loss = net.loss(x[index], task[index], y[index])
            extra = method.penalty()
            return [loss if extra is None else loss + extra], {}

        def evaluate(stage, t=t):
            return {"train_accuracy": accuracy(*train_sets[t]), "test_accuracy": accuracy(*test[t])}

        schedule = Schedule(stages=[[0]], epochs=exp.epochs, items=len(y), batch_size=exp.batch_size,
                            seed=int(stream(exp.seed, f"batches task {t}").integers(2**63)))
        # after the first task only weights train (as the official code: thresholds frozen)
        params = [p for p in net.parameters() if t == 0 or p.dim() > 1]
        training = train(net, [params], losses, evaluate, schedule,
                         lambda params: torch.optim.SGD(params, lr=exp.lr, momentum=exp.momentum), hooks,
                         stop=lambda: run.stop_requested, log=run.log, device=device)
        history += [{"task": t, **record} for record in training.history]
        epochs_run += len(training.history)
        if not training.complete:
            complete, reason = False, training.stop_reason
            break
        method.end_task(t, *train_sets[t], exp.batch_size)
        seconds[t] = time.perf_counter() - start
        A[t, :t + 1] = [accuracy(*test[j]) for j in range(t + 1)]
        for l, H in enumerate(method.subspaces()):
            sizes[t, l], ortho[t, l] = len(H), orthonormality_error(H)
        done = t + 1
        acc, bwt = scores(A, done)
        run.log.info("task %d: accuracy on tasks 0..%d %s; ACC %s, BWT %s", t, t,
                     " ".join(number(a, 3) for a in A[t, :t + 1]), number(acc, 3), number(bwt, 3))
        if run.stop_requested and t < T - 1:
            complete, reason = False, INTERRUPTED
            break
    train_s = time.perf_counter() - start_all
    acc, bwt = scores(A, done)
    names = [f"layer {l + 1} ({layer.weight.shape[1]} inputs)" for l, layer in enumerate(net.shared_layers())]
    metrics = {"rule": rule.registry_name, "scenario": exp.scenario, "tasks": T, "tasks_completed": done,
               "average_accuracy": acc, "backward_transfer": bwt, "accuracy_matrix": A.tolist(),
               "subspace_sizes": sizes[:done].tolist(), "orthonormality_error": ortho[:done].tolist(),
               "task_seconds": seconds[:done].tolist(), "train_s": train_s,
               "epochs_per_s": epochs_run / train_s if train_s else None, "device": exp.device}
    results = ContinualResults(exp.description or exp.name, rule.registry_name, exp.scenario, A, sizes, ortho,
                               seconds, names, history)
    return Outcome(metrics, results, complete, reason)


@registry.register("family", "continual")
class Continual(Family):
    """A task sequence learned by a torch net under a continual-learning rule."""

    schema = ContinualExperiment
    results = ContinualResults
    plots = ("accuracy_matrix", "task_accuracy", "subspace_sizes")
    prepare = staticmethod(prepare)

    def execute(self, prepared: Prepared, exp: ContinualExperiment, run: Run) -> Outcome:
        with torch_threads(exp.threads):
            return execute(prepared, exp, run)

    def summary(self, metrics: dict[str, Any]) -> str:
        return (f"{metrics['rule']} ({metrics['scenario']}, {metrics['tasks_completed']}/{metrics['tasks']} tasks): "
                f"ACC {number(metrics['average_accuracy'], 3)}, BWT {number(metrics['backward_transfer'], 3)}")
