"""DistributedDataParallel for `genlab train` under `torchrun`: one process per GPU (NCCL), or CPU
processes (gloo).

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; `genlab train` then joins the process group and:

- every rank takes its own slice of each global batch (`Batcher(rank=, world_size=)`), so `batch_size`
  is per process and the global batch is `batch_size x world_size`;
- the model's trainable networks (`GenerativeModel.distributed_modules()`: a VAE's encoder and decoder,
  a GAN's generator and discriminator) are wrapped in `DistributedDataParallel` for the duration of each
  `train_step`, so gradients are averaged across ranks during the backward pass and the model's own
  update rule runs unchanged; outside the step (evaluation, sampling, checkpoints) the model is plain;
- all ranks start from the same seed, so the noise of the step (`GenerativeModel.batch_randn`) is each
  rank's slice of the global batch's noise: N processes train like one process at N x the batch;
- rank 0 alone writes logs, samples and checkpoints; every rank reads them to resume;
- decisions that end the loop (time budget, Ctrl-C/SIGTERM, NaN) are agreed by all ranks each step.

Batch norm: by default each rank normalises with its own batch statistics and DDP broadcasts rank 0's
running statistics (the usual DDP behaviour); `sync_batchnorm` converts to `SyncBatchNorm` (GPUs only)
so statistics are computed over the global batch.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genlab.errors import GenlabError
from genlab.models.base import unwrap  # noqa: F401  (re-exported: the inverse of the wrapping here)


@dataclass
class DistributedContext:
    """This process's place in the job (rank 0 of 1 when not launched by torchrun)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when genlab created the process group (and so destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        """The device of this rank: its own GPU (LOCAL_RANK) when training on CUDA."""
        if self.enabled and requested.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
            return device
        return requested

    # --- collectives (no-ops in a single process) -------------------------------------------
    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when `flag` is true on any rank."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def mean(self, values: dict[str, float], device: torch.device) -> dict[str, float]:
        """The mean over ranks of each value (every rank passes the same keys)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        tensor = torch.tensor([values[key] for key in keys], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return dict(zip(keys, (tensor / self.world_size).tolist()))

    def close(self, wait: bool = True) -> None:
        """Leave the group if genlab created it; first wait for every rank unless this one failed."""
        if self.enabled and self.owns_group and dist.is_initialized():
            # Free the DDP wrappers (and the gloo work they hold) now, while the interpreter is whole: left
            # to interpreter shutdown, their worker threads can abort the process ("terminate called
            # without an active exception") after a run that trained correctly.
            gc.collect()
            if wait:
                dist.barrier()  # no rank tears down while another still talks to it
            dist.destroy_process_group()
            self.owns_group = False


def from_environment() -> DistributedContext:
    """Read torchrun's variables; a job of one process (or none set) is not distributed."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise GenlabError("RANK, LOCAL_RANK and WORLD_SIZE must be integers (they are set by torchrun)") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise GenlabError(f"RANK={rank} is not in a job of WORLD_SIZE={world_size}; launch with torchrun")
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size)


def initialise(device: str) -> DistributedContext:
    """Join the torchrun job's process group (NCCL for CUDA, gloo for CPUs) when there is one."""
    context = from_environment()
    if not context.enabled or dist.is_initialized():
        return context
    if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
        raise GenlabError("WORLD_SIZE > 1 but MASTER_ADDR/MASTER_PORT are not set; launch with torchrun "
                          "(e.g. torchrun --nproc-per-node 2 -m genlab train ...)")
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend, rank=context.rank, world_size=context.world_size,
                            timeout=datetime.timedelta(minutes=30))
    context.owns_group = True
    return context


class DistributedModel:
    """DDP wrappers of a model's trainable networks, swapped in for the duration of each train step."""

    def __init__(self, model: nn.Module, context: DistributedContext, device: torch.device,
                 sync_batchnorm: bool = False) -> None:
        self.model = model
        reason = getattr(model, "distributed_unsupported", None)
        if reason:
            raise GenlabError(f"'{model.registry_name}' cannot train under torchrun/DDP: {reason}; "
                              f"train it in one process (without torchrun)")
        self.names = list(model.distributed_modules())
        if sync_batchnorm:
            if device.type != "cuda":
                raise GenlabError("--sync-batchnorm needs GPUs (torch's SyncBatchNorm has no CPU kernel); drop it on CPUs")
            for name in self.names:
                setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(getattr(model, name)))
        device_ids = [device.index] if device.type == "cuda" else None
        # Built once: construction broadcasts rank 0's weights and buffers so all ranks start alike.
        self.wrappers = {name: DistributedDataParallel(getattr(model, name), device_ids=device_ids)
                         for name in self.names}
        self.plain = {name: getattr(model, name) for name in self.names}

    def broadcast_buffers(self) -> None:
        """Give every rank rank 0's buffers (batch-norm running statistics, which each rank updates with
        its own batches between DDP's per-forward broadcasts), so all replicas end identical."""
        for buffer in self.model.buffers():
            dist.broadcast(buffer.data, src=0)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Inside: the model's networks are the DDP wrappers (gradients are averaged in backward)."""
        for name, wrapper in self.wrappers.items():
            setattr(self.model, name, wrapper)
        try:
            yield
        finally:
            for name, module in self.plain.items():
                setattr(self.model, name, module)
