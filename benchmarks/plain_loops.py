"""Plain PyTorch training loops of genlab's vae and dcgan networks, fed the ways PyTorch users feed them.

The baselines of benchmarks/train_throughput.py: the objective written out by hand as in
pytorch/examples, standard Adam (optionally fused), and three feeds: torchvision's per-item PIL +
ToTensor path (torchvision itself cannot be imported with this torch, so its code path is repeated
here), a lean numpy Dataset, and an in-memory float tensor sliced per step.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from genlab.data import to_float


def pil_to_tensor(picture: Image.Image) -> torch.Tensor:
    """torchvision.transforms.ToTensor on a PIL image of mode L or RGB, its code path line for line."""
    image = torch.from_numpy(np.array(picture, np.uint8, copy=True))
    image = image.view(picture.size[1], picture.size[0], len(picture.getbands()))
    image = image.permute((2, 0, 1)).contiguous()
    return image.to(dtype=torch.get_default_dtype()).div(255)


class PILToTensorDataset(torch.utils.data.Dataset):
    """What torchvision's MNIST (1 channel) or CIFAR10 (3 channels) dataset does per item with
    `transform=transforms.ToTensor()`: uint8 array -> PIL image -> ToTensor."""

    def __init__(self, train_x: torch.Tensor, train_y: torch.Tensor) -> None:
        channels = train_x.shape[1]
        if channels not in (1, 3):
            raise ValueError(f"PIL images have 1 (L) or 3 (RGB) channels, not {channels}")
        # MNIST keeps a (N, H, W) uint8 tensor and calls .numpy() per item; CIFAR10 a (N, H, W, 3) array.
        self.mode = "L" if channels == 1 else "RGB"
        self.data = train_x[:, 0].contiguous() if channels == 1 else np.ascontiguousarray(train_x.numpy().transpose(0, 2, 3, 1))
        self.targets = train_y if channels == 1 else train_y.tolist()  # MNIST: a tensor, CIFAR10: a list

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, target = self.data[index], int(self.targets[index])
        array = image.numpy() if isinstance(image, torch.Tensor) else image
        return pil_to_tensor(Image.fromarray(array, mode=self.mode)), target


class ArrayImageDataset(torch.utils.data.Dataset):
    """A lean map-style dataset over uint8 (N, H, W, C) numpy images: ToTensor's arithmetic, no PIL."""

    def __init__(self, train_x: torch.Tensor, train_y: torch.Tensor) -> None:
        self.images = np.ascontiguousarray(train_x.numpy().transpose(0, 2, 3, 1))  # as images are usually stored
        self.labels = train_y.numpy()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.images[index].transpose(2, 0, 1)).contiguous()
        return image.float().div(255), int(self.labels[index])


def plain_vae_update(encoder: nn.Module, decoder: nn.Module, optimizer: torch.optim.Optimizer,
                     images: torch.Tensor) -> tuple[float, ...]:
    """One VAE step as in pytorch/examples: summed BCE-with-logits + analytic KL, per-item mean."""
    x = images.view(images.shape[0], -1)  # (B, 784)
    mean, log_var = encoder(x).chunk(2, dim=1)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
    logits = decoder(z)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
    loss = (reconstruction + kl) / x.shape[0]  # genlab averages over items; same gradient scale
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return (loss.item(),)


def plain_dcgan_update(generator: nn.Module, discriminator: nn.Module, g_optimizer: torch.optim.Optimizer,
                       d_optimizer: torch.optim.Optimizer, images: torch.Tensor, latent_dim: int) -> tuple[float, ...]:
    """One DCGAN step as in pytorch/examples' dcgan (with BCE on logits): D on real/fake, then G."""
    real = images * 2 - 1  # Normalize((0.5,), (0.5,))
    batch_size = real.shape[0]
    ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)

    discriminator.zero_grad()
    loss_real = F.binary_cross_entropy_with_logits(discriminator(real), ones)
    loss_real.backward()
    noise = torch.randn(batch_size, latent_dim)
    fake = generator(noise)
    loss_fake = F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
    loss_fake.backward()
    d_optimizer.step()

    generator.zero_grad()
    loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)  # non-saturating
    loss_g.backward()
    g_optimizer.step()
    return (loss_real + loss_fake).item(), loss_g.item()


def plain_update_for(name: str, model: Any, fused: bool = False) -> Callable[[torch.Tensor], tuple[float, ...]]:
    """Deep copies of `model`'s networks with their own optimizers, as a `update(images)` function.

    `fused=True` gives the plain loop the fused Adam kernel genlab uses, to separate the gain of
    genlab's batching from the gain of its optimizer.
    """
    if name == "vae":
        encoder, decoder = copy.deepcopy(model.encoder), copy.deepcopy(model.decoder)
        optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=model.config.lr, fused=fused)
        return lambda images: plain_vae_update(encoder, decoder, optimizer, images)
    if name == "dcgan":
        generator, discriminator = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
        betas = (model.config.beta1, model.config.beta2)
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=model.config.lr, betas=betas, fused=fused)
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=model.config.lr, betas=betas, fused=fused)
        latent_dim = model.config.latent_dim
        update = lambda images: plain_dcgan_update(generator, discriminator, g_optimizer, d_optimizer, images, latent_dim)  # noqa: E731
        update.generator, update.discriminator = generator, discriminator  # the trained copies, for sampling
        return update
    raise ValueError(f"no plain loop written for model {name!r}")


def endless(loader: DataLoader):
    """Batches from `loader` epoch after epoch (a new epoch iterator, as a `for` loop makes)."""
    while True:
        yield from loader


class PlainLoop:
    """A DataLoader feeding a hand-written update of copied networks."""

    def __init__(self, update: Callable[[torch.Tensor], tuple[float, ...]], loader: DataLoader) -> None:
        self.update = update
        self.batches = endless(loader)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            images, _labels = next(self.batches)
            self.update(images.to("cpu"))


class InMemoryLoop:
    """The plain update fed from the whole split as one float tensor: shuffled once per epoch (one index
    operation), then a contiguous slice per step; no Dataset, no DataLoader."""

    def __init__(self, update: Callable[[torch.Tensor], tuple[float, ...]], train_x: torch.Tensor, batch_size: int,
                 seed: int = 0) -> None:
        self.update = update
        self.images = to_float(train_x)  # (N, C, H, W) float in [0, 1], converted once
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.shuffled = self.images
        self.position = len(self.images)  # start with a shuffle

    def run(self, steps: int) -> None:
        for _ in range(steps):
            if self.position + self.batch_size > len(self.images):  # drop_last, then a new epoch
                self.shuffled = self.images[torch.randperm(len(self.images), generator=self.generator)]
                self.position = 0
            self.update(self.shuffled[self.position : self.position + self.batch_size])
            self.position += self.batch_size
