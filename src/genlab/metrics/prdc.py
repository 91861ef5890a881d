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

from typing import Iterator

import torch

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5
# Rows of one block of distances: 512 x 10,000 float32 is 20 MB, reused from block to block.
BLOCK_ROWS = 512


def squared_distances(a: torch.Tensor, b: torch.Tensor, b_norms: torch.Tensor | None = None,
                      out: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances (N, M) between the rows of a and b (float32; centre them first).

    `b_norms` are b's squared row norms when the caller already has them; `out` an (N, M) buffer to
    fill (a fresh one each block would cost page faults at 10,000 columns).
    """
    b_norms = b.square().sum(1) if b_norms is None else b_norms
    distances = torch.add(a.square().sum(1)[:, None], b_norms[None, :], out=out)
    return distances.addmm_(a, b.T, alpha=-2).clamp_(min=0)  # in place: one (N, M) buffer, not four


def distance_blocks(a: torch.Tensor, b: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, distances) for blocks of `BLOCK_ROWS` rows of a against all of b, in one reused buffer."""
    b_norms = b.square().sum(1)
    buffer = torch.empty(min(BLOCK_ROWS, a.shape[0]), b.shape[0], dtype=a.dtype)
    for start in range(0, a.shape[0], BLOCK_ROWS):
        rows = a[start : start + BLOCK_ROWS]
        yield start, squared_distances(rows, b, b_norms, out=buffer[: rows.shape[0]])


def kth_neighbour_radii(features: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """For each k, the squared distance (N,) from every point to its k-th nearest other point."""
    largest_k = max(ks)
    if features.shape[0] <= largest_k:
        raise ValueError(f"need more than {largest_k} points for k-nearest-neighbour radii, got {features.shape[0]}")
    radii = {k: torch.empty(features.shape[0], dtype=features.dtype) for k in ks}
    for start, block in distance_blocks(features, features):
        # The smallest entry of each row is the point itself (0), so the k-th neighbour is at index k.
        nearest = block.topk(largest_k + 1, dim=1, largest=False).values
        for k in ks:
            radii[k][start : start + block.shape[0]] = nearest[:, k]
    return radii


def centred(real_features: torch.Tensor, fake_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets moved by the real mean, in float32.

    Distances are translation invariant; centring on the real mean keeps float32's |a|^2 + |b|^2 - 2ab
    accurate (its rounding is relative to the squared norms), at a third of float64's time.
    """
    centre = real_features.double().mean(0)
    return (real_features.double() - centre).float(), (fake_features.double() - centre).float()


def real_radii(real_features: torch.Tensor, precision_recall_k: int = PRECISION_RECALL_K,
               density_coverage_k: int = DENSITY_COVERAGE_K) -> dict[int, torch.Tensor]:
    """The real set's k-NN radii that `prdc` needs: they depend on the real features alone, so an
    evaluation can keep them with the cached reference features and pass them back."""
    real, _ = centred(real_features, real_features[:0])
    return kth_neighbour_radii(real, tuple(sorted({precision_recall_k, density_coverage_k})))


def prdc(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    precision_recall_k: int = PRECISION_RECALL_K,
    density_coverage_k: int = DENSITY_COVERAGE_K,
    real_radii_by_k: dict[int, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake_features` against `real_features`.

    `real_radii_by_k`: the output of `real_radii(real_features, ...)` for these features when the
    caller has it (saves one of the three passes over N x N distances); computed here otherwise.
    """
    real_features, fake_features = centred(real_features, fake_features)
    if real_radii_by_k is None:
        real_radii_by_k = kth_neighbour_radii(real_features, tuple(sorted({precision_recall_k, density_coverage_k})))
    real_pr, real_dc = real_radii_by_k[precision_recall_k], real_radii_by_k[density_coverage_k]
    if real_pr.shape[0] != real_features.shape[0]:
        raise ValueError(f"{real_pr.shape[0]} real radii for {real_features.shape[0]} real features")
    fake_radii = kth_neighbour_radii(fake_features, (precision_recall_k,))[precision_recall_k]

    fake_in_real = torch.zeros(fake_features.shape[0], dtype=torch.bool)
    real_balls_per_fake = torch.zeros(fake_features.shape[0], dtype=torch.int64)
    real_in_fake = torch.zeros(real_features.shape[0], dtype=torch.bool)
    real_covered = torch.zeros(real_features.shape[0], dtype=torch.bool)
    inside = torch.empty(min(BLOCK_ROWS, real_features.shape[0]), fake_features.shape[0], dtype=torch.bool)
    for start, distances in distance_blocks(real_features, fake_features):  # (block, n_fake)
        stop = start + distances.shape[0]
        mask = inside[: distances.shape[0]]
        # Masks are reduced as uint8 (amax for "any", an int32 sum for counts): torch's bool any/sum
        # are 10-25x slower than these byte reductions.
        torch.lt(distances, real_pr[start:stop, None], out=mask)
        fake_in_real |= mask.view(torch.uint8).amax(0).bool()
        torch.lt(distances, real_dc[start:stop, None], out=mask)
        real_balls_per_fake += mask.view(torch.uint8).sum(0, dtype=torch.int32)
        # Covered: the nearest fake lies inside the real point's ball, i.e. any fake does.
        real_covered[start:stop] = mask.view(torch.uint8).amax(1).bool()
        torch.lt(distances, fake_radii[None, :], out=mask)
        real_in_fake[start:stop] = mask.view(torch.uint8).amax(1).bool()
    return {
        "precision": float(fake_in_real.double().mean()),
        "recall": float(real_in_fake.double().mean()),
        "density": float(real_balls_per_fake.double().mean() / density_coverage_k),
        "coverage": float(real_covered.double().mean()),
    }
