"""The power spectrum of samples against real images: which frequencies a model gets wrong.

Blur removes high frequencies; up-sampling layers (transposed convolutions) leave a checkerboard at
the Nyquist frequency; a model that misses the global layout errs at low frequencies. So the
radially averaged power spectrum (Durall et al. 2020, "Watch your up-convolution") of samples is
compared with the real images', band by band:

- `spectrum_low_error`, `spectrum_high_error`: mean |log10 P_fake(r) - log10 P_real(r)| over the
  lowest / highest third of the radial frequencies (DC excluded). 0 = the real images' spectrum.
- `checkerboard_energy`: the samples' share of power at the Nyquist frequencies (pi, 0), (0, pi) and
  (pi, pi), divided by the real images' share. 1 = as real, > 1 = checkerboard artefacts.

Each image is made greyscale (mean over channels) and its mean is removed, so brightness alone is not
a frequency; the power of a set is the mean over its images.
"""

from __future__ import annotations

import math

import torch

from genlab.data.batches import to_float

BLOCK = 2048
POWER_FLOOR = 1e-12  # log10 of an empty bin (constant images) stays finite


def power_spectra(images: torch.Tensor) -> torch.Tensor:
    """Mean 2-D power spectrum |FFT|^2 / (H W) of greyscale, mean-removed `images` (N, C, H, W): (H, W) float64."""
    total = None
    for start in range(0, images.shape[0], BLOCK):
        x = to_float(images[start : start + BLOCK]).cpu().mean(1)  # (B, H, W)
        x = x - x.mean(dim=(1, 2), keepdim=True)
        # float32 transforms (pixels in [0, 1] need no more), summed over images in float64
        power = torch.fft.fft2(x).abs().square().double().sum(0) / (x.shape[1] * x.shape[2])
        total = power if total is None else total + power
    return total / images.shape[0]


def radial_bins(height: int, width: int) -> torch.Tensor:
    """The radial frequency bin of each (H, W) FFT position: round(|f| * min(H, W)), f in cycles per pixel.

    Bin 0 is DC; bin min(H, W) // 2 is the Nyquist frequency along the shorter axis. Positions beyond it
    (the corners) get bin -1 and are left out of the radial average (they exist in some directions only).
    """
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(width, dtype=torch.float64)[None, :]
    side = min(height, width)
    bins = torch.round(torch.sqrt(fy.square() + fx.square()) * side).long()
    return torch.where(bins <= side // 2, bins, torch.full_like(bins, -1))


def radial_profile(power: torch.Tensor) -> torch.Tensor:
    """log10 of the mean power per radial bin 1 .. min(H, W) // 2 (DC left out), (K,) float64."""
    bins = radial_bins(*power.shape)
    count = min(power.shape) // 2
    inside = bins >= 1
    sums = torch.zeros(count + 1, dtype=torch.float64).index_add_(0, bins[inside], power[inside])
    sizes = torch.zeros(count + 1, dtype=torch.float64).index_add_(0, bins[inside], torch.ones_like(power[inside]))
    return torch.log10((sums[1:] / sizes[1:].clamp(min=1)).clamp(min=POWER_FLOOR))


def nyquist_share(power: torch.Tensor) -> float:
    """The share of the power at (pi, 0), (0, pi) and (pi, pi) (the positions nearest them for odd sides)."""
    height, width = power.shape
    at_nyquist = power[height // 2, 0] + power[0, width // 2] + power[height // 2, width // 2]
    total = power.sum() - power[0, 0]
    return float(at_nyquist / total) if total > 0 else math.nan


def band_errors(fake_profile: torch.Tensor, real_profile: torch.Tensor) -> tuple[float, float]:
    """Mean |difference| of two log10 radial profiles over the lowest and the highest third of the bins."""
    difference = (fake_profile - real_profile).abs()
    third = max(1, math.ceil(difference.numel() / 3))
    return float(difference[:third].mean()), float(difference[-third:].mean())


def spectrum_measures(samples: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """spectrum_low_error, spectrum_high_error and checkerboard_energy of `samples` against `real` images."""
    fake_power, real_power = power_spectra(samples), power_spectra(real)
    low, high = band_errors(radial_profile(fake_power), radial_profile(real_power))
    real_share = nyquist_share(real_power)
    fake_share = nyquist_share(fake_power)
    energy = fake_share / real_share if real_share > 0 else math.nan
    return {"spectrum_low_error": low, "spectrum_high_error": high, "checkerboard_energy": energy}
