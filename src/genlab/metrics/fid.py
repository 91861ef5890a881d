"""FID and KID between two sets of features (from an evaluator), by the standard formulas.

FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the two feature sets,
    ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1^1/2 S_2 S_1^1/2)^1/2),
computed in float64 with symmetric eigendecompositions (the matrix square root of a PSD matrix is
then exact up to rounding, and the result is symmetric in its arguments).

KID (Binkowski et al. 2018): the unbiased estimate of the squared MMD with the cubic polynomial
kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets (mean and standard deviation), as
in torchmetrics' `KernelInceptionDistance` but with an explicit generator, so it is reproducible.

genlab computes features once per image set and reuses them for every metric (and caches those of
the real split), so these functions take features, not images. The tests check them against the
closed form for Gaussians and against torchmetrics' `FrechetInceptionDistance` and
`KernelInceptionDistance` run with an evaluator as their feature network.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
# Covariances up to this size are decomposed on one thread: LAPACK's threaded eigensolvers gain nothing on
# a 128 x 128 matrix, and on a busy machine their thread pool turned a 3 ms FID into 0.5-2 s.
SINGLE_THREAD_MAX_DIM = 512
# Subsets per batched kernel product: 8 x 1,000 x 1,000 float32 is a 32 MB buffer.
KID_SUBSETS_PER_BATCH = 8


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    values = features.double()
    if values.shape[0] < 2:
        raise ValueError("FID needs at least two feature vectors per set")
    mean = values.mean(0)
    centred = values - mean
    return mean, centred.T @ centred / (values.shape[0] - 1)


def psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    eigenvalues, eigenvectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance(mean_1: torch.Tensor, cov_1: torch.Tensor, mean_2: torch.Tensor, cov_2: torch.Tensor) -> float:
    """The Fréchet distance between N(mean_1, cov_1) and N(mean_2, cov_2)."""
    mean_1, cov_1, mean_2, cov_2 = (t.double() for t in (mean_1, cov_1, mean_2, cov_2))
    with torch_threads(1 if cov_1.shape[0] <= SINGLE_THREAD_MAX_DIM else torch.get_num_threads()):
        root_1 = psd_sqrt(cov_1)
        middle = root_1 @ cov_2 @ root_1  # PSD, with the same eigenvalues as cov_1 @ cov_2
        trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mean_1 - mean_2).square().sum() + cov_1.trace() + cov_2.trace() - 2 * trace_sqrt
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical sets


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads, then restore the previous number."""
    previous = torch.get_num_threads()
    if count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fid_from_features(features_1: torch.Tensor, features_2: torch.Tensor) -> float:
    """FID between two feature sets (N1, D) and (N2, D)."""
    return frechet_distance(*feature_statistics(features_1), *feature_statistics(features_2))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef: float = 1.0) -> torch.Tensor:
    """(x.y / d + coef) ** degree for every pair of rows: (..., N, M) from (..., N, D) and (..., M, D)."""
    kernel = torch.matmul(x, y.transpose(-1, -2))
    # In place: the (N, M) product is the only buffer (fresh ones cost page faults at this size).
    return kernel.div_(x.shape[-1]).add_(coef).pow_(degree)


def unbiased_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The unbiased MMD^2 estimate between two equal-size sets (..., m, D), polynomial kernel: (...,).

    Leading dimensions are a batch of independent pairs of sets (KID's subsets). Kernel matrices in the
    inputs' dtype (float32 agrees with float64 to ~1e-5 relative at half the time), each reduced before
    the next is made, so only one is ever in memory.
    """
    m = x.shape[-2]
    within = off_diagonal_sum(polynomial_kernel(x, x)) + off_diagonal_sum(polynomial_kernel(y, y))
    return within / (m * (m - 1)) - 2 * matrix_sum(polynomial_kernel(x, y)) / (m * m)


def matrix_sum(matrix: torch.Tensor) -> torch.Tensor:
    """Sum of each matrix (..., m, n), in float64.

    Rows are summed in the matrix's dtype (torch's vectorised pairwise sum keeps a float32 row sum within
    a few units in its last place, many times faster than converting every entry), the row sums in float64.
    """
    return matrix.sum(-1).sum(-1, dtype=torch.float64)


def off_diagonal_sum(matrix: torch.Tensor) -> torch.Tensor:
    """Sum of square matrices (..., m, m) without their diagonals (the i = j terms that would bias MMD^2), in float64."""
    return matrix_sum(matrix) - matrix.diagonal(dim1=-2, dim2=-1).sum(-1, dtype=torch.float64)


def kernel_inception_distance(
    features_1: torch.Tensor,
    features_2: torch.Tensor,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """KID mean and standard deviation over `subsets` random subsets of each set.

    The subset size is capped at the smaller set; the value used is returned with the estimate.
    Subsets are drawn one pair at a time (a permutation of each set, in that order, so a seed gives
    the same subsets whatever the batching) and evaluated `KID_SUBSETS_PER_BATCH` at a time as one
    batched product: a few large operations instead of hundreds of small ones.
    """
    size = min(subset_size, features_1.shape[0], features_2.shape[0])
    if size < 2:
        raise ValueError("KID needs at least two feature vectors per set")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    x_all, y_all = features_1.float(), features_2.float()
    x_index = torch.empty(subsets, size, dtype=torch.int64)
    y_index = torch.empty(subsets, size, dtype=torch.int64)
    for index in range(subsets):
        x_index[index] = torch.randperm(x_all.shape[0], generator=generator)[:size]
        y_index[index] = torch.randperm(y_all.shape[0], generator=generator)[:size]
    values = torch.cat([unbiased_mmd2(x_all[x_index[start : start + KID_SUBSETS_PER_BATCH]],
                                      y_all[y_index[start : start + KID_SUBSETS_PER_BATCH]])
                        for start in range(0, subsets, KID_SUBSETS_PER_BATCH)])
    # The population std over subsets, as torchmetrics reports it.
    return {"kid_mean": float(values.mean()), "kid_std": float(values.std(unbiased=False)), "kid_subset_size": size,
            "kid_subsets": subsets}
