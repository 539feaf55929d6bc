"""TopK SAE (Gao et al. 2024, "Scaling and evaluating sparse autoencoders", arXiv:2406.04093).

pre = ReLU(W_enc (x - b_dec) + b_enc); keep the k largest per row; x_hat = W_dec^T a + b_dec
with unit-norm decoder rows. Loss: FVU, plus 1/8 * FVU of the top-4k reconstruction with
multi-TopK (sec. A.4), plus alpha * AuxK loss on dead latents (sec. A.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saescope.errors import ConfigError
from saescope.sae import kernels
from saescope.sae.archs.base import (
    Architecture,
    StepContext,
    StepOutput,
    auxk_loss,
    fired_mask,
    recon_error,
    register,
)
from saescope.sae.outputs import EncoderOutput


@dataclass
class TopKOptions:
    """Options of the topk architecture."""

    multi_topk: bool = False
    """Add 1/8 * FVU of the reconstruction from the top 4k latents (Gao et al. A.4)."""
    auxk_alpha: float = 1 / 32
    """Weight of the AuxK loss on dead latents (0 disables AuxK)."""
    dead_samples: int | None = None
    """A latent is dead (and joins AuxK) after this many training samples without firing;
    None: the run's dead window (one epoch of training rows, at most 10M samples)."""

    def __post_init__(self) -> None:
        if self.auxk_alpha < 0:
            raise ConfigError(f"auxk_alpha must be >= 0, got {self.auxk_alpha}")
        if self.dead_samples is not None and self.dead_samples < 1:
            raise ConfigError(f"dead_samples must be >= 1, got {self.dead_samples}")


@register
class TopK(Architecture):
    """Keep the k largest ReLU pre-activations of each row."""

    name = "topk"
    Options = TopKOptions

    def encode(self, sae, x: torch.Tensor) -> EncoderOutput:
        vals, idx = kernels.topk_encode_dense(x - sae.b_dec, sae.encoder.weight,
                                              sae.encoder.bias, self.cfg.k)
        return EncoderOutput(vals, idx)

    def training_step(self, sae, x: torch.Tensor, ctx: StepContext) -> StepOutput:
        k = self.cfg.k
        x_c = x - sae.b_dec
        k_enc = k
        if self.opts.multi_topk:
            k_enc = min(4 * k, sae.num_latents)
        encode = kernels.topk_encode_sparse if ctx.fast else kernels.topk_encode_dense
        decode = kernels.decode_sparse if ctx.fast else kernels.decode_dense
        vals, idx = encode(x_c, sae.encoder.weight, sae.encoder.bias, k_enc)
        if k_enc != k:  # the top k of the top 4k
            vals, order = vals.sort(dim=-1, descending=True)
            idx = idx.gather(-1, order)
            top_vals, top_idx = vals[:, :k], idx[:, :k]
        else:
            top_vals, top_idx = vals, idx
        x_hat = decode(top_vals, top_idx, sae.W_dec) + sae.b_dec
        fvu = recon_error(x, x_hat) / ctx.total_variance
        loss = fvu
        extras: dict[str, torch.Tensor] = {}
        if k_enc != k:
            x_hat_multi = decode(vals, idx, sae.W_dec) + sae.b_dec
            multi_fvu = recon_error(x, x_hat_multi) / ctx.total_variance
            loss = loss + multi_fvu / 8
            extras["multi_topk_fvu"] = multi_fvu.detach()
        if self.opts.auxk_alpha > 0:
            aux = auxk_loss(sae, x_c, x - x_hat, ctx.dead_mask, ctx.total_variance)
            if aux is not None:
                loss = loss + self.opts.auxk_alpha * aux
                extras["auxk_loss"] = aux.detach()
        l0 = (top_vals > 0).sum().float()
        return StepOutput(loss, fvu.detach(), l0, fired_mask(top_idx, top_vals, sae.num_latents),
                          extras)
