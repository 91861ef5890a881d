"""Mode counting where the modes are known: toy2d Gaussian mixtures and stacked MNIST.

toy2d (Srivastava et al. 2017, Lin et al. 2018): a sample is *high quality* when it lies within 3
standard deviations of its nearest mode; a mode is *covered* when at least 20 of every 2,500 samples
are high-quality samples of it (PacGAN's rule, scaled to the number of samples).

Stacked MNIST (Metz et al. 2017, 1,000 modes): each channel's digit is read by the digit evaluator;
a mode (the three digits) is covered when at least one sample lands on it (the PacGAN protocol, which
uses 26,000 samples), and KL(sample mode distribution || uniform) is reported in nats.
"""

from __future__ import annotations

import math

import torch

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


def stacked_modes(mode_ids: torch.Tensor, total_modes: int) -> dict[str, object]:
    """Modes covered (at least one sample) and KL(sample modes || uniform) for stacked-MNIST mode ids (N,)."""
    counts = torch.bincount(mode_ids.cpu(), minlength=total_modes).double()
    distribution = counts / counts.sum()
    present = distribution > 0
    kl = float((distribution[present] * (distribution[present] * total_modes).log()).sum())
    return {"modes_covered": int(present.sum()), "modes_total": total_modes, "mode_kl_to_uniform": kl}
