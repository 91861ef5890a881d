"""The main job for now (`make demo`): train vae and dcgan on Fashion-MNIST and show the results.

Falls back to the bundled mnist-5k when Fashion-MNIST is not installed, and says so. Writes
each run folder (sample grids, progress GIF, loss curves) and a side-by-side comparison image.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw

from genlab.data.batches import to_float
from genlab.data.registry import load_dataset
from genlab.errors import GenlabError
from genlab.images import grid_image
from genlab.train.trainer import train


# The paper's DCGAN (64 feature maps) makes ~5 steps/s on two CPU cores; half the width makes
# ~3x more steps in the same minutes, which is what a short CPU demo needs.
DEMO_MODELS = {"vae": {}, "dcgan": {"generator_features": 32, "discriminator_features": 32}}


def pick_dataset() -> str:
    """fashion-mnist when it can be found (or downloaded), else the bundled mnist-5k."""
    try:
        load_dataset("fashion-mnist", subset=16)
        return "fashion-mnist"
    except GenlabError as error:
        print(f"Fashion-MNIST is not available ({error}); using the bundled mnist-5k instead.")
        return "mnist-5k"


def labelled(picture: Image.Image, title: str) -> Image.Image:
    canvas = Image.new("RGB", (picture.width, picture.height + 18), "white")
    canvas.paste(picture.convert("RGB"), (0, 18))
    ImageDraw.Draw(canvas).text((4, 3), title, fill="black")
    return canvas


def run_demo(out: str | Path = "demo-runs", minutes: float = 2.0, seed: int = 0) -> Path:
    """Train both models for `minutes` each; returns the path of the comparison image."""
    out = Path(out)
    dataset_name = pick_dataset()
    dataset = load_dataset(dataset_name)
    print(f"demo: {dataset_name} ({dataset.train_x.shape[0]} training images) from {dataset.source}")
    panels = [labelled(grid_image(to_float(dataset.test_x[:64]), 8, scale=2), f"real {dataset_name}")]
    for model_name, config in DEMO_MODELS.items():
        run_dir = out / f"{model_name}-{dataset_name}"
        resume = (run_dir / "checkpoints").is_dir()
        run = train(model_name, data=dataset_name, out=run_dir, config=config, minutes=minutes, seed=seed,
                    sample_every=200, checkpoint_every=500, log_every=20, resume=resume)
        samples = run.sample(64, seed=seed)
        panels.append(labelled(grid_image(samples, 8, scale=2), f"{model_name}: {run.step} steps"))
        print(f"demo: {model_name} -> {run.path}/samples/, loss curves {run.path / 'loss_curves.png'}")
    width = sum(p.width for p in panels) + 10 * (len(panels) - 1)
    comparison = Image.new("RGB", (width, max(p.height for p in panels)), "white")
    left = 0
    for panel in panels:
        comparison.paste(panel, (left, 0))
        left += panel.width + 10
    path = out / "comparison.png"
    comparison.save(path)
    print(f"demo: real | vae | dcgan side by side -> {path}")
    return path
