"""LSGAN's least-squares objectives, checked on scores whose losses and gradients are known by hand."""

import pytest
import torch

import genlab
from genlab.errors import GenlabError
from genlab.models.gan_losses import CrossEntropyLoss
from genlab.models.lsgan import LeastSquaresLoss


def test_least_squares_losses_on_known_scores():
    loss = LeastSquaresLoss()  # a = 0, b = 1, c = 1
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    # 1/2 mean((1-1)^2, (3-1)^2) + 1/2 mean((0-0)^2, (2-0)^2) = 1 + 1
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(2.0)
    # 1/2 mean((0-1)^2, (2-1)^2)
    assert loss.generator_loss(fake).item() == pytest.approx(0.5)
    assert loss.discriminator_loss(torch.ones(4), torch.zeros(4)).item() == 0.0  # D's optimum


def test_generator_gradient_grows_with_distance_where_the_minimax_one_vanishes():
    # A sample D rejects confidently (score -10): the least-squares gradient is (s - c) = -11 per item,
    # the minimax cross-entropy one is sigmoid(-10) ~ 4.5e-5 (the saturation LSGAN was made to avoid).
    scores = torch.tensor([-10.0], requires_grad=True)
    LeastSquaresLoss().generator_loss(scores).backward()
    assert scores.grad.item() == pytest.approx(-11.0)
    saturating = torch.tensor([-10.0], requires_grad=True)
    CrossEntropyLoss("minimax").generator_loss(saturating).backward()
    assert abs(saturating.grad.item()) < 1e-4


def test_lsgan_is_registered_and_refuses_equal_targets():
    assert "lsgan" in genlab.list_models()
    model = genlab.create_model("lsgan", data_shape=(1, 28, 28), recipe="paper")
    assert model.architecture == "conv" and model.has_latent and not model.has_encoder
    with pytest.raises(GenlabError, match="differ"):
        genlab.create_model("lsgan", data_shape=(1, 28, 28), fake_target=1.0, real_target=1.0)
