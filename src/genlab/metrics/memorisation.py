"""Memorisation: are samples closer to the images a model trained on than to images it never saw?

In evaluator feature space, each sample's nearest-neighbour (NN) distance is measured to the training
images and to an equal number of held-out images (the same count on both sides, because a larger set
has nearer neighbours by chance alone):

- `memorisation_ratio` = mean NN distance of the samples to the training images / to the held-out
  images. A model that generalises is as near to both (~1); one that copies its training images is
  nearer to them (< 1). Samples that are poor are far from both, so quality alone does not move it.
- `copy_share` = the share of samples whose NN distance to the training images is below the 5th
  percentile of the held-out images' NN distances to the training images: about 0.05 for samples that
  are new draws from the data, near 1 for copies.

When the training split is larger than the held-out one, an equal-sized random part of it is used,
so only copies of that part count: with T training and H held-out images, a model copying its
training set at random scores copy_share of about H / T (plus 0.05 of the rest).
"""

from __future__ import annotations

import torch

from genlab.errors import GenlabError
from genlab.metrics.calibration import nearest_distances

COPY_QUANTILE = 0.05


def memorisation(sample_features: torch.Tensor, train_features: torch.Tensor,
                 heldout_features: torch.Tensor) -> dict[str, float]:
    """memorisation_ratio and copy_share of samples, from evaluator features (rows) of samples, training
    images and held-out images; the two real sets must have the same number of rows."""
    if train_features.shape[0] != heldout_features.shape[0] or heldout_features.shape[0] < 2:
        raise GenlabError(f"memorisation compares equal real sets of at least 2 images; got {train_features.shape[0]} "
                          f"training and {heldout_features.shape[0]} held-out: draw the same number from each")
    to_train = nearest_distances(sample_features, train_features)
    to_heldout = nearest_distances(sample_features, heldout_features)
    heldout_to_train = nearest_distances(heldout_features, train_features)
    threshold = float(heldout_to_train.double().quantile(COPY_QUANTILE))
    return {"memorisation_ratio": float(to_train.double().mean() / to_heldout.double().mean().clamp(min=1e-12)),
            "copy_share": float((to_train <= threshold).double().mean()),
            "copy_threshold": threshold}
