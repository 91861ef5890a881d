"""`image-folder`: any folder of images, with optional class sub-folders, loaded once into memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from genlab.data.options import dataset_options
from genlab.data.paths import DataNotFoundError
from genlab.data.registry import DataConfig, Dataset, register_dataset
from genlab.errors import GenlabError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
GREYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
DEFAULT_SIZE = 64
SPLIT_SEED = 0  # the test split does not depend on config.seed, so runs with other seeds share it
PROGRESS_ABOVE = 500


def find_images(root: Path) -> list[Path]:
    """Every image file under `root`, recursively, sorted; hidden files and folders are skipped."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def class_of_each(root: Path, paths: list[Path]) -> tuple[list[str], list[int], bool]:
    """Class names, each image's class, and whether the classes are sub-folders.

    When every image sits in a first-level sub-folder those are the classes; otherwise there is
    one class named after `root`.
    """
    relative = [path.relative_to(root) for path in paths]
    if all(len(parts.parts) > 1 for parts in relative):
        class_names = sorted({parts.parts[0] for parts in relative})
        index = {name: position for position, name in enumerate(class_names)}
        return class_names, [index[parts.parts[0]] for parts in relative], True
    return [root.resolve().name or "images"], [0] * len(paths), False


def load_square(path: Path, size: int) -> tuple[np.ndarray, bool]:
    """The image centre-cropped to a square and resized: RGB uint8 (size, size, 3), and whether it was greyscale."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            greyscale = image.mode in GREYSCALE_MODES
            side = min(image.size)
            if side == 0:
                raise ValueError("the image is empty")
            left, top = (image.width - side) // 2, (image.height - side) // 2
            square = image.crop((left, top, left + side, top + side))
            if square.mode not in ("RGB", "L"):
                square = square.convert("L" if greyscale else "RGB")
            square = square.resize((size, size), Image.Resampling.LANCZOS).convert("RGB")
            return np.asarray(square, dtype=np.uint8), greyscale
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise GenlabError(f"{path}: cannot read this image ({error}); remove or replace the file") from None


def split_indices(count: int, test_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted train and test indices: a fixed-seed random `test_fraction` (at least one item when > 0) is test."""
    test_count = round(count * test_fraction)
    if count > 1 and test_fraction > 0:
        test_count = min(max(test_count, 1), count - 1)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[: count - test_count].sort().values, order[count - test_count :].sort().values


@register_dataset("image-folder", description="your own folder of images, class sub-folders optional (--data-root)")
def load_image_folder(config: DataConfig) -> Dataset:
    """Images under `config.root`, centre-cropped and resized to `config.resize` (default 64).

    Option `test_fraction` (default 0.1): the share held out as the test split, chosen with a fixed seed.
    """
    options = dataset_options(config, {"test_fraction": 0.1})
    if config.root is None:
        raise DataNotFoundError(
            "image-folder needs a folder of images: pass --data-root PATH (root=PATH in load_dataset)",
            summary="needs a folder: --data-root PATH",
        )
    if not 0.0 <= options["test_fraction"] < 1.0:
        raise GenlabError(f"image-folder option 'test_fraction' must be in [0, 1), got {options['test_fraction']}")
    root = Path(config.root).expanduser()
    if not root.is_dir():
        raise GenlabError(f"image-folder: {root} is not a folder; pass a folder of images as --data-root")
    paths = find_images(root)
    if not paths:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise GenlabError(f"image-folder: no images ({suffixes}) under {root}; add some or pick another folder")
    class_names, labels, by_folder = class_of_each(root, paths)
    size = config.resize or DEFAULT_SIZE
    pixels = np.empty((len(paths), size, size, 3), dtype=np.uint8)  # (N, H, W, 3)
    all_greyscale = True
    for position, path in enumerate(tqdm(paths, desc="reading images", disable=len(paths) <= PROGRESS_ABOVE)):
        pixels[position], greyscale = load_square(path, size)
        all_greyscale &= greyscale
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2)  # (N, 3, H, W)
    if all_greyscale and config.channels != 3:
        images = images[:, :1]  # the three channels are equal; colour to grey is left to apply_transforms
    images = images.contiguous()
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    train, test = split_indices(len(paths), options["test_fraction"])
    classes = f"{len(class_names)} class folders" if by_folder else "one class"
    return Dataset(
        name="image-folder",
        train_x=images[train],
        train_y=label_tensor[train],
        test_x=images[test],
        test_y=label_tensor[test],
        class_names=class_names,
        source=f"{root} ({len(paths)} images, {classes})",
    )
