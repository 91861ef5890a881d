"""`vq-vae`: the vector-quantised VAE of van den Oord et al. 2017, with a prior over its codes.

The encoder maps an image to a grid of vectors (two stride-2 convs: 28x28 -> 7x7, 32 -> 8, 64 -> 16);
each is replaced by its nearest codebook vector (`num_embeddings` codes of `embedding_dim`), and the
decoder reconstructs from the quantised grid. The loss is

    -log p(x | z_q) + ||sg[z_e] - e||^2 + β ||z_e - sg[e]||^2        (β = commitment_cost = 0.25)

with the straight-through gradient copying the decoder's gradient from z_q to z_e. The codebook is
learnt by exponential moving averages (`codebook_update="ema"`, the default: the paper's appendix,
which trains faster and more stably) or by that loss (`"loss"`, the paper's main text). Two standard guards against codebook collapse (all inputs mapped
to one code) go beyond the paper: the codebook starts at the first training batch's encoder outputs,
and codes unused for `dead_code_patience` steps restart at random encoder outputs (Dhariwal et al.
2020); `dead_code_patience=0` turns restarts off.

Sampling draws a grid of codes from a prior over codes and decodes it. `prior` says which:

- `"pixelcnn"` (default, as in the paper): a gated PixelCNN over the code grid, trained alongside
  the autoencoder on its (detached) codes, sampled position by position;
- `"categorical"`: independent per-position categorical distributions, the moving average of the
  code frequencies seen in training (a floor of 1e-3 of the uniform mass keeps every code possible);
- `"uniform"`: every code equally likely at every position (the paper's training-time prior).

`latent_dim` is the size of the flattened quantised grid, embedding_dim x h x w: `encode(x)` returns
the codebook vectors of x's codes flattened, and `decode(z)` decodes such vectors (any real vectors
of that size, so latent interpolations work in embedding space). `encode_indices(x)` gives the codes.

`log_likelihood(x)` is the ELBO log p(x | z_q(x)) + log p(z_q(x)): the encoder is deterministic
(a point-mass posterior with zero entropy), so this is a true lower bound on log p(x) of the model
p(codes) p(x | codes) and the IWAE bound equals it for every k.
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
from genlab.likelihood import LikelihoodEstimate, check_binary, summarise
from genlab.models.base import GenerativeModel
from genlab.models.optim import adam
from genlab.models.registry import register
from genlab.models.vae import reconstruction_nll
from genlab.models.vae_nets import GatedPixelCNN, autoregressive_sample, inverse_cdf_draw

PRIOR_FLOOR = 1e-3  # share of uniform mass mixed into the categorical prior


@dataclass
class VQVAEConfig:
    """The paper's net (two 4x4 stride-2 convs, two residual blocks, 256 hidden units), K = 512 codes of
    64 dims, β = 0.25, EMA codebook (decay 0.99), Adam(2e-4), batch 128; a Gaussian (L2) decoder with
    σ = output_scale whose output is the mean."""

    hidden_channels: int = 256
    residual_blocks: int = 2
    num_embeddings: int = 512
    embedding_dim: int = 64
    commitment_cost: float = 0.25
    codebook_update: Literal["loss", "ema"] = "ema"
    ema_decay: float = 0.99
    # Codes unused for this many training steps are restarted at random encoder outputs of the batch
    # (Dhariwal et al. 2020's fix for codebook collapse); 0 turns restarts off (the paper's plain VQ).
    dead_code_patience: int = 20
    likelihood: Literal["bernoulli", "gaussian", "laplace"] = "gaussian"
    output_scale: float = 0.1
    prior: Literal["pixelcnn", "categorical", "uniform"] = "pixelcnn"
    prior_channels: int = 64
    prior_layers: int = 5
    prior_decay: float = 0.99  # moving average of the code frequencies (categorical prior)
    lr: float = 2e-4
    batch_size: int = 128

    def validate(self) -> None:
        if min(self.hidden_channels, self.num_embeddings, self.embedding_dim, self.prior_channels) < 2:
            raise GenlabError("hidden_channels, num_embeddings, embedding_dim and prior_channels must be at least 2")
        if self.residual_blocks < 0 or self.prior_layers < 0 or self.dead_code_patience < 0:
            raise GenlabError("residual_blocks, prior_layers and dead_code_patience must be >= 0")
        if self.commitment_cost < 0 or self.output_scale <= 0 or self.lr <= 0 or self.batch_size < 1:
            raise GenlabError("commitment_cost must be >= 0; output_scale, lr and batch_size positive")
        for key in ("ema_decay", "prior_decay"):
            if not 0 < getattr(self, key) < 1:
                raise GenlabError(f"{key} must be between 0 and 1, got {getattr(self, key)}")


class ResidualStack(nn.Module):
    """The paper's residual blocks (ReLU, 3x3 conv, ReLU, 1x1 conv, added to the input), then a ReLU."""

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(), nn.Conv2d(channels, channels, 1))
            for _ in range(blocks)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = h + block(h)
        return F.relu(h)


