"""`stacked-mnist`: three MNIST digits stacked as the R, G and B channels — 1,000 modes (Metz et al. 2017).

The standard test of mode collapse on images: each of the 10 x 10 x 10 digit triples is a mode of the
data, and the per-channel digit evaluator tells which mode a sample falls in (genlab.metrics.modes).
The label of an image is its mode, 100 * red digit + 10 * green digit + blue digit.
"""

from __future__ import annotations

import torch

from genlab.data.download import downloads_disabled
from genlab.data.options import dataset_options
from genlab.data.paths import DataNotFoundError
from genlab.data.registry import DataConfig, Dataset, load_dataset, register_dataset
from genlab.errors import GenlabError

CHANNELS = 3
DIGITS = 10
SOURCES = ("auto", "mnist", "mnist-5k")


def choose_source(source: str, root: str | None) -> Dataset:
    """The digits to stack: full MNIST when asked for (or, for `auto`, when it is on disk), else mnist-5k."""
    if source == "mnist-5k":
        return load_dataset("mnist-5k")
    if source == "mnist":
        return load_dataset(DataConfig(name="mnist", root=root))
    try:
        with downloads_disabled():  # `auto` never downloads: it takes full MNIST only when present
            return load_dataset(DataConfig(name="mnist", root=root))
    except DataNotFoundError:
        return load_dataset("mnist-5k")


def stack_digits(images: torch.Tensor, labels: torch.Tensor, count: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` images (count, 3, H, W) whose channels are digits drawn independently at random, and their modes."""
    picks = torch.randint(0, images.shape[0], (count, CHANNELS), generator=generator)  # (count, 3)
    stacked = images[picks.flatten(), 0].view(count, CHANNELS, *images.shape[-2:])
    digits = labels[picks]  # (count, 3)
    modes = digits[:, 0] * DIGITS**2 + digits[:, 1] * DIGITS + digits[:, 2]
    return stacked.contiguous(), modes


@register_dataset("stacked-mnist", description="three MNIST digits stacked as RGB channels: 1,000 modes, 28x28x3")
def load_stacked_mnist(config: DataConfig) -> Dataset:
    """Train images stack train digits, test images stack test digits, drawn with `config.seed`.

    Options: `source` ("auto": full MNIST when on disk, else mnist-5k; or "mnist" / "mnist-5k"),
    `n_train` (25600), `n_test` (5000).
    """
    options = dataset_options(config, {"source": "auto", "n_train": 25600, "n_test": 5000})
    if options["source"] not in SOURCES:
        raise GenlabError(f"stacked-mnist option 'source' must be one of {', '.join(SOURCES)}, got {options['source']!r}")
    if options["n_train"] < 1 or options["n_test"] < 0:
        raise GenlabError("stacked-mnist options 'n_train' must be positive and 'n_test' not negative")
    digits = choose_source(options["source"], config.root)
    generator = torch.Generator().manual_seed(config.seed)
    train_x, train_y = stack_digits(digits.train_x, digits.train_y, options["n_train"], generator)
    test_x, test_y = stack_digits(digits.test_x, digits.test_y, options["n_test"], generator)
    return Dataset(
        name="stacked-mnist",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=[f"{mode:03d}" for mode in range(DIGITS**CHANNELS)],
        source=f"{digits.name} digits stacked three per image ({digits.source}), seed {config.seed}",
        info={
            # The evaluator reads each channel with the digit classifier of `base_config`.
            "stacked": {"base_config": {"name": digits.name, "root": config.root if digits.name == "mnist" else None,
                                        "resize": config.resize},
                        "channels": CHANNELS},
            "class_probabilities": torch.full((DIGITS**CHANNELS,), 1.0 / DIGITS**CHANNELS),  # modes are uniform
        },
    )
