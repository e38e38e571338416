"""Pieces shared by the PyTorch families (``layer_local``, ``graph_local``): the checks made before any
compute (the rule plugs into their layers and fits the experiment's task, the dataset is of their kind,
a GPU exists when ``device: cuda`` is asked for) and the PCA of hidden activities for embedding plots."""

from __future__ import annotations

from typing import Any

import numpy as np

from biosim.config import Source, instantiate


def prepare_rule_and_data(exp: Any, source: Source, plugs_into: str, data_kind: str) -> tuple[tuple, dict]:
    """Instantiate ``exp.rule`` and ``exp.data``; returns ((rule, data), their resolved config)."""
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
    resolved = {"rule": {"name": rule.registry_name, **rule.model_dump()},
                "data": {"name": data.registry_name, **data.model_dump(mode="json")}}
    return (rule, data), resolved


def pca(h: np.ndarray, dims: int = 2) -> np.ndarray:
    """Rows of ``h`` projected on their first ``dims`` principal components."""
    centred = h - h.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dims].T
