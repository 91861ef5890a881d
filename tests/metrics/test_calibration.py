"""Calibration references and the quality gate, on known answers: real, blurred, one-class and noise images."""

from __future__ import annotations

import torch
from torch import nn

import genlab
from genlab.data.batches import to_float
from genlab.metrics.classifier import data_class_distribution
from genlab.metrics.calibration import calibrate, calibration_path, gaussian_blur, quality_gate, reference_images
from genlab.models.base import GenerativeModel
from genlab.train.run import Run


class FixedImageSampler(GenerativeModel):
    """A "model" that returns the given float images (cycled): its verdict is known in advance."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__(config=None, data_shape=tuple(images.shape[1:]), num_classes=10)
        self.images = images.float()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.position = 0

    def sample(self, n, labels=None, generator=None):
        index = (torch.arange(n) + self.position) % self.images.shape[0]
        self.position += n
        return self.images[index]


def fixed_run(tmp_path, images: torch.Tensor, name: str) -> Run:
    config = {"model": {"name": name, "config": {}}, "data": {"name": "mnist-5k"}, "data_shape": [1, 28, 28],
              "num_classes": 10, "training_seconds": 1.0}
    folder = tmp_path / name
    folder.mkdir()
    return Run(path=folder, config=config, model=FixedImageSampler(images), step=0)


def test_references_come_in_the_expected_order_and_are_cached(evaluator_env, mnist_evaluator, mnist5k):
    classes = data_class_distribution(mnist5k.train_y, 10)
    table = calibrate(mnist_evaluator, mnist5k.test_x[:500], mnist5k.train_x, mnist5k.train_y, 500, classes)
    references = table["references"]
    assert set(references) == {"real", "blurred", "noisy", "one_class", "mean_image", "uniform_noise"}
    fid = {name: values["fid"] for name, values in references.items()}
    # real < blurred < every trivial sampler (mode collapse, the mean image, noise)
    assert fid["real"] < fid["blurred"] < min(fid["one_class"], fid["mean_image"], fid["uniform_noise"]), fid
    assert references["real"]["recall"] > references["blurred"]["recall"] >= references["mean_image"]["recall"]
    assert references["one_class"]["classes_covered"] <= 2 < references["real"]["classes_covered"]
    # Real images are recognised and as sharp as the data; noise is not recognised, so has no sharpness.
    assert abs(references["real"]["sharpness_ratio"] - 1) < 0.2
    assert references["blurred"]["sharpness_ratio"] < 0.5
    assert references["uniform_noise"]["sharpness_ratio"] is None
    assert references["uniform_noise"]["recognised_share"] < 0.1
    cached = calibration_path(mnist_evaluator, mnist5k.test_x[:500], 500, 0)
    assert cached.is_file() and cached.is_relative_to(evaluator_env / "evaluators" / "calibration")
    assert calibrate(mnist_evaluator, mnist5k.test_x[:500], mnist5k.train_x, mnist5k.train_y, 500, classes) == table


def test_gaussian_blur_keeps_the_mean_and_lowers_the_laplacian(mnist5k):
    from genlab.metrics.sharpness import laplacian_variance

    images = to_float(mnist5k.test_x[:64])
    blurred = gaussian_blur(images, 1.0)
    assert blurred.shape == images.shape
    assert torch.allclose(blurred.mean(), images.mean(), atol=2e-3)
    assert laplacian_variance(blurred).mean() < 0.3 * laplacian_variance(images).mean()


def test_the_gate_passes_real_images_and_fails_noise_one_class_and_an_untrained_model(evaluator_env, mnist5k, tmp_path):
    images = reference_images(mnist5k.train_x, mnist5k.train_y, 500, seed=3)
    verdicts = {}
    for name in ("real", "one_class", "uniform_noise", "mean_image"):
        result = genlab.evaluate(fixed_run(tmp_path, images[name], name), n=500, metrics="fid,prdc,sharpness",
                                 write=False)
        verdicts[name] = result["quality_gate"]
    assert verdicts["real"]["passed"] is True, verdicts["real"]
    for name in ("one_class", "uniform_noise", "mean_image"):
        assert verdicts[name]["passed"] is False, (name, verdicts[name])
    assert "uniform noise" in verdicts["uniform_noise"]["reason"]  # "FID 1480 ≈ uniform noise 1475"
    untrained = genlab.train("dcgan", data="mnist-5k", out=tmp_path / "dcgan", steps=3, progress=False, sample_every=0,
                             eval_every=0, config={"generator_features": 8, "discriminator_features": 8, "batch_size": 16})
    result = genlab.evaluate(untrained, n=500, metrics="fid,prdc,sharpness", write=False)
    assert result["quality_gate"]["passed"] is False and "sharpness_ratio" not in result["metrics"]


def test_the_gate_cannot_judge_without_references():
    assert quality_gate({"fid": 10.0}, None)["passed"] is None
    references = {"references": {"one_class": {"fid": 100.0}, "mean_image": {"fid": 300.0}, "uniform_noise": {"fid": 500.0}}}
    assert quality_gate({"fid": 70.0, "precision": 0.5, "coverage": 0.4}, references)["passed"] is True
    failed = quality_gate({"fid": 70.0, "precision": 0.5, "coverage": 0.01}, references)
    assert failed["passed"] is False and "coverage" in failed["reason"]
    failed = quality_gate({"fid": 70.0, "precision": 0.01, "coverage": 0.4}, references)
    assert failed["passed"] is False and "precision" in failed["reason"]
    assert quality_gate({"fid": 95.0}, references)["passed"] is False
