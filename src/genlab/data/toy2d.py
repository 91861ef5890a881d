"""`toy2d`: 2-D Gaussian mixtures with known modes, for checking mode coverage of generative models.

`toy2d_modes` counts the modes that samples cover (Srivastava et al. 2017, Lin et al. 2018): the one
rule used by the evaluation metric `modes` and by the trainer's sample diagnostics.
"""

from __future__ import annotations

import math

import torch

from genlab.data.options import dataset_options
from genlab.data.registry import DataConfig, Dataset, register_dataset
from genlab.errors import GenlabError


def ring_modes(count: int = 8, radius: float = 2.0) -> torch.Tensor:
    """`count` points evenly spaced on a circle, (count, 2)."""
    angles = torch.arange(count, dtype=torch.float64) * (2 * math.pi / count)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_modes(values: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)) -> torch.Tensor:
    """A square grid over `values` x `values`, (len(values) ** 2, 2)."""
    axis = torch.tensor(values, dtype=torch.float32)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([rows.flatten(), cols.flatten()], dim=1)


LAYOUTS = {
    "ring-8": (ring_modes, 0.02),  # (modes, standard deviation of each Gaussian)
    "grid-25": (grid_modes, 0.05),
}


def draw_points(
    modes: torch.Tensor, std: float, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` points (count, 2) from an equal-weight mixture, and the mode each came from."""
    labels = torch.randint(0, modes.shape[0], (count,), generator=generator)
    noise = torch.randn(count, 2, generator=generator)
    return modes[labels] + std * noise, labels


HIGH_QUALITY_STDS = 3.0
PACGAN_MIN_SAMPLES = (20, 2500)  # a toy2d mode needs 20 high-quality samples out of every 2,500


def toy2d_modes(samples: torch.Tensor, modes: torch.Tensor, std: float) -> dict[str, object]:
    """Modes covered, share of high-quality samples and the mode histogram of 2-D `samples` (N, 2)."""
    samples = samples.double().cpu()
    modes = modes.double().cpu()
    distances = torch.cdist(samples, modes)  # (N, modes)
    nearest_distance, nearest = distances.min(1)
    high_quality = nearest_distance <= HIGH_QUALITY_STDS * std
    counts = torch.bincount(nearest[high_quality], minlength=modes.shape[0])
    needed, per = PACGAN_MIN_SAMPLES
    min_count = max(1, math.ceil(needed * samples.shape[0] / per))
    covered = int((counts >= min_count).sum())
    histogram = counts.double() / max(int(counts.sum()), 1)
    present = histogram > 0
    uniform = 1.0 / modes.shape[0]
    kl = float((histogram[present] * (histogram[present] / uniform).log()).sum()) if present.any() else None
    return {
        "modes_covered": covered,
        "modes_total": int(modes.shape[0]),
        "high_quality_share": float(high_quality.double().mean()),
        "modes_min_samples": min_count,
        "modes_with_any_sample": int((counts > 0).sum()),
        "mode_kl_to_uniform": kl,
        "mode_counts": [int(c) for c in counts],
    }


@register_dataset("toy2d", description="2-D Gaussian mixture points (layout ring-8 or grid-25), 20k train / 5k test")
def load_toy2d(config: DataConfig) -> Dataset:
    """Points drawn with a generator seeded by `config.seed`; the label is the mode index.

    Options: `layout` ("ring-8" or "grid-25"), `n_train` (20000), `n_test` (5000).
    """
    options = dataset_options(config, {"layout": "ring-8", "n_train": 20000, "n_test": 5000})
    layout = options["layout"]
    if layout not in LAYOUTS:
        raise GenlabError(f"toy2d layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if options["n_train"] < 1 or options["n_test"] < 0:
        raise GenlabError("toy2d options 'n_train' must be positive and 'n_test' not negative")
    make_modes, std = LAYOUTS[layout]
    modes = make_modes()
    generator = torch.Generator().manual_seed(config.seed)
    train_x, train_y = draw_points(modes, std, options["n_train"], generator)
    test_x, test_y = draw_points(modes, std, options["n_test"], generator)
    return Dataset(
        name="toy2d",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=[f"mode-{index}" for index in range(modes.shape[0])],
        source=f"generated: {layout} Gaussian mixture, seed {config.seed}",
        kind="points",
        info={"modes": modes, "std": std, "layout": layout},
    )
