"""Pixel statistics of samples: how saturated (near 0 and 1) and how bright they are.

`pixel_entropy` is the mean binary entropy H(p) = -p log2 p - (1 - p) log2 (1 - p) of every pixel
intensity p in [0, 1], in bits: 0 for binary images, 1 for a uniform grey of 0.5. A decoder whose
pixel means sit nearer 0 and 1 (brighter strokes, darker background) scores lower. `pixel_mean` is
the mean intensity.
"""

from __future__ import annotations

import torch

from genlab.data.batches import to_float

BLOCK = 4096


def binary_entropy_bits(p: torch.Tensor) -> torch.Tensor:
    """H(p) in bits, elementwise; 0 at p = 0 and p = 1 (the limit), float64."""
    p = p.double().clamp(0, 1)
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p)) / torch.log(torch.tensor(2.0, dtype=torch.float64))


def pixel_measures(images: torch.Tensor) -> dict[str, float]:
    """pixel_entropy (bits) and pixel_mean of images (N, C, H, W), float in [0, 1] or uint8."""
    entropy_sum, intensity_sum, count = 0.0, 0.0, 0
    for start in range(0, images.shape[0], BLOCK):
        x = to_float(images[start : start + BLOCK]).cpu()
        entropy_sum += float(binary_entropy_bits(x).sum())
        intensity_sum += float(x.double().sum())
        count += x.numel()
    return {"pixel_entropy": entropy_sum / count, "pixel_mean": intensity_sum / count}
