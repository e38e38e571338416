"""Pieces shared by the PyTorch families (``layer_local``, ``graph_local``): the checks made before any
compute (the rule plugs into their layers and fits the experiment's task, the dataset is of their kind,
a GPU exists when ``device: cuda`` is asked for, the rule's builder can make a net of these widths on this
data), the run's named random streams as torch generators, nets built and initialised from one of them,
the per-run thread count, and the PCA of hidden activities for embedding plots.

Nothing here seeds or draws from torch's global generator: every random consumer of a run (data split,
validation hold-out, parameter initialisation, batch order, negatives, link split) has its own stream
(``biosim.streams``), so two runs in two threads of one process draw exactly what each draws alone."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field

from biosim.config import Source, instantiate
from biosim.family import Family, Outcome, Run
from biosim.streams import stream, stream_seed
from biosim.torch.results import TrainingResults

if TYPE_CHECKING:
    import torch
    from torch import nn


#: a layer width: positive, and small enough for torch's sizes (int64) and for int32 indices
Width = Annotated[int, Field(gt=0, le=2**31 - 1)]


class BuildError(ValueError):
    """A net that cannot be built from these widths or data; ``key`` is the experiment key at fault."""

    def __init__(self, message: str, key: tuple[str, ...]):
        super().__init__(message)
        self.key = key


def prepare_rule_and_data(exp: Any, source: Source, plugs_into: str, data_kind: str) -> tuple[Any, Any]:
    """Instantiate ``exp.rule`` and ``exp.data``, refusing a rule of another task or a missing GPU."""
    from biosim import registry

    rule = instantiate(exp.rule, "rule", source, ("rule",), kind=("plugs_into", plugs_into))
    if rule.task != exp.task:
        allowed = [n for n in registry.names("rule") if getattr(registry.get("rule", n), "plugs_into", "") ==
                   plugs_into and registry.get("rule", n).task == exp.task]
        raise source.error(f"rule {rule.registry_name!r} is for task {rule.task!r}, not {exp.task!r}; allowed here: "
                           f"{', '.join(allowed)}", ("rule",))
    data = instantiate(exp.data, "dataset", source, ("data",), kind=("kind", data_kind))
    require_device(exp.device, source)
    return rule, data


def require_device(device: str, source: Source) -> None:
    """Refuse ``device: cuda`` (key ``device``) where torch sees no GPU."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise source.error("device 'cuda' was asked for but torch sees no GPU here; allowed: cpu", ("device",))


def load_data(data: Any, seed: int, source: Source) -> Any:
    """``data.load`` with the run's ``"data"`` stream; a file that cannot be read becomes a ConfigError at
    ``data``."""
    try:
        return data.load(stream(seed, "data"))
    except (OSError, ValueError) as err:
        raise source.error(str(err), ("data",)) from None


def check_build(rule: Any, source: Source, **context: Any) -> None:
    """Build ``rule``'s torch net for ``context`` on the meta device (no memory, no random draw): a
    BuildError becomes a ConfigError at the key it names, and a net whose weights and gradients would not fit in
    the available memory is refused at ``hidden``."""
    try:
        net = _build_on_meta(rule, context)
    except BuildError as err:
        raise source.error(str(err), err.key) from None
    except RuntimeError as err:  # torch: a tensor of more bytes than int64 counts
        if "overflow" not in str(err):
            raise
        raise source.error("these widths make a layer of more bytes than torch can count (2^63)", ("hidden",)) from None
    from biosim.memory import available_memory

    tensors = (*net.parameters(), *net.buffers())
    need = sum(t.numel() * t.element_size() for t in tensors)
    free = available_memory()
    if free is not None and 2 * need > free:  # the weights and their gradients, at least
        raise source.error(f"these widths make a net of {need / 1e9:.3g} GB of weights (twice that with gradients), "
                           f"{free / 1e9:.3g} GB available", ("hidden",))


def torch_generator(seed: int, name: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` for the run's consumer ``name`` (its ``biosim.streams`` seed)."""
    import torch

    return torch.Generator(device=device).manual_seed(int(stream_seed(seed, name).generate_state(1, np.uint64)[0]))


def build_net(rule: Any, seed: int, device: str | torch.device = "cpu", **context: Any) -> nn.Module:
    """``rule``'s torch net for ``context``, its parameters and buffers drawn from the run's ``"init"`` stream
    (on the CPU, so a seed gives the same initial net on every device), then moved to ``device``."""
    import torch

    net = _build_on_meta(rule, context).to_empty(device="cpu")
    tensors = [t for t in (*net.parameters(), *net.buffers()) if t.is_floating_point()]
    with torch.no_grad():
        for t in tensors:
            t.fill_(math.nan)  # so that a tensor no initialiser wrote is caught below
    initialise(net, torch_generator(seed, "init"))
    unset = [name for name, t in (*net.named_parameters(), *net.named_buffers())
             if t.is_floating_point() and bool(t.isnan().any())]
    if unset:
        raise RuntimeError(f"{type(net).__name__}: no initialiser wrote {', '.join(unset)}")
    return net.to(device)


def initialise(net: nn.Module, generator: torch.Generator) -> None:
    """Draw every parameter of ``net`` afresh from ``generator``: linear and convolution layers as torch's
    defaults do (Kaiming-uniform weights with a = sqrt(5), biases uniform on +-1/sqrt(fan in)), normalisation
    layers by their own (deterministic) reset, then every module's ``initialise_from(generator)`` where it has
    one (orthogonal weights, fixed random features), innermost first."""
    import torch
    from torch import nn

    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d | nn.LayerNorm):
                module.reset_parameters()
        for module in reversed(list(net.modules())):
            if hasattr(module, "initialise_from"):
                module.initialise_from(generator)


def _build_on_meta(rule: Any, context: dict[str, Any]) -> nn.Module:
    import torch

    with torch.device("meta"):
        return rule.implementation("torch", **context)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` CPU threads for one run (None: leave torch's choice); the caller's count is restored.
    torch's thread count is per process: runs in two threads of one process share it."""
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def embeddings(hidden: list[Any]) -> dict[int, np.ndarray]:
    """Layer -> the PCA of its activities (tensors, items x units), for layers with finite values and more
    than two items."""
    arrays = [h.detach().cpu().numpy() for h in hidden]
    return {k: pca(h) for k, h in enumerate(arrays) if np.isfinite(h).all() and len(h) > 2}


def pca(h: np.ndarray, dims: int = 2) -> np.ndarray:
    """Rows of ``h`` projected on their first ``dims`` principal components (zeros where ``h`` has fewer)."""
    centred = h - h.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:dims].T
    return np.pad(points, ((0, 0), (0, dims - points.shape[1])))


class TorchFamily(Family):
    """A family trained in PyTorch: typed training results, learning-curve and embedding plots, and torch's
    thread count set for each run (the caller's restored after). Subclasses write ``train``."""

    results = TrainingResults
    plots = ("learning_curves", "embeddings")

    def execute(self, prepared: Any, exp: Any, run: Run) -> Outcome:
        with torch_threads(exp.threads):
            return self.train(prepared, exp, run)

    def train(self, prepared: Any, exp: Any, run: Run) -> Outcome:
        raise NotImplementedError
