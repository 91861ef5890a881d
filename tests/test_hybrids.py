"""The VAE-GAN hybrids train on real digits: vae-gan reconstructs more sharply than a conv-vae of the same
size and budget, and aae's codes move toward its prior where a plain autoencoder's do not."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from genlab.data.batches import Batch, Batcher, to_float
from genlab.errors import GenlabError
from genlab.metrics.sharpness import laplacian_variance

STEPS = 120


def trained(name: str, dataset, steps: int = STEPS, **config):
    """`name` trained `steps` steps on `dataset` from seed 0; every logged value must stay finite."""
    torch.manual_seed(0)
    model = genlab.create_model(name, data_shape=dataset.shape, num_classes=dataset.num_classes, **config)
    model.setup_optimizers()
    batcher = Batcher(dataset.train_x, dataset.train_y, config["batch_size"], seed=0)
    for step in range(steps):
        values = model.train_step(batcher.batch(step), step)
        assert all(math.isfinite(value) for value in values.values()), f"{name} step {step}: {values}"
    assert all(torch.isfinite(tensor).all() for tensor in model.state_dict().values() if tensor.is_floating_point())
    return model


CONV_NET = {"channels": [8, 8, 16, 16], "fc_dim": 64, "latent_dim": 8, "batch_size": 32}


def test_vae_gan_reconstructions_are_sharper_than_a_conv_vae_of_the_same_size(mnist5k):
    # 240 steps: enough for the reconstructions to become faithful with these small networks.
    vae_gan = trained("vae-gan", mnist5k, steps=240, discriminator_features=16, **CONV_NET)
    vae = trained("conv-vae", mnist5k, steps=240, **CONV_NET)
    test = to_float(mnist5k.test_x[:200])
    sharpness = {model.registry_name: laplacian_variance(model.reconstruct(test)).mean().item() for model in (vae_gan, vae)}
    # Same encoder/decoder networks and steps; only the objective differs (feature-space + GAN vs pixel ELBO).
    assert sharpness["vae-gan"] > 1.5 * sharpness["conv-vae"], sharpness
    # Sharp *and* faithful: the reconstructions are closer to their inputs than the mean image is.
    error = (vae_gan.reconstruct(test) - test).pow(2).mean().item()
    assert error < (test.mean(0, keepdim=True) - test).pow(2).mean().item(), error
    samples = vae_gan.sample(8, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (8, 1, 28, 28) and torch.equal(samples, vae_gan.sample(8, generator=torch.Generator().manual_seed(0)))
    held_out = vae_gan.validation_metrics(Batch(test, mnist5k.test_y[:200]))
    assert all(math.isfinite(value) for value in held_out.values())


MLP_NET = {"hidden_dims": [256], "latent_dim": 8, "batch_size": 64}


def distance_from_prior(codes: torch.Tensor) -> float:
    """How far the codes' per-dimension means and stds are from N(0, I)'s 0 and 1."""
    return (codes.mean(0).abs().mean() + (codes.std(0) - 1).abs().mean()).item()


def test_aae_matches_its_codes_to_the_prior_better_than_a_plain_autoencoder(mnist5k):
    aae = trained("aae", mnist5k, steps=200, discriminator_hidden=[128], **MLP_NET)
    autoencoder = trained("autoencoder", mnist5k, steps=200, **MLP_NET)
    test = to_float(mnist5k.test_x[:500])
    with torch.no_grad():
        distances = {model.registry_name: distance_from_prior(model.encode(test)) for model in (aae, autoencoder)}
    assert distances["aae"] < 0.7 * distances["autoencoder"], distances
    reconstruction_error = (aae.reconstruct(test) - test).pow(2).mean().item()
    assert reconstruction_error < 0.06, reconstruction_error  # still an autoencoder (the mean image scores ~0.067)


def test_supervised_aae_draws_the_class_it_is_given(mnist5k):
    # A 2-d style code cannot hold the digit's identity, so the decoder must take it from the label.
    model = trained("aae", mnist5k, steps=300, conditional=True, discriminator_hidden=[64],
                    **{**MLP_NET, "latent_dim": 2})
    assert model.conditional
    test, test_labels = to_float(mnist5k.test_x[:300]), mnist5k.test_y[:300]
    wrong_labels = (test_labels + 1) % 10
    with torch.no_grad():
        codes = model.encode(test)
        right = (model.decode(codes, test_labels) - test).pow(2).mean().item()
        wrong = (model.decode(codes, wrong_labels) - test).pow(2).mean().item()
    # The decoder relies on the label: the wrong digit's label reconstructs clearly worse.
    assert wrong > 1.2 * right, (right, wrong)
    labels = torch.arange(10)
    samples = model.sample(10, labels=labels, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (10, 1, 28, 28)
    with pytest.raises(GenlabError, match="2\\+ classes"):
        genlab.create_model("aae", data_shape=(1, 28, 28), num_classes=0, conditional=True)
