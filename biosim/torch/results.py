"""The typed results of the PyTorch families, saved as one ``results.npz`` (arrays plus a JSON header)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

SCORES = {"accuracy": "accuracy", "roc_auc": "ROC-AUC", "mse": "reconstruction MSE"}  # name -> axis label
SMALLER_IS_BETTER = ("mse",)  # every other score: larger is better


def score_name(key: str) -> str:
    """A record's score key as the console says it: 'val_roc_auc' -> 'val ROC-AUC'."""
    split, _, score = key.partition("_")
    return f"{split} {SCORES.get(score, score.replace('_', ' '))}"


@dataclass
class TrainingResults:
    """A trained stack's learning curves and the test items' hidden activities, for the plots.

    ``history`` holds one record per recorded epoch (``stage``, ``epoch``, ``group_loss`` per group,
    ``train_/val_/test_<score>``, the rule's statistics); ``score`` names the score those keys carry
    (a key of ``biosim.torch.trainer.SCORES``: accuracy, roc_auc or mse)."""

    title: str
    rule: str
    score: str
    groups: list[str]  # a label per parameter group (loss curve)
    history: list[dict[str, Any]]
    labels: np.ndarray  # class of each embedded item
    embeddings: dict[int, np.ndarray] = field(default_factory=dict)  # layer -> (items x 2) PCA of its activities
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # the data split and other named arrays

    FILE: ClassVar[str] = "results.npz"

    @property
    def score_label(self) -> str:
        """The score's name on plot axes (e.g. ROC-AUC)."""
        return SCORES[self.score]

    def save(self, run_dir: Path) -> Path:
        path = Path(run_dir) / self.FILE
        meta = {"title": self.title, "rule": self.rule, "score": self.score, "groups": self.groups,
                "history": self.history}
        np.savez_compressed(path, _meta=np.array(json.dumps(meta)), labels=self.labels,
                            **{f"pca_layer{k}": v for k, v in self.embeddings.items()}, **self.arrays)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> TrainingResults:
        with np.load(Path(run_dir) / cls.FILE) as data:
            meta = json.loads(str(data["_meta"]))
            embeddings = {int(k.removeprefix("pca_layer")): data[k] for k in data.files if k.startswith("pca_layer")}
            arrays = {k: data[k] for k in data.files if k not in ("_meta", "labels") and not k.startswith("pca_layer")}
            return cls(meta["title"], meta["rule"], meta["score"], meta["groups"], meta["history"], data["labels"],
                       dict(sorted(embeddings.items())), arrays)
