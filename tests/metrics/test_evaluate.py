"""`genlab.evaluate` and `genlab evaluate` end to end: real runs, samplers with known answers, eval.json."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from torch import nn

import genlab
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.train.checkpoint import load_tensors
from genlab.train.run import Run
from tests.conftest import genlab_command, subprocess_env


class RealImageSampler(GenerativeModel):
    """A "model" whose samples are real images (optionally of some classes only): answers are known."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__(config=None, data_shape=tuple(images.shape[1:]), num_classes=10)
        self.images = images.float() / 255
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the module a device
        self.order = torch.zeros(0, dtype=torch.int64)

    def sample(self, n, labels=None, generator=None):
        """The next `n` images of one random order, so calls in batches never repeat an image."""
        if self.order.numel() < n:
            self.order = torch.cat([self.order, torch.randperm(self.images.shape[0], generator=generator)])
        index, self.order = self.order[:n], self.order[n:]
        return self.images[index]


def sampler_run(tmp_path, images: torch.Tensor) -> Run:
    config = {"model": {"name": "real-images", "config": {}}, "data": {"name": "mnist-5k"},
              "data_shape": [1, 28, 28], "num_classes": 10, "training_seconds": 1.5}
    return Run(path=tmp_path, config=config, model=RealImageSampler(images), step=0)


def test_a_sampler_of_real_test_images_scores_like_the_data_itself(evaluator_env, mnist5k, tmp_path):
    # The samples are the test split itself, shuffled: the answers are known.
    result = genlab.evaluate(sampler_run(tmp_path, mnist5k.test_x), n=1000,
                             metrics="fid,kid,prdc,classifier,sharpness,speed,modes,likelihood,reconstruction",
                             kid_subsets=10)
    metrics = result["metrics"]
    assert result["n_real"] == 1000 and result["n_samples"] == 1000
    assert metrics["fid"] < 1e-6 < result["reference"]["fid_train_vs_test"]
    assert metrics["precision"] == metrics["recall"] == metrics["coverage"] == 1.0
    assert metrics["density"] == pytest.approx(1.0, abs=0.1)
    # One set against itself is not two independent samples: the unbiased MMD^2 drops the i = j
    # terms within each set but not across them, so it comes out slightly negative.
    assert metrics["kid_mean"] < 0 and result["details"]["kid"]["subset_size"] == 1000
    assert metrics["classes_covered"] == 10 and metrics["class_kl"] < 0.01
    assert metrics["inception_score"] == pytest.approx(result["reference"]["inception_score_real"], rel=0.05)
    assert metrics["sharpness_all_samples"] == pytest.approx(result["reference"]["sharpness_real"], rel=1e-6)
    # The recognised samples are a subset of the same images: about as sharp as the whole split.
    assert metrics["sharpness_ratio"] == pytest.approx(1.0, abs=0.15) and metrics["recognised_share"] > 0.5
    assert result["quality_gate"]["passed"] is True
    assert result["calibration"]["references"]["real"]["fid"] < result["calibration"]["references"]["uniform_noise"]["fid"]
    assert metrics["training_seconds"] == 1.5 and metrics["sampling_images_per_second"] > 0
    assert set(result["skipped"]) == {"modes", "likelihood", "reconstruction"}
    assert json.loads((tmp_path / "eval.json").read_text()) == result


def test_a_sampler_of_one_class_is_caught_by_recall_and_the_class_histogram(evaluator_env, mnist5k, tmp_path):
    sevens = mnist5k.train_x[mnist5k.train_y == 7]
    result = genlab.evaluate(sampler_run(tmp_path, sevens), n=1000, metrics=["prdc", "classifier"], write=False)
    metrics = result["metrics"]
    assert metrics["classes_covered"] == 1 and metrics["class_kl"] > 2.0
    assert metrics["precision"] > 0.8 and metrics["recall"] < 0.3
    assert metrics["inception_score"] < 1.5
    assert not (tmp_path / "eval.json").exists()


