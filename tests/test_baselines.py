"""The classic baselines: exact likelihoods against direct NumPy/SciPy computations, class-conditional
samples a classifier recognises, and the fitted-model path through `genlab train`, `genlab sample` and `load_run`."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture

import genlab
from genlab.data.batches import Batch
from genlab.errors import GenlabError
from tests.conftest import genlab_command, subprocess_env

CLASSES = 10


@pytest.fixture(scope="module")
def tiny(mnist5k):
    """200 training and 30 test digits as uint8 / float arrays, with their labels."""
    return (mnist5k.train_x[:200], mnist5k.train_y[:200], mnist5k.test_x[:30], mnist5k.test_y[:30])


def numpy_class_prior(labels: np.ndarray) -> np.ndarray:
    counts = np.bincount(labels, minlength=CLASSES)
    return np.log((counts + 1.0) / (counts.sum() + CLASSES))


def fitted(name: str, train_x, train_y, **config):
    model = genlab.create_model(name, data_shape=(1, 28, 28), num_classes=CLASSES, **config)
    model.fit(train_x, train_y)
    return model


@pytest.mark.parametrize("bins", [256, 16])
def test_naive_bayes_categorical_likelihood_is_the_smoothed_frequency_product(tiny, bins):
    train_x, train_y, test_x, test_y = tiny
    model = fitted("naive-bayes", train_x, train_y, bins=bins, smoothing=2.0)
    levels, labels = train_x.flatten(1).numpy().astype(int), train_y.numpy()
    bin_of = np.arange(256) * bins // 256
    width = np.bincount(bin_of, minlength=bins)
    counts = np.zeros((CLASSES, 784, bins))
    for image, label in zip(bin_of[levels], labels):
        counts[label, np.arange(784), image] += 1
    probabilities = (counts + 2.0 / bins) / (counts.sum(-1, keepdims=True) + 2.0)
    test_bins = bin_of[test_x.flatten(1).numpy().astype(int)]
    per_class = np.stack([np.log(probabilities[c, np.arange(784), test_bins]).sum(1) for c in range(CLASSES)], 1)
    per_class -= np.log(width[test_bins]).sum(1, keepdims=True)
    expected = logsumexp(per_class + numpy_class_prior(labels), axis=1)
    estimate = model.log_likelihood(test_x)
    assert estimate.measure == "probability" and not estimate.is_lower_bound
    np.testing.assert_allclose(estimate.per_item.numpy(), expected, rtol=1e-5)
    assert estimate.bits_per_dim == pytest.approx(-expected.mean() / (784 * math.log(2)), rel=1e-5)
    given = model.log_likelihood(test_x, labels=test_y).per_item.numpy()
    np.testing.assert_allclose(given, per_class[np.arange(30), test_y.numpy()], rtol=1e-5)


def test_naive_bayes_bernoulli_is_a_distribution_over_binary_images():
    # On 2x2 binary images the 16 probabilities of every image must sum to one.
    images = torch.tensor([[int(bit) for bit in f"{code:04b}"] for code in range(16)], dtype=torch.float32).view(16, 1, 2, 2)
    model = genlab.create_model("naive-bayes", data_shape=(1, 2, 2), num_classes=2, pixel_model="bernoulli")
    model.fit(images[[1, 3, 7, 12, 14]], torch.tensor([0, 0, 1, 1, 1]))
    assert model.log_likelihood(images).per_item.exp().sum().item() == pytest.approx(1.0, abs=1e-6)


def test_naive_bayes_bernoulli_matches_expected_counts_and_refuses_grey_pixels(tiny):
    train_x, train_y, test_x, _ = tiny
    model = fitted("naive-bayes", train_x, train_y, pixel_model="bernoulli")
    intensities, labels = train_x.flatten(1).numpy() / 255.0, train_y.numpy()
    ones = np.stack([intensities[labels == c].sum(0) for c in range(CLASSES)])
    items = np.bincount(labels, minlength=CLASSES)[:, None]
    p_one = (ones + 0.5) / (items + 1.0)  # stochastic binarisation counted in expectation, KT smoothing
    binary = (test_x.flatten(1).numpy() > 127).astype(float)
    per_class = binary @ np.log(p_one).T + (1 - binary) @ np.log(1 - p_one).T
    expected = logsumexp(per_class + numpy_class_prior(labels), axis=1)
    binary_images = torch.from_numpy(binary).float().view(-1, 1, 28, 28)
    np.testing.assert_allclose(model.log_likelihood(binary_images).per_item.numpy(), expected, rtol=1e-5)
    with pytest.raises(GenlabError, match="binar"):
        model.log_likelihood(test_x)


def test_gaussian_bayes_likelihood_is_the_product_of_floored_gaussians(tiny):
    train_x, train_y, test_x, _ = tiny
    model = fitted("gaussian-bayes", train_x, train_y, variance_floor=0.01)
    pixels, labels = train_x.flatten(1).numpy() / 255.0, train_y.numpy()
    test = test_x.flatten(1).numpy() / 255.0
    per_class = []
    for label in range(CLASSES):
        members = pixels[labels == label]
        std = np.sqrt(np.maximum(members.var(0), 0.01))
        per_class.append(norm.logpdf(test, members.mean(0), std).sum(1))
    expected = logsumexp(np.stack(per_class, 1) + numpy_class_prior(labels), axis=1)
    estimate = model.log_likelihood(test_x)
    assert estimate.measure == "density"
    np.testing.assert_allclose(estimate.per_item.numpy(), expected, rtol=1e-6)
    # The 8-bit convention: a density on [0, 1] gains log 256 per dimension.
    assert estimate.bits_per_dim == pytest.approx(-(expected.mean() - 784 * math.log(256)) / (784 * math.log(2)), rel=1e-6)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_gmm_likelihood_matches_scikit_learn_in_pca_space_plus_the_residual_gaussian(tiny, covariance):
    train_x, train_y, test_x, _ = tiny
    torch.manual_seed(0)
    model = fitted("gmm", train_x, train_y, components=3, covariance=covariance, pca_dim=12)
    torch.manual_seed(0)
    seed = int(torch.randint(2**31 - 1, ()).item())  # the mixture's random state follows torch's RNG
    pixels, labels = train_x.flatten(1).numpy() / 255.0, train_y.numpy().astype(int)
    test = test_x.flatten(1).numpy().astype(np.float64) / 255.0
    mean = pixels.mean(0)
    _, singular_values, directions = np.linalg.svd(pixels - mean, full_matrices=False)
    basis = directions[:12]
    np.testing.assert_allclose(model.pca_components.numpy().T @ model.pca_components.numpy(), basis.T @ basis, atol=1e-4)
    residual_variance = (singular_values[12:] ** 2 / 200).sum() / (784 - 12)
    codes, test_codes = (pixels - mean) @ basis.T, (test - mean) @ basis.T
    residual = ((test - mean - test_codes @ basis) ** 2).sum(1)
    residual_log_density = -0.5 * (residual / residual_variance + (784 - 12) * np.log(2 * np.pi * residual_variance))
    per_class = []
    for label in range(CLASSES):
        mixture = GaussianMixture(3, covariance_type=covariance, reg_covar=1e-3, max_iter=100,
                                  random_state=seed + label).fit(codes[labels == label])
        per_class.append(mixture.score_samples(test_codes) + residual_log_density)
    expected = logsumexp(np.stack(per_class, 1) + numpy_class_prior(labels), axis=1)
    # float32 PCA buffers: agreement to a small fraction of a nat per image of ~800 nats.
    np.testing.assert_allclose(model.log_likelihood(test_x).per_item.numpy(), expected, rtol=2e-4, atol=0.1)


def test_gmm_without_pca_is_a_mixture_density_on_the_pixels():
    torch.manual_seed(0)
    x = torch.rand(40, 1, 2, 2)
    model = genlab.create_model("gmm", data_shape=(1, 2, 2), num_classes=0, components=2, pca_dim=0)
    model.fit(x)
    assert not model.conditional
    weights, means, covariances = (model.weights[0].numpy(), model.means[0].numpy(), model.covariances[0].numpy())
    from scipy.stats import multivariate_normal

    points = x.flatten(1).numpy()
    expected = logsumexp(np.stack([np.log(w) + multivariate_normal(m, c).logpdf(points)
                                   for w, m, c in zip(weights, means, covariances)], 1), axis=1)
    np.testing.assert_allclose(model.log_likelihood(x).per_item.numpy(), expected, rtol=1e-4)
    with pytest.raises(GenlabError, match="not conditional"):
        model.sample(2, labels=torch.tensor([0, 1]))


@pytest.fixture(scope="module")
def digit_classifier(mnist5k):
    """Logistic regression on 2,000 real training digits."""
    x = mnist5k.train_x[:2000].flatten(1).numpy() / 255.0
    return LogisticRegression(max_iter=200).fit(x, mnist5k.train_y[:2000].numpy())


@pytest.mark.parametrize("name, config, floor", [
    ("naive-bayes", {}, 0.8),
    ("naive-bayes", {"pixel_model": "bernoulli"}, 0.8),
    ("gaussian-bayes", {}, 0.8),
    ("gmm", {"components": 4, "pca_dim": 30}, 0.8),
])
def test_class_conditional_samples_are_recognised_as_their_class(name, config, floor, mnist5k, digit_classifier):
    torch.manual_seed(0)
    model = fitted(name, mnist5k.train_x, mnist5k.train_y, **config)
    labels = torch.arange(300) % CLASSES
    samples = model.sample(300, labels=labels, generator=torch.Generator().manual_seed(0))
    accuracy = (digit_classifier.predict(samples.flatten(1).numpy()) == labels.numpy()).mean()
    assert accuracy > floor, f"{name} {config}: {accuracy:.2f} of class-conditional samples recognised (chance 0.10)"
    # Unconditional samples draw their classes from the prior: every digit appears.
    unconditional = model.sample(300, generator=torch.Generator().manual_seed(1))
    assert len(set(digit_classifier.predict(unconditional.flatten(1).numpy()))) >= 8


def test_genlab_train_fits_a_baseline_and_sample_and_load_run_use_it(tmp_path):
    out = tmp_path / "gmm"
    command = genlab_command() + ["train", "gmm", "--data", "mnist-5k", "--data-option", "subset=500", "--out", str(out),
                                  "--set", "components=2", "--set", "pca_dim=10", "--eval-every", "0", "--quiet"]
    finished = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert finished.returncode == 0, finished.stderr
    for written in ("config.yaml", "model.safetensors", "checkpoints/step-000001.safetensors", "samples/step-000001.png"):
        assert (out / written).is_file(), written
    import json

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 1 and math.isfinite(rows[-1]["log_likelihood"]) and rows[-1]["bits_per_dim"] > 0
    grid = tmp_path / "sevens.png"
    sampled = subprocess.run(genlab_command() + ["sample", str(out), "--n", "8", "--label", "7", "--out", str(grid)],
                             capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert sampled.returncode == 0 and grid.is_file(), sampled.stderr
    run = genlab.load_run(out)
    assert run.step == 1 and run.model.conditional
    test = genlab.load_dataset("mnist-5k", subset=500).test_x[:20]
    from genlab.metrics.likelihood import model_likelihood

    report = model_likelihood(run.model, test.float() / 255, labels=None)
    assert report["exact"] and report["measure"] == "density" and math.isfinite(report["nll_nats"])
    held_out = run.model.validation_metrics(Batch(test.float() / 255, torch.zeros(20, dtype=torch.long)))
    assert held_out["log_likelihood"] == pytest.approx(-report["nll_nats"])


def test_autoencoder_samples_from_its_fitted_code_gaussian_lie_nearer_the_data_than_from_n01(mnist5k):
    from genlab.data.batches import Batcher, to_float

    torch.manual_seed(0)
    model = genlab.create_model("autoencoder", hidden_dims=[256], latent_dim=8, batch_size=64)
    model.setup_optimizers()
    batcher = Batcher(mnist5k.train_x, mnist5k.train_y, 64, seed=0)
    for step in range(300):
        values = model.train_step(batcher.batch(step), step)
    assert values["mse"] < 0.05
    test = to_float(mnist5k.test_x[:300])
    assert model.validation_metrics(Batch(test, mnist5k.test_y[:300]))["mse"] < 0.05
    real = to_float(mnist5k.train_x[:2000]).flatten(1)

    def distance_to_data(prior: str) -> float:
        model.config.prior = prior
        samples = model.sample(200, generator=torch.Generator().manual_seed(0)).flatten(1)
        return torch.cdist(samples, real).min(1).values.mean().item()

    # The running code statistics describe where the codes actually are; N(0, I) does not.
    assert model.code_covariance.diagonal().max() > 2, "codes of a plain autoencoder are not scaled to N(0, I)"
    assert distance_to_data("fitted-gaussian") < 0.9 * distance_to_data("normal")
