"""Pieces shared by the PyTorch families (``layer_local``, ``graph_local``): the checks made before any
compute (the rule plugs into their layers and fits the experiment's task, the dataset is of their kind,
a GPU exists when ``device: cuda`` is asked for, the rule's builder can make a net of these widths on this
data), per-run torch settings, and the PCA of hidden activities for embedding plots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from biosim.config import Source, instantiate
from biosim.family import Family, Outcome, Run
from biosim.torch.results import TrainingResults


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
    if exp.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise source.error("device 'cuda' was asked for but torch sees no GPU here; allowed: cpu", ("device",))
    return rule, data


def load_data(data: Any, seed: int, source: Source) -> Any:
    """``data.load`` with the run's seed; a file that cannot be read becomes a ConfigError at ``data``."""
    try:
        return data.load(np.random.default_rng(seed))
    except (OSError, ValueError) as err:
        raise source.error(str(err), ("data",)) from None


def check_build(rule: Any, source: Source, **context: Any) -> None:
    """Build ``rule``'s torch net for ``context`` on the meta device (no memory, no draw from torch's
    generators): a BuildError becomes a ConfigError at the key it names."""
    import torch

    try:
        with torch.device("meta"):
            rule.implementation("torch", **context)
    except BuildError as err:
        raise source.error(str(err), err.key) from None


@contextmanager
def torch_settings(seed: int, threads: int | None, device: str) -> Iterator[None]:
    """Seed torch's generators with ``seed`` and use ``threads`` CPU threads for one run; the caller's
    generator states and thread count are restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
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
    """Rows of ``h`` projected on their first ``dims`` principal components."""
    centred = h - h.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dims].T


class TorchFamily(Family):
    """A family trained in PyTorch: typed training results, learning-curve and embedding plots, and torch's seed
    and thread count set for each run (the caller's restored after). Subclasses write ``train``."""

    results = TrainingResults
    plots = ("learning_curves", "embeddings")

    def execute(self, prepared: Any, exp: Any, run: Run) -> Outcome:
        with torch_settings(exp.seed, exp.threads, exp.device):
            return self.train(prepared, exp, run)

    def train(self, prepared: Any, exp: Any, run: Run) -> Outcome:
        raise NotImplementedError
