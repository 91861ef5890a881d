"""The VAE family's shared machinery and its MLP members.

`VAE` holds what every Gaussian-latent VAE here shares: the reparameterised ELBO, the decoder
likelihoods, dynamic binarisation, conditioning, `reconstruct` and `log_likelihood` (the IWAE
estimator of genlab.likelihood). Subclasses change only what differs:

- `vae`: Kingma & Welling 2014's MLP VAE;
- `beta-vae`: Higgins et al. 2017, the same model with the KL term weighted by β > 1;
- `iwae`: Burda et al. 2015, the same networks trained on the k-sample importance-weighted bound;
- `conv-vae` (conv_vae.py), `cvae` (cvae.py) and `pixelvae` (pixel_vae.py) swap the networks.

Reconstruction losses are decoder likelihoods, so every loss is a negative log-likelihood in nats:

| likelihood  | reconstruction term                      | log p(x) it gives                    |
|-------------|------------------------------------------|--------------------------------------|
| `bernoulli` | BCE (with logits)                        | probability of binary pixels         |
| `gaussian`  | L2: squared error / (2 σ²) + constant    | density of pixels, σ = output_scale  |
| `laplace`   | L1: absolute error / b + constant        | density of pixels, b = output_scale  |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.batches import Batch
from genlab.errors import GenlabError
from genlab.likelihood import (
    LikelihoodEstimate,
    check_binary,
    gaussian_log_density,
    importance_sampled_log_likelihood,
    kl_to_standard_normal,
    standard_normal_log_density,
)
from genlab.models.base import GenerativeModel
from genlab.models.nets import flat_size, mlp
from genlab.models.optim import adam
from genlab.models.registry import register
from genlab.models.vae_nets import (  # noqa: F401  (the options and shape check are also imported from here)
    ACTIVATIONS,
    ConvDecoder,
    ConvEncoder,
    ConvOptions,
    MLPOptions,
    check_conv_image_shape,
)


# --- configs: shared pieces, combined per model ----------------------------------------------
@dataclass
class VAEObjectiveOptions:
    """What every Gaussian-latent VAE here trains on: the weighted ELBO and the decoder likelihood."""

    latent_dim: int = 20
    likelihood: Literal["bernoulli", "gaussian", "laplace"] = "bernoulli"  # BCE, L2, L1 (see the module doc)
    # Fixed std (gaussian) or scale (laplace) of the decoder's pixel distribution: it sets how much
    # reconstruction weighs against the KL term, and keeps the ELBO a true bound in nats.
    output_scale: float = 0.1
    kl_weight: float = 1.0  # β of β-VAE
    reconstruction_weight: float = 1.0  # the "reconstruction factor" on log p(x|z)
    binarize: bool = False  # dynamic binarisation: resample pixels ~ Bernoulli(intensity) every batch
    lr: float = 1e-3
    batch_size: int = 128

    def validate_objective(self) -> None:
        if self.latent_dim < 1:
            raise GenlabError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if self.output_scale <= 0:
            raise GenlabError(f"output_scale must be positive, got {self.output_scale}")
        if self.kl_weight < 0 or self.reconstruction_weight <= 0:
            raise GenlabError("kl_weight must be >= 0 and reconstruction_weight > 0")
        if self.binarize and self.likelihood != "bernoulli":
            raise GenlabError("binarize=true needs likelihood=bernoulli (binary pixels); drop one of them")
        if self.lr <= 0 or self.batch_size < 1:
            raise GenlabError("lr and batch_size must be positive")

    def validate(self) -> None:
        self.validate_objective()


@dataclass
class VAEConfig(VAEObjectiveOptions, MLPOptions):
    """Kingma & Welling 2014's MNIST VAE (784-400-20), Bernoulli decoder, Adam(1e-3)."""

    def validate(self) -> None:
        self.validate_objective()
        self.validate_mlp()


