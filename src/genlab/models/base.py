"""The interface every generative model answers, whatever its family.

The trainer, metrics, latent tools, studies and app only ever call these methods, so they
never branch on a model's family. A model owns its networks, its objective, its optimizers
and its update rule (`train_step`); the trainer owns the loop and the optimisation step itself:
a model computes a loss and calls `self.update(name, loss)` (or `manual_backward` and
`optimizer_step` when it measures gradients in between), and the trainer's `OptimizerHook`
adds gradient clipping and fp16 loss scaling for every model. A moving average of a model's
networks (`<name>_ema` copies, updated by the trainer) is kept here too, so any model has one.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, ClassVar, Iterator

import torch
from torch import nn

from genlab.data.batches import Batch


class OptimizerHook:
    """How a model's backward passes and optimizer steps run: plainly here; the trainer installs one
    that also scales fp16 losses and clips gradient norms (genlab.train.updates)."""

    def backward(self, model: "GenerativeModel", loss: torch.Tensor, name: str, **backward_options: Any) -> None:
        loss.backward(**backward_options)

    def step(self, model: "GenerativeModel", name: str) -> None:
        model.optimizers[name].step()


PLAIN_UPDATES = OptimizerHook()


@torch.no_grad()
def update_moving_average(average: nn.Module, current: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * current for weights; buffers (BN statistics) are copied."""
    for averaged, value in zip(average.parameters(), current.parameters()):
        averaged.lerp_(value.detach(), 1.0 - decay)
    for averaged, value in zip(average.buffers(), current.buffers()):
        averaged.copy_(value)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy that no optimizer trains (for a moving average of a network's weights)."""
    copied = copy.deepcopy(module)
    for parameter in copied.parameters():
        parameter.requires_grad_(False)
    return copied


EMA_SUFFIX = "_ema"


@contextlib.contextmanager
def inference(module: nn.Module) -> Iterator[None]:
    """Evaluation mode without gradients for any module, its training mode restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


class GenerativeModel(nn.Module):
    """Base class of every registered model.

    Subclasses set `config_class` (a dataclass) and implement `train_step` and `sample`;
    latent models also implement `decode` (and `encode` when they have an encoder).
    """

    registry_name: ClassVar[str] = ""
    config_class: ClassVar[type]
    # Small overrides that make the model tiny enough for the conformance tests (seconds on a CPU).
    tiny_config: ClassVar[dict[str, Any]] = {}
    # Kind of data the model takes: "image" models want (C, H, W); "any" also takes points (D,).
    supported_data: ClassVar[tuple[str, ...]] = ("image",)
    # Image channel counts the model handles (None: any); others raise a GenlabError when built.
    supported_channels: ClassVar[tuple[int, ...] | None] = None

    # The recipe the model was built with ("fast" or "paper"), set by `create_model`.
    recipe: str = "paper"

    @classmethod
    def fast_recipe(cls, data_shape: tuple[int, ...]) -> dict[str, Any]:
        """Config values that replace the paper's defaults under the "fast" recipe (the CPU default) for
        data of `data_shape`, chosen by wall-clock-to-quality on a 2-core CPU; {} where the paper's are
        already the fastest way to a recognisable sample."""
        return {}

    @classmethod
    def supports_shape(cls, shape: tuple[int, ...]) -> bool:
        """Whether the model declares it can be built for items of `shape` (C, H, W)."""
        return cls.supported_channels is None or len(shape) != 3 or shape[0] in cls.supported_channels

    def __init__(self, config: Any, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__()
        self.config = config
        self.data_shape = tuple(data_shape)
        self.num_classes = num_classes
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    # --- what the model is -------------------------------------------------------------
    latent_dim: int = 0
    conditional: bool = False
    # Capabilities, declared by each model class: the trainer, metrics, latent tools, app and studies read
    # them instead of probing methods, and tests/test_conformance.py checks every one against behaviour.
    fitted: ClassVar[bool] = False  # estimated once by `fit(x, y)` on the training split, not step by step
    has_latent: ClassVar[bool] = False  # `decode(z)` turns codes of `latent_dim` into samples
    has_encoder: ClassVar[bool] = False  # `encode(x)` gives codes of `latent_dim` (and has_latent)
    has_likelihood: ClassVar[bool] = False  # `log_likelihood(x, k=..., generator=...)` (a bound or exact)
    exact_likelihood: ClassVar[bool] = False  # ... and it is exact, not a bound

    @property
    def needs_binary(self) -> bool:
        """Whether `log_likelihood` scores binary pixels only (a Bernoulli decoder, chosen by the config):
        the likelihood metric then scores the split binarised once with a fixed seed."""
        return False

    # Set by the trainer (a genlab.train.diagnostics.TrainingDiagnostics): on steps where
    # `diagnostics.due(step)`, train_step may add `diagnostics.gradient_norms(name, module)` to its values.
    diagnostics: Any = None
    # True when drawing a couple of thousand samples takes well under a second, so the trainer may log
    # sample-based diagnostics (mode coverage, label-histogram entropy) at every evaluation. Off by
    # default: an autoregressive decoder would spend minutes on them.
    cheap_sampling: ClassVar[bool] = False

    # (rank, world_size) under DistributedDataParallel, set by the trainer; see `batch_randn`.
    shard: tuple[int, int] = (0, 1)
    # Why the model cannot train under DistributedDataParallel (None: it can).
    distributed_unsupported: ClassVar[str | None] = None
    # The networks a moving average of the weights covers (None: every trainable child network).
    averaged_networks: ClassVar[tuple[str, ...] | None] = None
    # Backward passes and optimizer steps go through this hook; the trainer replaces it.
    updates: OptimizerHook = PLAIN_UPDATES

    def attach_diagnostics(self, diagnostics: Any) -> None:
        """Receive the trainer's diagnostics recorder (None turns diagnostics off)."""
        self.diagnostics = diagnostics

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- training ----------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Create and return this model's optimizers by name (stored in `self.optimizers`)."""
        raise NotImplementedError

    def distributed_modules(self) -> list[str]:
        """Names of the networks DDP wraps during a train step: by default every direct child module
        with trainable parameters (a VAE's encoder and decoder, a GAN's generator and discriminator;
        not a frozen moving average)."""
        return [name for name, module in self.named_children()
                if any(parameter.requires_grad for parameter in module.parameters())]

    def batch_randn(self, *shape: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Standard normal noise for this process's batch, `shape[0]` items (the reparameterisation
        noise of a VAE, a GAN's z).

        Under DDP every rank draws the noise of the whole global batch from the same random stream and
        keeps its own slice, so N processes at batch B train exactly like one process at N x B.
        """
        rank, world_size = self.shard
        if world_size == 1:
            return torch.randn(*shape, device=device)
        noise = torch.randn(shape[0] * world_size, *shape[1:], device=device)
        return noise[rank * shape[0] : (rank + 1) * shape[0]]

    # --- the optimisation step (run by the trainer's hook) ---------------------------------------
    def manual_backward(self, loss: torch.Tensor, name: str, **backward_options: Any) -> None:
        """Backpropagate `loss` for optimizer `name` (the trainer may scale it for fp16); `backward_options`
        go to `Tensor.backward` (e.g. `inputs=` to fill only one player's gradients)."""
        self.updates.backward(self, loss, name, **backward_options)

    def optimizer_step(self, name: str) -> None:
        """Step optimizer `name` on its gradients (the trainer may clip them first)."""
        self.updates.step(self, name)

    def update(self, name: str, loss: torch.Tensor) -> None:
        """One plain update of optimizer `name`: clear its gradients, backpropagate `loss`, step."""
        self.optimizers[name].zero_grad(set_to_none=True)
        self.manual_backward(loss, name)
        self.optimizer_step(name)

    # --- a moving average of the weights ------------------------------------------------------
    def default_ema_decay(self) -> float:
        """The decay of the moving average the model's own config asks for (0: none); the trainer's
        `ema_decay` option overrides it."""
        return 0.0

    def averaging_interval(self) -> int:
        """The average is updated after the steps whose number is a multiple of this (a GAN: its
        generator steps), and its warm-up counts those updates."""
        return 1

    def averaged_names(self) -> list[str]:
        names = self.averaged_networks
        if names is None:
            names = tuple(name for name in self.distributed_modules() if not name.endswith(EMA_SUFFIX))
        return list(names)

    def attach_moving_average(self) -> None:
        """Add a frozen copy `<name>_ema` of each averaged network (kept with the weights)."""
        for name in self.averaged_names():
            if name + EMA_SUFFIX not in self._modules:
                self.add_module(name + EMA_SUFFIX, frozen_copy(getattr(self, name)))

    @property
    def has_moving_average(self) -> bool:
        return any(name + EMA_SUFFIX in self._modules for name in self.averaged_names())

    def averaged(self, name: str) -> nn.Module:
        """The moving average of network `name` when the model keeps one, else the network itself."""
        average = self._modules.get(name + EMA_SUFFIX)
        return average if average is not None else getattr(self, name)

    def network(self, name: str) -> nn.Module:
        """Network `name` as a pass should use it: the live weights while training, their moving
        average (when there is one) in evaluation mode."""
        return getattr(self, name) if self.training else self.averaged(name)

    def update_moving_average(self, step: int, decay: float) -> None:
        """Move each average toward its network after step `step` (on the steps `averaging_interval`
        picks), with a warm-up so a short run's average is not dominated by the random initial weights."""
        interval = self.averaging_interval()
        if step % interval:
            return
        updates = step // interval
        decay = min(decay, (1 + updates) / (10 + updates))
        for name in self.averaged_names():
            update_moving_average(self._modules[name + EMA_SUFFIX], getattr(self, name), decay)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Weights saved with a moving average bring their `<name>_ema` copies with them."""
        if any(key.split(".", 1)[0].endswith(EMA_SUFFIX) and key.split(".", 1)[0] not in self._modules
               for key in state_dict):
            self.attach_moving_average()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def inference(self) -> contextlib.AbstractContextManager[None]:
        """Evaluation mode (batch-norm running statistics, no dropout; `network` gives averaged weights)
        without gradients, the training mode restored after."""
        return inference(self)

    def setup_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Called once by the trainer after the model is on its device."""
        self.optimizers = self.configure_optimizers()
        return self.optimizers

    def train_step(self, batch: Batch, step: int) -> dict[str, float | torch.Tensor]:
        """One update with the model's own rule; returns named losses/diagnostics as floats or, better,
        detached 0-d tensors: the trainer reads tensors from the device once per logging interval, so a
        step needs no host sync (which matters on GPUs)."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """Held-out measures of the model's own objective (e.g. the ELBO); empty when it has none."""
        return {}

    # --- generation --------------------------------------------------------------------
    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` samples in [0, 1] with shape (n, *data_shape); `generator` makes them reproducible."""
        raise NotImplementedError

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw `n` codes from the prior, on the model's device, with an explicit generator."""
        z = torch.randn(n, self.latent_dim, generator=generator, device=generator.device if generator else "cpu")
        return z.to(self.device)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{self.registry_name} has no latent decoder")

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{self.registry_name} has no encoder")

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(x)) in [0, 1] for models with an encoder; models without one raise NotImplementedError."""
        return self.decode(self.encode(x, labels), labels)

    def sample_labels(self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor | None:
        """Checked labels; for a conditional model asked for none, classes drawn uniformly with `generator`."""
        labels = self.check_labels(n, labels)
        if labels is None and self.conditional:
            device = generator.device if generator is not None else "cpu"
            labels = torch.randint(self.num_classes, (n,), generator=generator, device=device).to(self.device)
        return labels

    def check_labels(self, n: int, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Validate requested class labels for conditional sampling (None for unconditional models)."""
        if labels is None:
            return None
        from genlab.errors import GenlabError

        if not self.conditional:
            raise GenlabError(f"model '{self.registry_name}' is not conditional: drop --label")
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.device).reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise GenlabError(f"labels must be {n} class indices in [0, {self.num_classes})")
        return labels


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the module itself): for passes that
    must not synchronise gradients, such as a GAN's discriminator while only the generator learns."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
