"""Small tabular data for the wave layers: scikit-learn's bundled wine table as the stand-in for the PhyLL vowel
formants (a few hundred items of about a dozen features), prepared as the PhyLL code prepares the vowels:
z-scored per feature, shifted to be >= 0, split at random (stratified) with the seed."""

from __future__ import annotations

import numpy as np

from biosim.data.images import ImageData
from biosim.registry import register


@register("dataset", "wine")
class Wine(ImageData):
    """scikit-learn's wine recognition data: 178 items, 13 chemical features, 3 cultivars (flat vectors)."""

    def load(self, rng: np.random.Generator):
        from sklearn.datasets import load_wine

        data = load_wine()
        x = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
        return self._split(x - x.min(), data.target.astype(np.int64), rng)
