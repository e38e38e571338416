"""Pieces shared by the PyTorch families (``layer_local``, ``graph_local``): the checks made before any
compute (the rule plugs into their layers and fits the experiment's task, the dataset is of their kind,
a GPU exists when ``device: cuda`` is asked for), per-run torch settings, and the PCA of hidden activities
for embedding plots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from biosim.config import Source, instantiate


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


def pca(h: np.ndarray, dims: int = 2) -> np.ndarray:
    """Rows of ``h`` projected on their first ``dims`` principal components."""
    centred = h - h.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dims].T
