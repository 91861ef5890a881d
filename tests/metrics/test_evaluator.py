"""The evaluator networks: accuracy on held-out digits, the cache, the autoencoding variant, Inception."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest
import torch

import genlab
from genlab.errors import GenlabError
from genlab.metrics import evaluator as evaluator_module
from genlab.metrics import evaluator_training
from genlab.metrics.evaluator import canonical_data_config, get_evaluator


def test_mnist5k_evaluator_reaches_98_percent_on_held_out_digits(mnist_evaluator, mnist5k):
    assert mnist_evaluator.kind == "classifier" and mnist_evaluator.feature_dim == 128
    # Recomputed from the cached weights, not read from the JSON record.
    predicted = mnist_evaluator.predict(mnist5k.test_x)
    accuracy = (predicted == mnist5k.test_y).double().mean().item()
    assert accuracy >= 0.98, accuracy
    assert mnist_evaluator.metadata["test_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert mnist_evaluator.metadata["train_items"] == 4000  # the train split only, never the test digits


def test_evaluator_is_cached_as_safetensors_and_json_keyed_by_data_and_version(evaluator_env, mnist_evaluator, mnist5k):
    path = mnist_evaluator.path
    assert path.parent == evaluator_env / "evaluators"
    assert path.with_suffix(".safetensors").is_file()
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["key"]["genlab_version"] == genlab.__version__
    assert record["key"]["dataset"] == "mnist-5k" and record["key"]["shape"] == [1, 28, 28]
    started = time.perf_counter()
    again = get_evaluator("mnist-5k", build=False)  # a run's subset/seed do not change the evaluator
    assert time.perf_counter() - started < 10
    assert again.path == path
    assert torch.equal(again.features(mnist5k.test_x[:50]), mnist_evaluator.features(mnist5k.test_x[:50]))
    same_key = canonical_data_config({"name": "mnist-5k", "subset": 100, "seed": 3})
    assert same_key == canonical_data_config("mnist-5k")
    resized = genlab.load_dataset("mnist-5k", resize=32)
    resized_path, _ = evaluator_module.cached_evaluator_path(canonical_data_config({"name": "mnist-5k", "resize": 32}), resized)
    assert resized_path != path
    with pytest.raises(GenlabError, match="genlab evaluator mnist-5k"):
        get_evaluator({"name": "mnist-5k", "resize": 32}, build=False)


def test_features_are_the_penultimate_layer_and_probabilities_sum_to_one(mnist_evaluator, mnist5k):
    features, probabilities = mnist_evaluator.features_and_probabilities(mnist5k.test_x[:64])
    assert features.shape == (64, 128) and (features >= 0).all()  # ReLU units
    assert probabilities.shape == (64, 10)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(64))


def test_unlabelled_data_gets_an_autoencoding_evaluator(isolated_env, monkeypatch):
    faces = genlab.load_dataset("faces-lfw")  # one class: nothing to classify
    monkeypatch.setattr(evaluator_training, "EPOCH_RANGE", (2, 60))  # 60 passes over its 80 faces, not 200: seconds
    evaluator = get_evaluator("faces-lfw")
    assert evaluator.kind == "autoencoder" and evaluator.num_classes == 0
    assert evaluator.probabilities(faces.test_x) is None
    assert "autoencoder" in evaluator.description
    # It learned to reconstruct held-out faces better than their mean image does.
    test = faces.test_x.float() / 255
    baseline = (test - faces.train_x.float().div(255).mean(0)).square().mean().item()
    assert evaluator.metadata["test_mse"] < 0.7 * baseline, (evaluator.metadata["test_mse"], baseline)
    assert evaluator.features(faces.test_x).shape == (20, 128)


def test_points_are_compared_as_raw_coordinates(isolated_env):
    evaluator = get_evaluator({"name": "toy2d", "options": {"n_train": 100, "n_test": 10}})
    points = torch.randn(5, 2)
    assert evaluator.kind == "identity"
    torch.testing.assert_close(evaluator.features(points), points)


def test_inception_without_local_weights_is_a_clear_error_not_a_download(isolated_env, monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    started = time.perf_counter()
    with pytest.raises(GenlabError) as caught:
        evaluator_module.inception_evaluator()
    assert time.perf_counter() - started < 2
    message = str(caught.value)
    assert "missing.pth" in message and "--features evaluator" in message
    if importlib.util.find_spec("torch_fidelity") is None:
        assert "torch-fidelity" in message
