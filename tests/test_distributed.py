"""DistributedDataParallel on CPUs (gloo): 2 processes train like one process at twice the batch.

Each test starts real processes on a free loopback port: `torch.multiprocessing.spawn` workers that
call `genlab.train` (so the test can read every rank's weights), and `torchrun` running the CLI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

import genlab
from tests.conftest import subprocess_env

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

WORLD_SIZE = 2
VAE_CONFIG = {"hidden_dims": [64], "latent_dim": 8}
DCGAN_CONFIG = {"latent_dim": 16, "generator_features": 8, "discriminator_features": 8}
QUIET = {"progress": False, "sample_every": 0, "eval_every": 0, "log_every": 5, "threads": 1}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker(rank: int, port: int, out: str, jobs: list[dict]) -> None:
    """One rank: join the group, run each job through genlab.train, save this rank's weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD_SIZE), GENLAB_OFFLINE="1")
    torch.set_num_threads(1)
    # The group is the test's, so genlab.train joins it and leaves it open for the next job.
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        for job in jobs:
            run = genlab.train(job["model"], job["data"], out=job["out"], config=job["config"], resume=job.get("resume", False),
                               **job["train"])
            state = {k: v.detach().contiguous().clone() for k, v in run.model.state_dict().items()}
            save_file(state, str(Path(out) / f"{Path(job['out']).name}-rank{rank}.safetensors"))
        dist.barrier()  # no rank tears the group down while another still uses it
    finally:
        dist.destroy_process_group()


def run_ranks(tmp_path: Path, jobs: list[dict]) -> None:
    mp.spawn(_worker, args=(free_port(), str(tmp_path), jobs), nprocs=WORLD_SIZE, join=True)


def rank_weights(tmp_path: Path, name: str) -> list[dict[str, torch.Tensor]]:
    return [load_file(str(tmp_path / f"{name}-rank{rank}.safetensors")) for rank in range(WORLD_SIZE)]


def test_ddp_vae_equals_one_process_at_the_combined_batch_and_resumes(tmp_path, isolated_env):
    job = {"model": "vae", "data": "mnist-5k", "config": {**VAE_CONFIG, "batch_size": 32}}
    jobs = [
        {**job, "out": str(tmp_path / "straight"), "train": {**QUIET, "steps": 20, "checkpoint_every": 0}},
        # The same run interrupted at step 10 and resumed under DDP.
        {**job, "out": str(tmp_path / "resumed"), "train": {**QUIET, "steps": 10, "checkpoint_every": 0}},
        {**job, "out": str(tmp_path / "resumed"), "train": {**QUIET, "steps": 20, "checkpoint_every": 0}, "resume": True},
    ]
    run_ranks(tmp_path, jobs)
    rank0, rank1 = rank_weights(tmp_path, "straight")
    for key in rank0:  # DDP keeps the replicas identical, bit for bit
        assert torch.equal(rank0[key], rank1[key]), key

    # One process at batch 64 sees the same items and the same noise as the two ranks together.
    single = genlab.train("vae", "mnist-5k", out=tmp_path / "single", config={**VAE_CONFIG, "batch_size": 64},
                          steps=20, checkpoint_every=0, **QUIET)
    single_state = single.model.state_dict()
    for key, value in rank0.items():
        torch.testing.assert_close(value, single_state[key], rtol=1e-4, atol=1e-5)

    resumed = rank_weights(tmp_path, "resumed")[0]
    for key in rank0:
        torch.testing.assert_close(resumed[key], rank0[key], rtol=1e-5, atol=1e-6)

    # Rank 0 alone wrote the run: one metrics row per logging step, global throughput, world size recorded.
    rows = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [5, 10, 15, 20]
    single_rows = [json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    # Logged losses are the mean over ranks, i.e. over the global batch, as in the single process.
    assert rows[-1]["loss"] == pytest.approx(single_rows[-1]["loss"], rel=1e-4)
    saved = genlab.load_run(tmp_path / "straight")
    assert saved.config["world_size"] == WORLD_SIZE
    for key, value in rank0.items():
        assert torch.equal(saved.model.state_dict()[key], value)


def test_ddp_dcgan_keeps_both_networks_identical_on_every_rank(tmp_path, isolated_env):
    jobs = [{"model": "dcgan", "data": "mnist-5k", "config": {**DCGAN_CONFIG, "batch_size": 16},
             "out": str(tmp_path / "dcgan"), "train": {**QUIET, "steps": 6, "checkpoint_every": 3}}]
    run_ranks(tmp_path, jobs)
    rank0, rank1 = rank_weights(tmp_path, "dcgan")
    generator_keys = [key for key in rank0 if key.startswith("generator.")]
    discriminator_keys = [key for key in rank0 if key.startswith("discriminator.")]
    assert generator_keys and discriminator_keys
    for key in rank0:  # weights, batch-norm statistics and the generator's moving average
        assert torch.equal(rank0[key], rank1[key]), key
    # They trained: both networks moved away from the shared initial weights.
    torch.manual_seed(0)
    initial = genlab.create_model("dcgan", data_shape=(1, 28, 28), num_classes=10, **DCGAN_CONFIG, batch_size=16).state_dict()
    for keys in (generator_keys, discriminator_keys):
        assert any(not torch.equal(rank0[key], initial[key]) for key in keys if key.endswith("weight"))
    checkpoints = sorted(path.name for path in (tmp_path / "dcgan" / "checkpoints").glob("*.safetensors"))
    assert checkpoints == ["step-000003.safetensors", "step-000006.safetensors"]


def test_torchrun_launches_genlab_train(tmp_path, isolated_env):
    out = tmp_path / "torchrun-run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(WORLD_SIZE),
               "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
               "-m", "genlab", "train", "dcgan", "--data", "digits", "--steps", "4", "--out", str(out), "--quiet",
               "--threads", "1", "--sample-every", "0", "--eval-every", "0", "--log-every", "2",
               "--set", "batch_size=16", "--set", "generator_features=8", "--set", "discriminator_features=8"]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained dcgan for 4 steps") == WORLD_SIZE  # each rank reports; rank 0 wrote
    run = genlab.load_run(out)
    assert run.step == 4 and run.config["world_size"] == WORLD_SIZE
    # One row per logging step (rank 0 writes alone), with the losses averaged over both ranks.
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 4]
    assert all(0 < row["loss_d"] < 10 for row in rows)


def test_a_model_whose_gradients_ddp_cannot_sync_is_refused_with_the_reason():
    from genlab.errors import GenlabError
    from genlab.train.distributed import DistributedContext, DistributedModel

    model = genlab.create_model("vae-gan", data_shape=(1, 28, 28), num_classes=10)
    with pytest.raises(GenlabError, match="vae-gan.*two losses.*one process"):
        DistributedModel(model, DistributedContext(rank=0, world_size=2), torch.device("cpu"))