@dataclass
class BetaVAEConfig(VAEConfig):
    """Higgins et al. 2017: β = 4 (`kl_weight`), 10 latents, the 1200-1200 MLP of their dSprites net."""

    hidden_dims: tuple[int, ...] = (1200, 1200)
    latent_dim: int = 10
    kl_weight: float = 4.0
    lr: float = 5e-4


@dataclass
class IWAEConfig(VAEConfig):
    """Burda et al. 2015's one-stochastic-layer MNIST model: 784-200-200-50 tanh, k = 5, batch 20."""

    hidden_dims: tuple[int, ...] = (200, 200)
    activation: Literal["relu", "tanh"] = "tanh"
    latent_dim: int = 50
    num_samples: int = 5  # k, importance samples per item in training
    batch_size: int = 20

    def validate(self) -> None:
        super().validate()
        if self.num_samples < 1:
            raise GenlabError(f"num_samples (k) must be at least 1, got {self.num_samples}")


# --- shared pieces of the model ---------------------------------------------------------------
def reconstruction_nll(logits: torch.Tensor, target: torch.Tensor, likelihood: str, scale: float,
                       linear_mean: bool = False) -> torch.Tensor:
    """-log p(x | z) per item, summed over all dimensions (nats).

    `logits` are pre-sigmoid means; with `linear_mean` a Gaussian or Laplace decoder's output is the
    mean itself (unbounded, so its gradient never vanishes in a saturated sigmoid).
    """
    logits, target = logits.flatten(1), target.flatten(1)
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
    mean = logits if linear_mean else torch.sigmoid(logits)
    dims = target.shape[1]
    if likelihood == "gaussian":
        return 0.5 * ((target - mean) / scale).pow(2).sum(1) + dims * (math.log(scale) + 0.5 * math.log(2 * math.pi))
    if likelihood == "laplace":
        return ((target - mean).abs() / scale).sum(1) + dims * math.log(2 * scale)
    raise ValueError(f"unknown likelihood {likelihood!r}")


def dynamic_binarize(x: torch.Tensor) -> torch.Tensor:
    """Pixels resampled as Bernoulli(intensity) from the global RNG (the trainer saves its state)."""
    return torch.bernoulli(x)


