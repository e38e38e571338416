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
    """A task sequence learned by a rate or spiking MLP or CNN under one continual-learning rule (family
    ``continual``)."""

    family: str = "continual"
    scenario: Literal["permuted", "split"] = Field(
        "permuted", description="permuted: every task a pixel permutation, shared head; split: classes in "
                                "consecutive groups, one head per task")
    tasks: int = Field(5, ge=1, description="tasks in the sequence")
    rule: Spec = "hlop"
    architecture: Literal["mlp", "cnn"] = Field(
        "mlp", description="mlp: fully connected hidden layers; cnn: k x k convolutions (stride 1, same padding) "
                           "on the images, each followed by batch normalisation (fixed after the first task), the "
                           "neurons and 2 x 2 average pooling (split scenario only)")
    hidden: list[Width] = Field([100, 100], min_length=1, description="hidden layer widths (mlp) or convolution "
                                                                     "channels (cnn); no biases")
    kernel: int | None = Field(None, ge=1, description="convolution kernel size k (cnn only; odd; unset: 3)")
    neuron: Neuron = Field("relu", description="relu: rate net (ReLU); dsr: DSR spiking neurons (gradients through the "
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
    image: tuple[int, ...]  # the inputs' shape (H, W, C for images; flat in the tasks)


def prepare(exp: ContinualExperiment, source: Source) -> Prepared:
    """The rule, the tasks, and every check that needs no training: the rule's kind, a GPU when asked for,
    tasks against classes, subspace sizes against the shared layers' count and widths."""
    from biosim.networks.continual import tasks as sequences
    from biosim.networks.continual.target import CONTINUAL_LEARNING

    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", CONTINUAL_LEARNING.registry_name))
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", "images"))
    require_device(exp.device, source)
    if exp.architecture == "mlp" and exp.kernel is not None:
        raise source.error("kernel is the convolution size of architecture: cnn; an mlp has none", ("kernel",))
    if exp.architecture == "cnn" and exp.scenario == "permuted":
        raise source.error("a cnn needs the pixels in place, and permuted tasks scramble them: use scenario: split "
                           "with architecture: cnn, or architecture: mlp", ("architecture",))
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
    image = tuple(split.train_x.shape[1:]) + (1,) * (split.train_x.ndim == 3)
    widths = input_widths(exp, image, source)
    if hasattr(rule, "k_per_task"):
        check_rows(rule, exp.tasks, widths[:len(exp.hidden) + (exp.scenario == "permuted")], source)
    n_classes = max(len(t.classes) for t in tasks) if exp.scenario == "split" else int(classes.max()) + 1
    return Prepared(rule, tasks, n_classes, image)


def input_widths(exp: ContinualExperiment, image: tuple[int, ...], source: Source) -> list[int]:
    """The input width of every layer, heads last (a convolution's: C k k), checking the cnn against the images."""
    if exp.architecture == "mlp":
        return [int(np.prod(image)), *exp.hidden]
    if len(image) != 3:
        raise source.error(f"a cnn reads images (height x width [x channels]); these inputs have shape {image}",
                           ("architecture",))
    H, W, C = image
    L = len(exp.hidden)
    if kernel(exp) % 2 == 0:
        raise source.error(f"kernel must be odd (same padding keeps the image size), not {exp.kernel}", ("kernel",))
    if H % 2 ** L or W % 2 ** L:
        most = min(_twos(H), _twos(W))
        advice = (f"use at most {most} layers in hidden" if most else
                  "an odd side cannot be pooled: use architecture: mlp")
        raise source.error(f"{L} convolutions each halve the {H} x {W} images by 2 x 2 pooling: {H} and {W} must be "
                           f"divisible by {2 ** L}; {advice}", ("hidden",))
    k2 = kernel(exp) ** 2
    return [C * k2, *(c * k2 for c in exp.hidden[:-1]), exp.hidden[-1] * (H >> L) * (W >> L)]


def kernel(exp: ContinualExperiment) -> int:
    """The cnn's kernel size k (3 unless set)."""
    return exp.kernel or 3


def _twos(n: int) -> int:
    """How many times 2 divides n."""
    return (n & -n).bit_length() - 1


def check_rows(rule: Any, tasks: int, shared: list[int], source: Source) -> None:
    """A subspace rule's sizes against the shared layers (input widths ``shared``) and the number of tasks."""
    schedule = isinstance(rule.k_per_task[0], list)
    lists = [("k", rule.k)] + ([(f"k_per_task[{t}]", rows) for t, rows in enumerate(rule.k_per_task)] if schedule
                                else [("k_per_task", rule.k_per_task)])
    for name, rows in lists:
        if len(rows) != len(shared):
            raise source.error(f"{name} needs one entry per shared layer: {len(shared)} (input widths "
                               f"{', '.join(map(str, shared))}), not {len(rows)}", ("rule", name.split("[")[0]))
    if schedule and len(rule.k_per_task) < tasks - 1:
        raise source.error(f"k_per_task as a schedule needs one list per later task: {tasks - 1}, not "
                           f"{len(rule.k_per_task)}", ("rule", "k_per_task"))
    if isinstance(getattr(rule, "lr", None), list) and len(rule.lr) != len(shared):
        raise source.error(f"lr needs one entry per shared layer: {len(shared)}, not {len(rule.lr)}", ("rule", "lr"))
    for l, n in enumerate(shared):
        total = sum(rule.rows(t)[l] for t in range(tasks))
        if total > n:
            raise source.error(f"layer {l + 1} has {n} inputs, but the {tasks} tasks add {total} subspace rows (k "
                               f"and k_per_task): at most {n} orthonormal rows fit", ("rule", "k"))


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

    from biosim.networks.continual.nets import cnn, make_net, mlp
    from biosim.torch.common import initialise
    from biosim.torch.trainer import Hooks, Schedule, train

    device = torch.device(exp.device)
    rule, tasks, T = prepared.rule, prepared.tasks, exp.tasks
    body = (mlp(tasks[0].train_x.shape[1], list(exp.hidden)) if exp.architecture == "mlp"
            else cnn(prepared.image, list(exp.hidden), kernel(exp)))
    net = make_net(exp.neuron, body, prepared.n_classes, T if exp.scenario == "split" else 1, exp.timesteps)
    initialise(net, torch_generator(exp.seed, "init"))
    net.to(device)
    method = rule.implementation("torch", net=net, generator=torch_generator(exp.seed, "subspace"))

    def tensors(t: int, part: str) -> tuple[Any, Any, Any]:
        x, y = getattr(tasks[t], f"{part}_x"), getattr(tasks[t], f"{part}_y")
        return (torch.tensor(x, dtype=torch.float32, device=device), torch.tensor(y, dtype=torch.long, device=device),
                torch.full((len(y),), t, dtype=torch.long, device=device))

    test = [tensors(t, "test") for t in range(T)]
    train_sets = [tensors(t, "train") for t in range(T)]

    chunk = max(exp.batch_size, 4096 // net.timesteps)  # items per evaluation pass: memory grows with T

    def accuracy(x, y, task) -> float:
        was = net.training
        net.eval()
        with torch.no_grad():
            predicted = torch.cat([net(x[k:k + chunk], task[k:k + chunk]).argmax(1)
                                   for k in range(0, len(x), chunk)])
        net.train(was)
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
        net.begin_task(t)
        method.begin_task(t)

        def losses(index, active, x=x, y=y, task=task):
            loss = net.loss(x[index], task[index], y[index])
            extra = method.penalty()
            return [loss if extra is None else loss + extra], {}

        def evaluate(stage, epoch, t=t):
            return {"train_accuracy": accuracy(*train_sets[t]), "test_accuracy": accuracy(*test[t])}

        schedule = Schedule(stages=[[0]], epochs=exp.epochs, items=len(y), batch_size=exp.batch_size,
                            seed=int(stream(exp.seed, f"batches task {t}").integers(2**63)))
        # after the first task only weights train (as the official code: thresholds, normalisation frozen)
        params = [p for p in net.parameters() if t == 0 or p.dim() > 1]
        training = train(net, [params], losses, evaluate, schedule,
                         lambda params: torch.optim.SGD(params, lr=exp.lr, momentum=exp.momentum), hooks,
                         stop=lambda: run.stop_requested, log=run.log, device=device)
        history += [{"task": t, **record} for record in training.history]
        epochs_run += training.epochs_run
        if not training.complete:
            complete, reason = False, training.stop_reason
            break
        net.eval()  # the rule's look at the finished task leaves the normalisation's statistics alone
        method.end_task(t, *train_sets[t], exp.batch_size)
        net.train()
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
