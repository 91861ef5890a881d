"""Evaluator networks: the feature space in which genlab measures samples.

Standard Inception weights cannot be downloaded here, and Inception features fit 28-pixel greyscale
digits poorly anyway. So genlab trains, once per dataset, a small CNN on the train split
(deterministic seed, a few CPU minutes at most), records its test accuracy and caches it as
safetensors + JSON under `<cache>/evaluators/` (`$GENLAB_CACHE`, else `~/.cache/genlab`), keyed by
the dataset, its size and options, a fingerprint of its training images and the genlab version.
Features are the classifier's penultimate layer (128 ReLU units).

- Labelled images: `classifier` (the CNN above; class probabilities feed the classifier metrics).
- Unlabelled or single-class images: `autoencoder`, the same trunk trained to reconstruct its input
  (MSE); features are its 128-d code. There are no class probabilities then.
- Points (toy2d): `identity`, the raw coordinates are the features.
- Stacked MNIST (3 digits as channels): `per-channel`, the digit classifier applied to each
  channel; features are concatenated and the 1,000 class probabilities are their products.
- `inception`: torchmetrics' InceptionV3 (2048-d pool features), only when torch-fidelity and its
  weights file are on disk; genlab never downloads them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from genlab._version import __version__
from genlab.config import from_dict
from genlab.data.batches import to_float
from genlab.data.paths import cache_dir
from genlab.data.registry import DataConfig, Dataset, load_dataset
from genlab.errors import GenlabError
from genlab.io import atomic_write_json, load_tensors, save_tensors

FEATURE_DIM = 128
TRUNK_WIDTHS = (16, 32, 64)
EVALUATOR_SEED = 0
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 5e-4
# Training length in image presentations. Small sets (mnist-5k: 4,000 images) get random shifts of
# up to 2 pixels and ~12 epochs; large sets (Fashion-MNIST: 60,000) ~4 epochs without augmentation.
SMALL_SET_BELOW = 20_000
PRESENTATIONS = {"small": 48_000, "large": 240_000}
EPOCH_RANGE = (2, 200)
SHIFT_PIXELS = 2
FEATURE_BATCH = 1000
# Images per forward pass when computing features, per torch thread (at most FEATURE_BATCH_MAX): each
# thread's activations stay in its cache, while every call still gives each thread enough work. Measured
# on 10,000 Fashion-MNIST images, interleaved runs on the busy 2-core machine: at 1 thread batches of 500
# took 1.1 s and 1,000 1.7 s; at 2 threads 1,000 took 2.9 s and 500 3.7 s.
FEATURE_BATCH_PER_THREAD = 500
FEATURE_BATCH_MAX = 4000

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's release asset


# --- networks --------------------------------------------------------------------------------------
def pooled_sides(side: int, blocks: int = 3) -> list[bool]:
    """Which conv blocks halve the image: every block while the side is above 8 (28 -> 14 -> 7)."""
    plan = []
    for _ in range(blocks):
        pool = side > 8
        plan.append(pool)
        side = side // 2 if pool else side
    return plan


class ConvTrunk(nn.Module):
    """Three 3x3 conv blocks (conv, optional 2x max-pool, batch norm, ReLU), then a 128-d ReLU layer.

    Pooling before batch norm and ReLU does the elementwise work on a quarter of the pixels; this
    is what keeps training within CPU minutes.
    """

    def __init__(self, shape: tuple[int, int, int], widths: tuple[int, ...] = TRUNK_WIDTHS,
                 feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        channels, height, width = shape
        if height != width:
            raise GenlabError(f"evaluator networks need square images, got {height}x{width}; resize the data")
        layers: list[nn.Module] = []
        side, fan_in = height, channels
        self.sides = [side]
        for fan_out, pool in zip(widths, pooled_sides(height, len(widths))):
            layers.append(nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=False))
            if pool:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            layers += [nn.BatchNorm2d(fan_out), nn.ReLU(inplace=True)]
            fan_in = fan_out
            self.sides.append(side)
        self.convs = nn.Sequential(*layers)
        self.map_shape = (fan_in, side, side)
        self.project = nn.Linear(fan_in * side * side, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.convs(x)  # (B, widths[-1], side, side)
        return F.relu(self.project(maps.flatten(1)))  # (B, feature_dim)


class ClassifierNet(nn.Module):
    """The classifying evaluator: trunk -> dropout -> linear class logits."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.trunk = ConvTrunk(shape, feature_dim=feature_dim)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.trunk(x)))