@register("vae")
class VAE(GenerativeModel):
    """MLP VAE: Gaussian encoder q(z|x), standard normal prior, Bernoulli/Gaussian/Laplace decoder."""

    config_class = VAEConfig
    tiny_config = {"hidden_dims": [32], "latent_dim": 4, "batch_size": 16}
    supported_data = ("image", "points")
    has_latent = True
    has_encoder = True
    has_likelihood = True  # the importance-weighted bound

    @property
    def needs_binary(self) -> bool:
        return self.config.likelihood == "bernoulli"
    architecture: str = "mlp"
    # (item, z) pairs the IWAE estimator scores in one pass: bounds its memory for any k.
    likelihood_pairs_per_pass = 8192

    def __init__(self, config, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        self.latent_dim = config.latent_dim
        self.encoder, self.decoder = self.build_networks()

    # --- networks (what subclasses change) -------------------------------------------------
    def condition_dim(self) -> int:
        """Size of the conditioning vector (a one-hot label for conditional models, else 0)."""
        return 0

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder): encoder input -> 2 * latent_dim numbers; decoder input -> logits."""
        config, extra = self.config, self.condition_dim()
        if self.architecture == "conv":
            check_conv_image_shape(self.registry_name, self.data_shape)
            channels, size = self.data_shape[0], self.data_shape[1]
            encoder = ConvEncoder(channels + extra, size, config.channels, config.fc_dim, 2 * config.latent_dim, config.batch_norm)
            decoder = ConvDecoder(config.latent_dim + extra, channels, size, config.channels, config.fc_dim, config.batch_norm)
            return encoder, decoder
        data_dim, activation = flat_size(self.data_shape), ACTIVATIONS[config.activation]
        encoder = mlp([data_dim + extra, *config.hidden_dims, 2 * config.latent_dim], activation, config.batch_norm)
        decoder = mlp([config.latent_dim + extra, *reversed(config.hidden_dims), data_dim], activation, config.batch_norm)
        return encoder, decoder

    def condition(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """The conditioning vector for `labels` (None for unconditional models)."""
        return None

    def encoder_input(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        condition = self.condition(labels)
        if self.architecture == "conv":
            if condition is None:
                return x
            planes = condition[:, :, None, None].expand(-1, -1, *x.shape[2:])  # one constant plane per class
            return torch.cat([x, planes], dim=1)
        flat = x.flatten(1)
        return flat if condition is None else torch.cat([flat, condition], dim=1)

    def decoder_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        condition = self.condition(labels)
        return z if condition is None else torch.cat([z, condition], dim=1)

    # --- the probabilistic model ----------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": adam(self.parameters(), lr=self.config.lr)}

    def posterior(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x), each (B, latent_dim)."""
        mean, log_var = self.network("encoder")(self.encoder_input(x, labels)).chunk(2, dim=1)
        return mean, log_var

    def encode_distribution(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Alias of `posterior` (mean and log-variance of q(z | x))."""
        return self.posterior(x, labels)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the standard normal prior, (N,)."""
        return standard_normal_log_density(z)

    def decoder_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-sigmoid decoder means, (B, *data_shape)."""
        return self.network("decoder")(self.decoder_input(z, labels)).view(z.shape[0], *self.data_shape)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x | z) per item in nats (a density for the Gaussian and Laplace decoders), (B,)."""
        return -reconstruction_nll(self.decoder_logits(z, labels), x, self.config.likelihood, self.config.output_scale)

    def likelihood_measure(self, x: torch.Tensor) -> Literal["probability", "density"]:
        """What log p(x) is for this data; Bernoulli decoders refuse grey pixels."""
        if self.config.likelihood == "bernoulli":
            check_binary(x, self.registry_name)
            return "probability"
        return "density"

    def training_target(self, x: torch.Tensor) -> torch.Tensor:
        """The images the objective scores: dynamically binarised when `binarize` is on."""
        return dynamic_binarize(x) if self.config.binarize else x

    def labels_of(self, batch: Batch) -> torch.Tensor | None:
        return batch.y if self.conditional else None

    # --- objectives -----------------------------------------------------------------------
    def loss_terms(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-item reconstruction NLL (one reparameterised z) and analytic KL(q(z|x) || N(0, I)), nats."""
        mean, log_var = self.posterior(x, labels)
        z = mean + self.batch_randn(*mean.shape, device=mean.device) * torch.exp(0.5 * log_var)  # reparameterisation
        reconstruction = -self.log_px_given_z(x, z, labels)
        return {"reconstruction": reconstruction, "kl": kl_to_standard_normal(mean, log_var)}

    def objective(self, x: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss to minimise and what to log (detached 0-d tensors, read by the trainer when it logs):
        reconstruction_weight · NLL + kl_weight · KL."""
        terms = self.loss_terms(x, labels)
        reconstruction, kl = terms["reconstruction"].mean(), terms["kl"].mean()
        loss = self.config.reconstruction_weight * reconstruction + self.config.kl_weight * kl
        reconstruction, kl = reconstruction.detach(), kl.detach()
        return loss, {"loss": loss.detach(), "reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        loss, logs = self.objective(self.training_target(batch.x), self.labels_of(batch))
        self.update("adam", loss)
        return logs

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """The held-out ELBO (nats per item) with its reconstruction and KL terms."""
        with self.inference():
            terms = self.loss_terms(self.training_target(batch.x), self.labels_of(batch))
        elbo = -(terms["reconstruction"] + terms["kl"]).mean().item()
        return {"elbo": elbo, "reconstruction": terms["reconstruction"].mean().item(), "kl": terms["kl"].mean().item()}

    # --- latents, generation, reconstruction, likelihood ----------------------------------
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean of z for each input."""
        return self.posterior(x, labels)[0]

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's mean image for each code, in [0, 1]."""
        return torch.sigmoid(self.decoder_logits(z, labels))

    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        with self.inference():
            labels = self.sample_labels(n, labels, generator)
            return self.decode(self.sample_latent(n, generator), labels)

    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(x)): the decoder's image for each input's posterior mean, in [0, 1]."""
        with self.inference():
            labels = self.check_labels(x.shape[0], labels)
            return self.decode(self.encode(x.to(self.device), labels), labels)

    def log_likelihood(self, x: torch.Tensor, k: int = 1000, labels: torch.Tensor | None = None,
                       generator: torch.Generator | None = None, pairs_per_pass: int | None = None) -> LikelihoodEstimate:
        """Importance-sampled estimate of log p(x) (the IWAE-k bound) and the ELBO, per image and per dim.

        A lower bound on log p(x) in expectation that tightens as k grows; scored in passes of at most
        `pairs_per_pass` (x, z) pairs, so k = 1000 fits in memory. With a Bernoulli decoder `x` must
        be binary and the result is a log-probability; with a Gaussian or Laplace decoder it is the
        log-density of pixels in [0, 1] (see `LikelihoodEstimate`).
        """
        labels = self.check_labels(x.shape[0], labels)
        if self.conditional and labels is None:
            raise GenlabError(f"{self.registry_name} is conditional: pass the images' labels to log_likelihood")
        return importance_sampled_log_likelihood(self, x, k, labels=labels, generator=generator, pairs_per_pass=pairs_per_pass)


@register("beta-vae")
class BetaVAE(VAE):
    """Higgins et al. 2017's β-VAE: the VAE objective with the KL term weighted by β = kl_weight > 1."""

    config_class = BetaVAEConfig
    tiny_config = {"hidden_dims": [32], "latent_dim": 4, "batch_size": 16}


@register("iwae")
class IWAE(VAE):
    """Burda et al. 2015's importance weighted autoencoder: trains on the k-sample IWAE bound."""

    config_class = IWAEConfig
    tiny_config = {"hidden_dims": [32], "latent_dim": 4, "batch_size": 16, "num_samples": 3}

    def iwae_bound(self, x: torch.Tensor, labels: torch.Tensor | None, num_samples: int,
                   weighted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-item k-sample bound and the mean log-weight (the ELBO estimate), both (B,), reparameterised."""
        mean, log_var = self.posterior(x, labels)
        count = x.shape[0]
        z = mean + torch.exp(0.5 * log_var) * torch.randn(num_samples, *mean.shape, device=mean.device)  # (k, B, d)
        flat_z = z.reshape(num_samples * count, -1)
        repeated_x = x.unsqueeze(0).expand(num_samples, *x.shape).reshape(num_samples * count, *x.shape[1:])
        repeated_labels = None if labels is None else labels.repeat(num_samples)
        log_px = self.log_px_given_z(repeated_x, flat_z, repeated_labels).view(num_samples, count)
        log_prior_ratio = self.log_prior(flat_z).view(num_samples, count) - gaussian_log_density(z, mean, log_var)
        log_weights = log_px + log_prior_ratio
        if weighted:
            log_weights_for_bound = self.config.reconstruction_weight * log_px + self.config.kl_weight * log_prior_ratio
        else:
            log_weights_for_bound = log_weights
        bound = torch.logsumexp(log_weights_for_bound, dim=0) - math.log(num_samples)
        return bound, log_weights.mean(dim=0)

    def objective(self, x: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        bound, elbo = self.iwae_bound(x, labels, self.config.num_samples)
        loss = -bound.mean()
        return loss, {"loss": loss.detach(), f"iwae_{self.config.num_samples}": -loss.detach(), "elbo": elbo.detach().mean()}

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        metrics = super().validation_metrics(batch)
        with self.inference():
            bound, _ = self.iwae_bound(self.training_target(batch.x), self.labels_of(batch), self.config.num_samples,
                                       weighted=False)
        metrics[f"iwae_{self.config.num_samples}"] = bound.mean().item()
        return metrics
