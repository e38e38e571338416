"""Rate and Hebbian learning rules on a rate projection (plug into ``rate_projection``, declared with its network in
``biosim.networks.rate_hebbian.target``, which states the kernel contract). One module per kind of rule."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from biosim.networks.rate_hebbian.target import RATE_PROJECTION
from biosim.targets import Rule


class RateRule(Rule):
    """A rule on the weights of a rate projection, learning rate ``eta`` per sample."""

    plugs_into: ClassVar[str] = RATE_PROJECTION
    orthonormal_rows: ClassVar[bool] = False  # its rows converge to k orthonormal vectors, which needs k <= n
    # what the rows converge to, for the run's summary: "principal subspace", "ordered eigenvectors" (row i to
    # eigenvector i), "first principal component" (every row), or "" (judged by other measures)
    fixed_point: ClassVar[str] = ""
    eta: float = Field(0.005, gt=0, description="learning rate (dimensionless, per sample; the update of a batch "
                                                 "is the mean over its samples)")