class AutoencoderNet(nn.Module):
    """The autoencoding evaluator for unlabelled data: trunk -> 128-d code -> upsampling conv decoder."""

    def __init__(self, shape: tuple[int, int, int], feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.trunk = ConvTrunk(shape, feature_dim=feature_dim)
        width, side, _ = self.trunk.map_shape
        self.expand = nn.Linear(feature_dim, width * side * side)
        self.decoder_sides = list(reversed(self.trunk.sides[:-1]))  # the sizes to climb back through
        layers: list[nn.Module] = []
        widths = list(reversed(TRUNK_WIDTHS))
        for fan_in, fan_out in zip(widths, widths[1:] + [widths[-1]]):
            layers.append(nn.Sequential(nn.Conv2d(fan_in, fan_out, 3, padding=1), nn.BatchNorm2d(fan_out), nn.ReLU(inplace=True)))
        self.blocks = nn.ModuleList(layers)
        self.out = nn.Conv2d(widths[-1], shape[0], 3, padding=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width, side, _ = self.trunk.map_shape
        maps = self.expand(self.trunk(x)).view(x.shape[0], width, side, side)
        for block, target_side in zip(self.blocks, self.decoder_sides):
            maps = block(maps)
            if maps.shape[-1] != target_side:
                maps = F.interpolate(maps, size=(target_side, target_side), mode="nearest")
        return torch.sigmoid(self.out(maps))  # (B, C, H, W) in [0, 1]


# --- the evaluator object --------------------------------------------------------------------------
@dataclass
class Evaluator:
    """A frozen feature extractor for one dataset, with class probabilities where it has classes.

    `features(images)` -> (N, D) float32 on the CPU; `probabilities(images)` -> (N, K) or None.
    Images are float in [0, 1] or uint8, (N, C, H, W) (or (N, D) points for `identity`).
    """

    kind: str  # classifier | autoencoder | identity | per-channel | inception
    feature_fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
    feature_dim: int
    num_classes: int  # 0 when the evaluator has no classes
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def features_and_probabilities(self, images: torch.Tensor, batch_size: int | None = None
                                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Both outputs in one pass over `images`, batched; features (N, D), probabilities (N, K) or None.

        `batch_size` None: `FEATURE_BATCH_PER_THREAD` images per torch thread. It sets only the work per
        call: in eval mode each image is computed on its own (500 and 1,000 give identical bits here).
        """
        if batch_size is None:
            batch_size = min(FEATURE_BATCH_PER_THREAD * torch.get_num_threads(), FEATURE_BATCH_MAX)
        feature_parts, probability_parts = [], []
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                features, probabilities = self.feature_fn(images[start : start + batch_size])
                feature_parts.append(features.float().cpu())
                if probabilities is not None:
                    probability_parts.append(probabilities.float().cpu())
        features = torch.cat(feature_parts) if feature_parts else torch.zeros(0, self.feature_dim)
        return features, (torch.cat(probability_parts) if probability_parts else None)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_and_probabilities(images)[0]

    def probabilities(self, images: torch.Tensor) -> torch.Tensor | None:
        return self.features_and_probabilities(images)[1]

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The most probable class of each image, (N,) int64."""
        probabilities = self.probabilities(images)
        if probabilities is None:
            raise GenlabError(f"the {self.kind} evaluator has no classes to predict")
        return probabilities.argmax(1)

    @property
    def description(self) -> str:
        """One line for tables: what the features are and how good the network is."""
        meta = self.metadata
        if self.kind == "classifier":
            return f"classifier CNN, {self.feature_dim}-d penultimate features, test accuracy {meta['test_accuracy']:.2%}"
        if self.kind == "autoencoder":
            return f"autoencoder (unlabelled data), {self.feature_dim}-d code, test MSE {meta['test_mse']:.4f}"
        if self.kind == "per-channel":
            return f"digit classifier per channel ({meta['base_accuracy']:.2%} on {meta['base_dataset']}), {self.feature_dim}-d"
        if self.kind == "identity":
            return "raw coordinates (points)"
        return f"InceptionV3 pool features ({self.feature_dim}-d), weights {meta.get('weights')}"


def network_evaluator(kind: str, network: nn.Module, num_classes: int, metadata: dict[str, Any],
                      path: Path | None) -> Evaluator:
    """Wrap a trained ClassifierNet/AutoencoderNet as an Evaluator (eval mode, no gradients)."""
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = to_float(images).contiguous(memory_format=torch.channels_last)
        features = network.features(x)
        if kind == "classifier":
            return features, torch.softmax(network.head(features), dim=1)
        return features, None

    return Evaluator(kind, run, FEATURE_DIM, num_classes, metadata, path)


# --- keys and cache --------------------------------------------------------------------------------
def evaluators_dir() -> Path:
    """Where evaluators and reference statistics are cached: `<cache_dir()>/evaluators`."""
    return cache_dir() / "evaluators"


def canonical_data_config(data: str | DataConfig | dict[str, Any]) -> DataConfig:
    """The dataset an evaluator is trained on: the run's data, clean, with its full splits and seed 0.

    `subset`/`test_subset`/`corruption` only say what a model trained on; the evaluator sees the
    whole clean train split (and seed 0 for datasets drawn at random), so every run on a dataset
    shares it.
    """
    if isinstance(data, str):
        config = DataConfig(name=data)
    elif isinstance(data, DataConfig):
        config = data
    else:
        config = from_dict(DataConfig, data)
    root = str(Path(config.root).expanduser().resolve()) if config.root else None
    return dataclasses.replace(clean_data_config(config), root=root, seed=0, options=dict(config.options))


def clean_data_config(config: DataConfig) -> DataConfig:
    """The whole, uncorrupted dataset of `config`: no subset, no test subset, no training-split corruption.

    Models may train on a subset or on corrupted images; they are always judged against clean data.
    """
    changes: dict[str, Any] = {"subset": None, "test_subset": None}
    if "corruption" in {f.name for f in dataclasses.fields(DataConfig)}:
        changes["corruption"] = None
    return dataclasses.replace(config, **changes)


def data_fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """A short content hash of a split, so a cache entry never outlives the data it was built from."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str((tuple(x.shape), str(x.dtype))).encode())
    digest.update(x.contiguous().numpy().tobytes())
    digest.update(y.contiguous().numpy().tobytes())
    return digest.hexdigest()


def evaluator_key(config: DataConfig, dataset: Dataset) -> tuple[str, dict[str, Any]]:
    """(file stem, key fields): dataset, shape, options, data fingerprint and genlab version."""
    fields = {
        "dataset": config.name,
        "shape": list(dataset.shape),
        "resize": config.resize,
        "channels": config.channels,
        "options": {k: config.options[k] for k in sorted(config.options)},
        "train_fingerprint": data_fingerprint(dataset.train_x, dataset.train_y),
        "genlab_version": __version__,
        "architecture": {"widths": list(TRUNK_WIDTHS), "feature_dim": FEATURE_DIM, "seed": EVALUATOR_SEED},
    }
    digest = hashlib.blake2b(json.dumps(fields, sort_keys=True).encode(), digest_size=6).hexdigest()
    shape = "x".join(str(s) for s in dataset.shape)
    return f"{config.name}-{shape}-{digest}", fields


# --- training --------------------------------------------------------------------------------------
def random_shift(images: torch.Tensor, generator: torch.Generator, pixels: int = SHIFT_PIXELS) -> torch.Tensor:
    """Translate each image by up to `pixels` in x and y (zero padding), one gather for the batch."""
    count, channels, height, width = images.shape
    padded = F.pad(images, (pixels,) * 4)
    dx = torch.randint(0, 2 * pixels + 1, (count,), generator=generator)
    dy = torch.randint(0, 2 * pixels + 1, (count,), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]  # (B, 1, 1, W)
    return padded[torch.arange(count)[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]


def training_schedule(train_count: int) -> tuple[int, bool]:
    """(epochs, augment) for a training split of `train_count` images."""
    small = train_count < SMALL_SET_BELOW
    presentations = PRESENTATIONS["small" if small else "large"]
    epochs = min(max(round(presentations / train_count), EPOCH_RANGE[0]), EPOCH_RANGE[1])
    return epochs, small


def train_network(network: nn.Module, dataset: Dataset, objective: str, progress: Callable[[str], None] | None = None
                  ) -> dict[str, Any]:
    """Train `network` on the train split (deterministic seed); returns what to record about it.

    `objective` is "classify" (cross-entropy) or "reconstruct" (MSE to the un-shifted input).
    """
    train_x, train_y = dataset.train_x, dataset.train_y
    count = train_x.shape[0]
    batch_size = min(BATCH_SIZE, count)
    epochs, augment = training_schedule(count)
    steps_per_epoch = count // batch_size
    total_steps = epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(EVALUATOR_SEED)
    network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(network.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=total_steps, pct_start=0.25)
    started = time.perf_counter()
    network.train()
    for epoch in range(epochs):
        order = torch.randperm(count, generator=generator)
        for position in range(steps_per_epoch):
            index = order[position * batch_size : (position + 1) * batch_size]
            clean = to_float(train_x[index])
            inputs = random_shift(clean, generator) if augment else clean
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            if objective == "classify":
                loss = F.cross_entropy(network(inputs), train_y[index])
            else:
                loss = F.mse_loss(network(inputs), inputs)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if progress is not None:
            progress(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f} ({time.perf_counter() - started:.0f} s)")
    network.eval()
    return {"epochs": epochs, "steps": total_steps, "batch_size": batch_size, "augment_shift_pixels": SHIFT_PIXELS if augment else 0,
            "train_seconds": round(time.perf_counter() - started, 2), "train_items": count}


@torch.inference_mode()
def held_out_scores(network: nn.Module, dataset: Dataset, objective: str) -> dict[str, float]:
    """Held-out quality of a trained evaluator: accuracy (classifier) or MSE (autoencoder) on the test split."""
    network.eval()
    test_x, test_y = dataset.test_x, dataset.test_y
    if test_x.shape[0] == 0:
        return {}
    correct, squared, count = 0, 0.0, 0
    for start in range(0, test_x.shape[0], FEATURE_BATCH):
        x = to_float(test_x[start : start + FEATURE_BATCH]).contiguous(memory_format=torch.channels_last)
        if objective == "classify":
            correct += int((network(x).argmax(1) == test_y[start : start + FEATURE_BATCH]).sum())
        else:
            squared += float(F.mse_loss(network(x), x, reduction="sum"))
        count += x.shape[0]
    if objective == "classify":
        return {"test_accuracy": correct / count, "test_items": count}
    return {"test_mse": squared / (count * math.prod(dataset.shape)), "test_items": count}


def build_network(kind: str, shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    if kind == "classifier":
        return ClassifierNet(shape, num_classes)
    return AutoencoderNet(shape)


def train_evaluator(dataset: Dataset, progress: Callable[[str], None] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train the evaluator network a dataset calls for; returns the network and its record."""
    kind = "classifier" if dataset.num_classes >= 2 else "autoencoder"
    objective = "classify" if kind == "classifier" else "reconstruct"
    with torch.random.fork_rng(devices=[]):  # initial weights and dropout never touch the caller's RNG
        torch.manual_seed(EVALUATOR_SEED)
        network = build_network(kind, dataset.shape, max(dataset.num_classes, 1))
        record = train_network(network, dataset, objective, progress)
    record.update(held_out_scores(network, dataset, objective))
    record["kind"] = kind
    return network, record


def save_evaluator(path: Path, network: nn.Module, metadata: dict[str, Any]) -> None:
    """safetensors weights + a JSON record, both written atomically (the JSON last marks completion)."""
    save_tensors(path.with_suffix(".safetensors"), network.state_dict(), metadata={"kind": metadata["kind"]})
    atomic_write_json(path.with_suffix(".json"), metadata)


def load_network_evaluator(path: Path) -> Evaluator:
    """Rebuild a cached evaluator from its JSON record and safetensors weights."""
    metadata = json.loads(path.with_suffix(".json").read_text())
    network = build_network(metadata["kind"], tuple(metadata["key"]["shape"]), max(metadata["num_classes"], 1))
    network.load_state_dict(load_tensors(path.with_suffix(".safetensors")))
    network.to(memory_format=torch.channels_last)
    num_classes = metadata["num_classes"] if metadata["kind"] == "classifier" else 0
    return network_evaluator(metadata["kind"], network, num_classes, metadata, path)


def cached_evaluator_path(config: DataConfig, dataset: Dataset) -> tuple[Path, dict[str, Any]]:
    stem, fields = evaluator_key(config, dataset)
    return evaluators_dir() / stem, fields


def get_evaluator(
    data: str | DataConfig | dict[str, Any] = "mnist-5k",
    *,
    build: bool = True,
    rebuild: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Evaluator:
    """The evaluator of a dataset: loaded from the cache, else trained now (and cached).

    `data` is a dataset name or a data config (a run's `config.yaml` `data` section works).
    `build=False` raises instead of training; `rebuild=True` trains afresh.
    """
    config = canonical_data_config(data)
    dataset = load_dataset(config)
    return evaluator_for_dataset(dataset, config, build=build, rebuild=rebuild, progress=progress)


def evaluator_for_dataset(dataset: Dataset, config: DataConfig, *, build: bool = True, rebuild: bool = False,
                          progress: Callable[[str], None] | None = None) -> Evaluator:
    """Like `get_evaluator`, for a dataset already loaded from the canonical `config`."""
    if dataset.kind == "points":
        return Evaluator("identity", lambda x: (x.float(), None), dataset.shape[0], 0, {"dataset": dataset.name})
    stacked = dataset.info.get("stacked")
    if stacked:
        return per_channel_evaluator(dataset, stacked, build=build, rebuild=rebuild, progress=progress)
    path, fields = cached_evaluator_path(config, dataset)
    if path.with_suffix(".json").is_file() and not rebuild:
        try:
            return load_network_evaluator(path)
        except GenlabError:
            if not build:
                raise
            # A damaged cache entry is rebuilt below.
    if not build:
        raise GenlabError(f"no evaluator for '{dataset.name}' in {evaluators_dir()}; build it with `genlab evaluator {dataset.name}`")
    network, record = train_evaluator(dataset, progress)
    metadata = {
        "dataset": dataset.name,
        "kind": record.pop("kind"),
        "key": fields,
        "data_config": dataclasses.asdict(config),
        "num_classes": dataset.num_classes,
        "class_names": list(dataset.class_names),
        "feature_dim": FEATURE_DIM,
        "genlab_version": __version__,
        "torch_version": str(torch.__version__),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **record,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_evaluator(path, network, metadata)
    return load_network_evaluator(path)


# --- stacked data: one digit classifier per channel ------------------------------------------------
def per_channel_evaluator(dataset: Dataset, stacked: dict[str, Any], *, build: bool, rebuild: bool,
                          progress: Callable[[str], None] | None) -> Evaluator:
    """The base dataset's classifier on each channel; features concatenated, class = digits in base 10."""
    channels = dataset.shape[0]
    base = get_evaluator(stacked["base_config"], build=build, rebuild=rebuild, progress=progress)
    if base.kind != "classifier" or dataset.shape[0] != stacked["channels"]:
        raise GenlabError(f"'{dataset.name}' needs {stacked['channels']} channels and a digit classifier per channel")
    per_channel = base.num_classes

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_float(images)
        outputs = [base.feature_fn(x[:, index : index + 1]) for index in range(channels)]
        features = torch.cat([output[0] for output in outputs], dim=1)  # (B, channels * D)
        joint = outputs[0][1]
        for _, probabilities in outputs[1:]:
            # p(a, b) = p(a) p(b): the first channel is the most significant digit.
            joint = (joint[:, :, None] * probabilities[:, None, :]).flatten(1)
        return features, joint  # joint: (B, per_channel ** channels)

    metadata = {
        "dataset": dataset.name,
        "base_dataset": base.metadata["dataset"],
        "base_accuracy": base.metadata["test_accuracy"],
        "base_path": str(base.path),
        "channels": channels,
    }
    return Evaluator("per-channel", run, base.feature_dim * channels, per_channel**channels, metadata, base.path)


# --- Inception (only with local weights) -----------------------------------------------------------
def inception_weights_path() -> Path:
    """Where torch-fidelity keeps its InceptionV3 weights, or `$GENLAB_INCEPTION_WEIGHTS`."""
    override = os.environ.get("GENLAB_INCEPTION_WEIGHTS")
    if override:
        return Path(override).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def inception_evaluator() -> Evaluator:
    """torchmetrics' FID InceptionV3 when torch-fidelity and its weights are on disk, else a clear error.

    Nothing is downloaded: the weights path is passed explicitly, so torch-fidelity never reaches
    for the network.
    """
    weights = inception_weights_path()
    missing = []
    if importlib.util.find_spec("torch_fidelity") is None:
        missing.append("the torch-fidelity package (pip install torch-fidelity)")
    if not weights.is_file():
        missing.append(f"the InceptionV3 weights file {weights} (torch-fidelity's {INCEPTION_WEIGHTS_FILE}; "
                       "or point $GENLAB_INCEPTION_WEIGHTS at it)")
    if missing:
        raise GenlabError(
            "--features inception needs " + " and ".join(missing) + "; genlab never downloads them. "
            "Use --features evaluator (the default) instead"
        )
    from torchmetrics.image.fid import NoTrainInceptionV3

    network = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                 feature_extractor_weights_path=str(weights))

    def run(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        pooled, logits = network._torch_fidelity_forward(x)
        return pooled, torch.softmax(logits, dim=1)

    return Evaluator("inception", run, 2048, 1008, {"dataset": "imagenet", "weights": str(weights)}, weights)
