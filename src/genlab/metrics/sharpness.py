"""Sharpness: the variance of the Laplacian of each image (Pech-Pacheco et al. 2000), samples vs real.

Blurry images (a VAE's hallmark) have little high-frequency energy, so a low variance of the
Laplacian; noise raises it. The ratio samples / real says which way a model errs: well below 1 is
blurrier than the data, well above 1 noisier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.data.batches import to_float

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601, as the datasets' RGB -> greyscale conversion
BLOCK = 2048


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Per image (N,): variance of the 3x3 Laplacian of its greyscale version, pixels in [0, 1]."""
    values = []
    kernel = LAPLACIAN.view(1, 1, 3, 3)
    for start in range(0, images.shape[0], BLOCK):
        x = to_float(images[start : start + BLOCK]).cpu()
        if x.shape[1] == 3:
            x = (x * LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)
        elif x.shape[1] != 1:
            x = x.mean(1, keepdim=True)
        response = F.conv2d(x, kernel)  # (B, 1, H-2, W-2): valid positions only, no padding edges
        values.append(response.flatten(1).var(1))
    return torch.cat(values)


def sharpness(samples: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """Mean variance of the Laplacian of samples and of real images, and their ratio."""
    sample_value = float(laplacian_variance(samples).mean())
    real_value = float(laplacian_variance(real).mean())
    return {"sharpness": sample_value, "sharpness_real": real_value,
            "sharpness_ratio": sample_value / real_value if real_value > 0 else float("nan")}
