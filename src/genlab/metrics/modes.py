"""Mode counting where the modes are known: toy2d Gaussian mixtures and stacked MNIST.

toy2d (Srivastava et al. 2017, Lin et al. 2018): a sample is *high quality* when it lies within 3
standard deviations of its nearest mode; a mode is *covered* when at least 20 of every 2,500 samples
are high-quality samples of it (PacGAN's rule, scaled to the number of samples). The rule lives with
the data (genlab.data.toy2d), where the trainer's sample diagnostics use it too.

Stacked MNIST (Metz et al. 2017, 1,000 modes): each channel's digit is read by the digit evaluator;
a mode (the three digits) is covered when at least one sample lands on it (the PacGAN protocol, which
uses 26,000 samples), and KL(sample mode distribution || uniform) is reported in nats.
"""

from __future__ import annotations

import torch

from genlab.data.toy2d import HIGH_QUALITY_STDS, PACGAN_MIN_SAMPLES, toy2d_modes  # noqa: F401  (re-exported)


def stacked_modes(mode_ids: torch.Tensor, total_modes: int) -> dict[str, object]:
    """Modes covered (at least one sample) and KL(sample modes || uniform) for stacked-MNIST mode ids (N,)."""
    counts = torch.bincount(mode_ids.cpu(), minlength=total_modes).double()
    distribution = counts / counts.sum()
    present = distribution > 0
    kl = float((distribution[present] * (distribution[present] * total_modes).log()).sum())
    return {"modes_covered": int(present.sum()), "modes_total": total_modes, "mode_kl_to_uniform": kl}