def test_evaluate_a_trained_vae_reports_every_metric_that_applies(evaluator_env, tmp_path):
    run = genlab.train("vae", data={"name": "mnist-5k", "subset": 1000}, out=tmp_path / "vae", steps=40,
                       config={"hidden_dims": [64], "latent_dim": 4}, progress=False, sample_every=0, eval_every=0,
                       log_every=20)
    result = genlab.evaluate(run.path, n=400, likelihood_k=4, likelihood_items=100, parzen_items=200, kid_subsets=10)
    metrics = result["metrics"]
    for key in ("fid", "kid_mean", "precision", "recall", "density", "coverage", "inception_score", "classes_covered",
                "class_kl", "parzen_log_likelihood", "parzen_bits_per_dim", "reconstruction_mse",
                "reconstruction_feature_mse", "sharpness_all_samples", "recognised_share", "sampling_images_per_second",
                "training_seconds"):
        assert key in metrics, key
    assert result["n_real"] == 400  # the full test split, not the run's 1,000-image training subset
    assert metrics["fid"] > result["reference"]["fid_train_vs_test"]  # 40 steps are far from the data
    # ... too far to have learned it: the gate says so, and sharpness is not measured on it.
    assert result["quality_gate"]["passed"] is False and "sharpness_ratio" not in metrics
    assert "quality gate" in result["details"]["sharpness"]
    if hasattr(run.model, "log_likelihood"):
        assert metrics["nll_nats"] > 0 and result["details"]["likelihood"]["exact"] is False
    assert "modes" in result["skipped"]
    assert "weak" in result["details"]["parzen"]["note"]
    # Evaluating again reads the real split's features from the cache and gives the same numbers.
    again = genlab.evaluate(run.path, n=400, metrics="fid,prdc", write=False)
    assert again["details"]["real_features_cached"] is True
    assert again["metrics"]["fid"] == pytest.approx(metrics["fid"], rel=1e-9)
    # ... and PRDC's real-set radii, stored beside them by the first evaluation.
    stored = [load_tensors(path) for path in (evaluator_env / "evaluators" / "reference").glob("*-400-*.safetensors")]
    assert any(tensors.get("prdc_radii_k5", torch.zeros(0)).shape == (400,) for tensors in stored)
    assert {key: again["metrics"][key] for key in ("precision", "recall", "density", "coverage")} == \
        {key: metrics[key] for key in ("precision", "recall", "density", "coverage")}


def test_evaluate_on_toy2d_counts_modes_in_coordinate_space(evaluator_env, tmp_path):
    run = genlab.train("vae", data={"name": "toy2d", "options": {"n_train": 2000, "n_test": 500}}, out=tmp_path / "toy",
                       steps=30, config={"hidden_dims": [32], "latent_dim": 2}, progress=False, sample_every=0,
                       eval_every=0)
    result = genlab.evaluate(run, n=500, metrics=["modes", "fid", "classifier", "sharpness", "parzen"], write=False)
    assert result["features"]["kind"] == "identity"
    assert "modes_covered" in result["metrics"] and "high_quality_share" in result["metrics"]
    assert {"classifier", "sharpness"} <= set(result["skipped"])
    assert "parzen_bits_per_dim" not in result["metrics"]  # bits/dim is for 8-bit images only

    # Known answers: samples spread over the 8 ring modes cover all of them, all of high quality; samples
    # piled on the first mode cover exactly one.
    from genlab.data.toy2d import ring_modes

    modes = ring_modes()

    def samples_at(centres):
        def sample(n, labels=None, generator=None):
            return centres[torch.arange(n) % centres.shape[0]] + 0.01 * torch.randn(n, 2, generator=generator)
        return sample

    run.model.sample = samples_at(modes)
    spread = genlab.evaluate(run, n=400, metrics=["modes"], write=False)["metrics"]
    assert spread["modes_covered"] == 8 and spread["high_quality_share"] == pytest.approx(1.0)
    run.model.sample = samples_at(modes[:1])
    piled = genlab.evaluate(run, n=400, metrics=["modes"], write=False)["metrics"]
    assert piled["modes_covered"] == 1 and piled["high_quality_share"] == pytest.approx(1.0)


def test_bad_requests_are_one_line_errors(evaluator_env, mnist5k, tmp_path):
    run = sampler_run(tmp_path, mnist5k.test_x)
    with pytest.raises(GenlabError, match="unknown metric 'fdi'"):
        genlab.evaluate(run, metrics="fdi")
    with pytest.raises(GenlabError, match="split"):
        genlab.evaluate(run, split="validation")
    with pytest.raises(GenlabError, match="not a run folder"):
        genlab.evaluate(tmp_path / "nowhere")


def test_cli_evaluate_prints_the_table_and_evaluator_shows_the_cached_network(evaluator_env, tmp_path):
    run = genlab.train("dcgan", data="mnist-5k", out=tmp_path / "gan", steps=5, progress=False, sample_every=0,
                       eval_every=0, config={"generator_features": 8, "discriminator_features": 8, "latent_dim": 16,
                                             "batch_size": 32})
    env = subprocess_env(GENLAB_CACHE=str(evaluator_env))
    result = subprocess.run(genlab_command() + ["evaluate", str(run.path), "--n", "300", "--metrics", "fid,prdc",
                                                "--metrics", "reconstruction,speed", "--quiet"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    for text in ("FID", "precision (k=3)", "sampling speed", "reconstruction", "skipped", "eval.json"):
        assert text in result.stdout, text
    saved = json.loads((run.path / "eval.json").read_text())
    assert saved["metrics"]["fid"] > 0 and saved["skipped"]["reconstruction"] == "dcgan has no encoder"

    shown = subprocess.run(genlab_command() + ["evaluator", "mnist-5k"], capture_output=True, text=True, env=env,
                           timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "classifier evaluator" in shown.stdout
    assert "test accuracy 98." in shown.stdout or "test accuracy 99." in shown.stdout
    assert "cached at" in shown.stdout and "epoch" not in shown.stderr  # shown from the cache, not retrained
