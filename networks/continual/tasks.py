"""Task sequences made from one image data split.

* ``permuted`` (domain-incremental, shared head): task t is the whole data set with pixel permutation t; every task
  is permuted (as GPM's PMNIST loader does), the permutations drawn from the run's ``"permutations"`` stream.
* ``split`` (task-incremental, one head per task): the classes in consecutive groups (``numpy.array_split`` of
  the sorted classes, so 10 classes in 5 tasks are {0, 1}, {2, 3}, ...), labels renumbered within each group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Task:
    """One task: flat inputs (items x pixels) and labels within the task, train and test; ``classes`` are the
    source classes it holds."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: np.ndarray


def permuted(split, tasks: int, rng: np.random.Generator) -> list[Task]:
    """``tasks`` copies of the split, copy t under pixel permutation t (drawn from ``rng``)."""
    train, test = _flat(split.train_x), _flat(split.test_x)
    classes = np.unique(split.train_y)
    perms = [rng.permutation(train.shape[1]) for _ in range(tasks)]
    return [Task(train[:, p], split.train_y, test[:, p], split.test_y, classes) for p in perms]


def split_classes(split, tasks: int) -> list[Task]:
    """The classes in ``tasks`` consecutive groups; each task's labels are positions within its group."""
    train, test = _flat(split.train_x), _flat(split.test_x)
    out = []
    for group in np.array_split(np.unique(split.train_y), tasks):
        a, b = np.isin(split.train_y, group), np.isin(split.test_y, group)
        out.append(Task(train[a], np.searchsorted(group, split.train_y[a]), test[b],
                        np.searchsorted(group, split.test_y[b]), group))
    return out


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)
