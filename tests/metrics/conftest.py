"""Fixtures for the metric tests: the mnist-5k evaluator, trained once per test session.

The session's evaluator cache (`evaluator_cache`, `evaluator_env`) lives in tests/conftest.py, shared
with the study tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def mnist_evaluator(evaluator_cache):
    """The mnist-5k classifier evaluator (loaded from the session cache)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENLAB_CACHE", str(evaluator_cache))
        from genlab.metrics.evaluator import get_evaluator

        return get_evaluator("mnist-5k", build=False)


@pytest.fixture(scope="session")
def mnist_features(mnist5k, mnist_evaluator):
    """Evaluator features of mnist-5k's train (4,000) and test (1,000) images."""
    return mnist_evaluator.features(mnist5k.train_x), mnist_evaluator.features(mnist5k.test_x)


def degrade(images: torch.Tensor, blurs=(3, 5), noise_levels=(0.05, 0.1, 0.5, 0.7), seed: int = 0) -> torch.Tensor:
    """A blur/noise mix of real images: image i gets the (i mod K)-th of the blurs and noise levels."""
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    kinds = [("blur", size) for size in blurs] + [("noise", level) for level in noise_levels]
    out = images.clone()
    for index, (kind, value) in enumerate(kinds):
        chosen = torch.arange(index, images.shape[0], len(kinds))
        part = images[chosen]
        if kind == "blur":
            out[chosen] = F.avg_pool2d(F.pad(part, (value // 2,) * 4, mode="replicate"), value, stride=1)
        else:
            out[chosen] = (part + value * torch.randn(part.shape, generator=generator)).clamp(0, 1)
    return out