def vq_encoder(in_channels: int, hidden: int, blocks: int, embedding_dim: int) -> nn.Sequential:
    """(B, C, H, W) -> (B, embedding_dim, H/4, W/4)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden // 2, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(hidden // 2, hidden, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 3, 1, 1), ResidualStack(hidden, blocks),
        nn.Conv2d(hidden, embedding_dim, 1),
    )


def vq_decoder(out_channels: int, hidden: int, blocks: int, embedding_dim: int) -> nn.Sequential:
    """(B, embedding_dim, h, w) -> (B, C, 4h, 4w) logits."""
    return nn.Sequential(
        nn.Conv2d(embedding_dim, hidden, 3, 1, 1), ResidualStack(hidden, blocks),
        nn.ConvTranspose2d(hidden, hidden // 2, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(hidden // 2, out_channels, 4, 2, 1),
    )


class VectorQuantizer(nn.Module):
    """Nearest-codebook-vector quantisation with the straight-through gradient.

    With `update="loss"` the codebook is a parameter moved by ||sg[z_e] - e||^2; with `"ema"` it is a
    buffer set to moving averages of the encoder outputs assigned to each code (Laplace-smoothed counts).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, update: str, decay: float, dead_code_patience: int = 0) -> None:
        super().__init__()
        self.update, self.decay, self.dead_code_patience = update, decay, dead_code_patience
        initial = torch.empty(num_embeddings, embedding_dim).uniform_(-1 / num_embeddings, 1 / num_embeddings)
        if update == "loss":
            self.codebook = nn.Parameter(initial)
        else:
            self.register_buffer("codebook", initial)
            self.register_buffer("cluster_size", torch.zeros(num_embeddings))
            self.register_buffer("embedding_sum", initial.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("steps_unused", torch.zeros(num_embeddings, dtype=torch.long))

    @property
    def num_embeddings(self) -> int:
        return self.codebook.shape[0]

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook vector for each row of `flat` (N, D)."""
        distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)
        return distances.argmin(dim=1)

    @torch.no_grad()
    def initialize_from(self, flat: torch.Tensor) -> None:
        """Data-dependent start: codes set to randomly chosen encoder outputs (fewer dead codes)."""
        choice = torch.randint(flat.shape[0], (self.num_embeddings,), device=flat.device)
        self.codebook.data.copy_(flat[choice])
        if self.update == "ema":
            self.embedding_sum.copy_(flat[choice])
            self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def restart_dead_codes(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        """Move codes unused for `dead_code_patience` steps onto random encoder outputs of this batch."""
        used = torch.bincount(indices, minlength=self.num_embeddings) > 0
        self.steps_unused.add_(1).masked_fill_(used, 0)
        dead = self.steps_unused >= self.dead_code_patience
        if bool(dead.any()):
            replacements = flat[torch.randint(flat.shape[0], (int(dead.sum()),), device=flat.device)]
            self.codebook.data[dead] = replacements
            if self.update == "ema":
                self.embedding_sum[dead] = replacements
                self.cluster_size[dead] = 1.0
            self.steps_unused[dead] = 0

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        one_hot = F.one_hot(indices, self.num_embeddings).type(flat.dtype)  # (N, K)
        self.cluster_size.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        self.embedding_sum.mul_(self.decay).add_(one_hot.t() @ flat, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (total + self.num_embeddings * 1e-5) * total
        self.codebook.copy_(self.embedding_sum / smoothed.unsqueeze(1))

    def forward(self, z_e: torch.Tensor) -> dict[str, torch.Tensor]:
        """z_e (B, D, h, w) -> straight-through quantised grid, codes (B, h, w) and per-item VQ losses."""
        count, dims, height, width = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, dims)  # (B*h*w, D)
        if self.training and not bool(self.initialized):
            self.initialize_from(flat.detach())
        indices = self.nearest(flat.detach())
        quantized = self.codebook[indices].view(count, height, width, dims).permute(0, 3, 1, 2)
        if self.training and self.update == "ema":
            self.ema_update(flat.detach(), indices)
        if self.training and self.dead_code_patience:
            self.restart_dead_codes(flat.detach(), indices)
        codebook_loss = (quantized - z_e.detach()).pow(2).flatten(1).sum(1)
        commitment = (z_e - quantized.detach()).pow(2).flatten(1).sum(1)
        straight_through = z_e + (quantized - z_e).detach()
        return {"quantized": straight_through, "indices": indices.view(count, height, width),
                "codebook_loss": codebook_loss, "commitment": commitment}


@register("vq-vae")
class VQVAE(GenerativeModel):
    """VQ-VAE (van den Oord et al. 2017): codebook, commitment loss, straight-through; PixelCNN/categorical/uniform prior."""

    config_class = VQVAEConfig
    tiny_config = {"hidden_channels": 8, "residual_blocks": 1, "num_embeddings": 16, "embedding_dim": 4,
                   "prior_channels": 8, "prior_layers": 1, "batch_size": 16}
    supported_data = ("image",)
    has_latent = True  # the quantised code grid, flattened: latent_dim = embedding_dim x grid cells
    has_encoder = True
    has_likelihood = True  # the ELBO, a bound

    @property
    def needs_binary(self) -> bool:
        return self.config.likelihood == "bernoulli"

    def __init__(self, config: VQVAEConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> None:
        super().__init__(config, data_shape, num_classes)
        if len(data_shape) != 3 or data_shape[1] % 4 or data_shape[2] % 4:
            raise GenlabError(f"vq-vae needs images whose sides are multiples of 4 (28, 32, 64), got {data_shape}")
        channels, height, width = data_shape
        self.grid = (height // 4, width // 4)
        self.latent_dim = config.embedding_dim * self.grid[0] * self.grid[1]
        self.encoder = vq_encoder(channels, config.hidden_channels, config.residual_blocks, config.embedding_dim)
        self.decoder = vq_decoder(channels, config.hidden_channels, config.residual_blocks, config.embedding_dim)
        self.quantizer = VectorQuantizer(config.num_embeddings, config.embedding_dim, config.codebook_update, config.ema_decay,
                                         config.dead_code_patience)
        positions = self.grid[0] * self.grid[1]
        if config.prior == "pixelcnn":
            self.prior_embedding = nn.Embedding(config.num_embeddings, config.prior_channels)
            self.prior_net = GatedPixelCNN(config.prior_channels, config.num_embeddings, config.prior_channels,
                                           config.prior_layers)
        elif config.prior == "categorical":
            self.register_buffer("code_frequencies", torch.full((positions, config.num_embeddings), 1 / config.num_embeddings))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": adam(self.parameters(), lr=self.config.lr)}

    # --- the prior over code grids ---------------------------------------------------------------
    def prior_logits(self, indices: torch.Tensor) -> torch.Tensor:
        """PixelCNN prior logits of every position given the codes before it: (B, K, h, w)."""
        return self.prior_net(self.prior_embedding(indices.long()).permute(0, 3, 1, 2))

    def categorical_log_probs(self) -> torch.Tensor:
        """Per-position log-probabilities of the categorical prior, (h*w, K)."""
        uniform = 1 / self.config.num_embeddings
        return torch.log((1 - PRIOR_FLOOR) * self.code_frequencies + PRIOR_FLOOR * uniform)

    def log_prior(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(codes) per item under the configured prior, (B,)."""
        count, positions = indices.shape[0], self.grid[0] * self.grid[1]
        if self.config.prior == "pixelcnn":
            return -F.cross_entropy(self.prior_logits(indices), indices.long(), reduction="none").flatten(1).sum(1)
        if self.config.prior == "categorical":
            log_probs = self.categorical_log_probs()  # (P, K)
            flat = indices.reshape(count, positions)
            return log_probs.gather(1, flat.t()).t().sum(1)
        return torch.full((count,), -positions * math.log(self.config.num_embeddings), device=indices.device)

    @torch.no_grad()
    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A grid of codes per sample drawn from the prior, (n, h, w) long."""
        height, width = self.grid
        device = generator.device if generator is not None else "cpu"
        uniforms = torch.rand(n, height, width, generator=generator, device=device).to(self.device)
        if self.config.prior == "pixelcnn":
            codes = autoregressive_sample(
                self.prior_net, (n, height, width), lambda logits, u: inverse_cdf_draw(logits, u).float(),
                lambda drawn: self.prior_embedding(drawn.long()).permute(0, 3, 1, 2), None, uniforms)
            return codes.long()
        if self.config.prior == "categorical":
            logits = self.categorical_log_probs().unsqueeze(0).expand(n, -1, -1).reshape(n * height * width, -1)
            return inverse_cdf_draw(logits, uniforms.reshape(-1)).view(n, height, width)
        return (uniforms * self.config.num_embeddings).long().clamp_(max=self.config.num_embeddings - 1)

    # --- the autoencoder -------------------------------------------------------------------------
    def encode_indices(self, x: torch.Tensor) -> torch.Tensor:
        """The code grid of each image, (B, h, w) long."""
        z_e = self.encoder(x)
        return self.quantizer.nearest(z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])).view(x.shape[0], *self.grid)

    def embed_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Codebook vectors of a code grid, flattened to (B, latent_dim)."""
        return self.quantizer.codebook[indices].permute(0, 3, 1, 2).reshape(indices.shape[0], -1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The quantised latent grid of each image, flattened: (B, embedding_dim * h * w)."""
        return self.embed_codes(self.encode_indices(x))

    def decoder_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.view(z.shape[0], self.config.embedding_dim, *self.grid))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's mean image for flattened latent grids, in [0, 1] (clipped for Gaussian/Laplace)."""
        output = self.decoder_logits(z)
        return torch.sigmoid(output) if self.config.likelihood == "bernoulli" else output.clamp(0, 1)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes drawn from the prior, as flattened codebook vectors (n, latent_dim)."""
        return self.embed_codes(self.sample_codes(n, generator))

    def sample(self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        self.check_labels(n, labels)
        with self.inference():
            return self.decode(self.sample_latent(n, generator))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(x)): the image decoded from x's quantised codes, in [0, 1]."""
        return self.decode(self.encode(x.to(self.device)))

    # --- training ------------------------------------------------------------------------------
    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-item reconstruction NLL, VQ losses and prior NLL of the codes (nats), and the codes."""
        quantized = self.quantizer(self.encoder(x))
        # Gaussian/Laplace: the decoder outputs the mean itself, as the paper's MSE reconstruction does
        # (a sigmoid mean saturates early in VQ training, where the codes still move, and never recovers).
        reconstruction = reconstruction_nll(self.decoder(quantized["quantized"]), x, self.config.likelihood,
                                            self.config.output_scale, linear_mean=True)
        prior_nll = -self.log_prior(quantized["indices"].detach())  # the prior never moves the encoder
        return {"reconstruction": reconstruction, "prior_nll": prior_nll, **quantized}

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        terms = self.loss_terms(batch.x)
        vq_loss = self.config.commitment_cost * terms["commitment"]
        if self.config.codebook_update == "loss":
            vq_loss = vq_loss + terms["codebook_loss"]
        loss = (terms["reconstruction"] + vq_loss + terms["prior_nll"]).mean()
        self.update("adam", loss)
        indices = terms["indices"]
        if self.config.prior == "categorical":
            with torch.no_grad():
                positions = indices.reshape(indices.shape[0], -1)  # (B, P)
                frequencies = F.one_hot(positions, self.config.num_embeddings).float().mean(0)  # (P, K)
                self.code_frequencies.mul_(self.config.prior_decay).add_(frequencies, alpha=1 - self.config.prior_decay)
        usage = torch.bincount(indices.flatten(), minlength=self.config.num_embeddings).float()
        usage = usage / usage.sum()
        perplexity = torch.exp(-(usage * torch.log(usage.clamp_min(1e-12))).sum())
        return {"loss": loss.detach(), "reconstruction": terms["reconstruction"].detach().mean(),
                "commitment": terms["commitment"].detach().mean(), "codebook": terms["codebook_loss"].detach().mean(),
                "prior_nll": terms["prior_nll"].detach().mean(), "perplexity": perplexity.detach()}

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """Held-out reconstruction NLL, commitment, prior NLL and the ELBO (nats per item)."""
        with self.inference():
            terms = self.loss_terms(batch.x)
        elbo = -(terms["reconstruction"] + terms["prior_nll"]).mean().item()
        return {"elbo": elbo, "reconstruction": terms["reconstruction"].mean().item(),
                "commitment": terms["commitment"].mean().item(), "prior_nll": terms["prior_nll"].mean().item()}

    # --- likelihood ----------------------------------------------------------------------------
    def likelihood_measure(self, x: torch.Tensor) -> Literal["probability", "density"]:
        if self.config.likelihood == "bernoulli":
            check_binary(x, self.registry_name)
            return "probability"
        return "density"

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int = 1, labels: torch.Tensor | None = None,
                       generator: torch.Generator | None = None, pairs_per_pass: int | None = None) -> LikelihoodEstimate:
        """The ELBO log p(x | z_q) + log p(z_q) per image: a lower bound on log p(x) that the IWAE bound
        equals for every k, because the encoder is deterministic (so `k` changes nothing)."""
        measure = self.likelihood_measure(x)
        per_item = []
        with self.inference():
            for start in range(0, x.shape[0], pairs_per_pass or 512):
                terms = self.loss_terms(x[start : start + (pairs_per_pass or 512)].to(self.device))
                per_item.append(-(terms["reconstruction"] + terms["prior_nll"]))
        values = torch.cat(per_item)
        return summarise(values, values, dims=x[0].numel(), num_samples=1, measure=measure, estimator="elbo-point-mass")
