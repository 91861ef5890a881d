"""Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its points, each ball reaching the point's k-th
nearest neighbour in the same set (the point itself excluded).

- precision: share of generated points inside the real manifold (k = 3) — quality;
- recall: share of real points inside the generated manifold (k = 3) — diversity;
- density: how many real balls (k = 5) contain each generated point, divided by k, averaged — a
  quality measure that does not saturate and is ~1 when the two sets match;
- coverage: share of real points whose ball (k = 5) contains at least one generated point.

Distances are Euclidean in the evaluator's feature space, computed in blocks so 10,000 x 10,000
pairs never sit in memory at once. The formulas follow the authors' reference code
(clovaai/generative-evaluation-prdc).
"""

from __future__ import annotations

import torch

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5
BLOCK_ROWS = 1024


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (N, M) between the rows of a and b (float32; centre them first)."""
    distances = a.square().sum(1)[:, None] + b.square().sum(1)[None, :]
    return distances.addmm_(a, b.T, alpha=-2).clamp_(min=0)  # in place: one (N, M) buffer, not four


def kth_neighbour_radii(features: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """For each k, the squared distance (N,) from every point to its k-th nearest other point."""
    largest_k = max(ks)
    if features.shape[0] <= largest_k:
        raise ValueError(f"need more than {largest_k} points for k-nearest-neighbour radii, got {features.shape[0]}")
    radii: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    for start in range(0, features.shape[0], BLOCK_ROWS):
        block = squared_distances(features[start : start + BLOCK_ROWS], features)
        # The smallest entry of each row is the point itself (0), so the k-th neighbour is at index k.
        nearest = block.topk(largest_k + 1, dim=1, largest=False).values
        for k in ks:
            radii[k].append(nearest[:, k])
    return {k: torch.cat(parts) for k, parts in radii.items()}


def prdc(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    precision_recall_k: int = PRECISION_RECALL_K,
    density_coverage_k: int = DENSITY_COVERAGE_K,
) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake_features` against `real_features`."""
    # Distances are translation invariant; centring on the real mean keeps float32's |a|^2 + |b|^2 - 2ab
    # accurate (its rounding is relative to the squared norms), at a third of float64's time.
    centre = real_features.double().mean(0)
    real_features = (real_features.double() - centre).float()
    fake_features = (fake_features.double() - centre).float()
    ks = tuple(sorted({precision_recall_k, density_coverage_k}))
    real_radii = kth_neighbour_radii(real_features, ks)
    fake_radii = kth_neighbour_radii(fake_features, (precision_recall_k,))[precision_recall_k]
    real_pr, real_dc = real_radii[precision_recall_k], real_radii[density_coverage_k]

    fake_in_real = torch.zeros(fake_features.shape[0], dtype=torch.bool)
    real_balls_per_fake = torch.zeros(fake_features.shape[0], dtype=torch.int64)
    real_in_fake = torch.zeros(real_features.shape[0], dtype=torch.bool)
    real_covered = torch.zeros(real_features.shape[0], dtype=torch.bool)
    for start in range(0, real_features.shape[0], BLOCK_ROWS):
        stop = start + BLOCK_ROWS
        distances = squared_distances(real_features[start:stop], fake_features)  # (block, n_fake)
        fake_in_real |= (distances < real_pr[start:stop, None]).any(0)
        real_balls_per_fake += (distances < real_dc[start:stop, None]).sum(0)
        real_in_fake[start:stop] = (distances < fake_radii[None, :]).any(1)
        real_covered[start:stop] = distances.min(1).values < real_dc[start:stop]
    return {
        "precision": float(fake_in_real.double().mean()),
        "recall": float(real_in_fake.double().mean()),
        "density": float(real_balls_per_fake.double().mean() / density_coverage_k),
        "coverage": float(real_covered.double().mean()),
    }
