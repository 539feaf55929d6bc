"""ReLU SAE with an L1 penalty weighted by decoder norms.

a = ReLU(W_enc (x - b_dec) + b_enc), x_hat = f(W_dec^T a + b_dec), loss = FVU +
lambda(t) * sum_i a_i ||W_dec,i|| / sqrt(d_in), averaged over rows (the decoder-norm-weighted
L1 of Conerly et al. 2024, "Training Sparse Autoencoders" (Anthropic circuits update, April
2024), which leaves decoder norms free; dividing by sqrt(d_in), the mean input norm after
scaling, makes lambda unit-free). lambda(t) is 0 until `l1_start_fraction` of the run, then
rises linearly to `l1_coef` over `l1_warmup_fraction` (the capstone switched L1 on at epoch 4;
here that is a schedule). f is identity (default), tanh or sigmoid, the last two for parity with
the capstone only: sigmoid cannot produce negative coordinates of signed embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from saescope.errors import ConfigError
from saescope.sae.archs.base import (
    Architecture,
    StepContext,
    StepOutput,
    at_least_fp32,
    dense_decode,
    pack_dense,
    recon_error,
    register,
)
from saescope.sae.outputs import EncoderOutput

_OUTPUTS = {"identity": lambda y: y, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


@dataclass
class ReLUOptions:
    """Options of the relu architecture."""

    l1_coef: float = 0.2
    """Final weight lambda of the decoder-norm-weighted L1 penalty."""
    l1_start_fraction: float = 0.0
    """Fraction of the run trained without the penalty."""
    l1_warmup_fraction: float = 0.05
    """Fraction of the run over which lambda rises linearly from 0 to l1_coef."""
    decoder_activation: str = "identity"
    """Output activation of the decoder: identity | tanh | sigmoid."""

    def __post_init__(self) -> None:
        if self.l1_coef < 0:
            raise ConfigError(f"l1_coef must be >= 0, got {self.l1_coef}")
        if not (0 <= self.l1_start_fraction <= 1 and 0 <= self.l1_warmup_fraction <= 1):
            raise ConfigError("l1_start_fraction and l1_warmup_fraction must be in [0, 1]")
        if self.decoder_activation not in _OUTPUTS:
            raise ConfigError(
                f"decoder_activation must be identity, tanh or sigmoid, got {self.decoder_activation!r}"
            )


@register
class ReLUSAE(Architecture):
    """Dense ReLU codes made sparse by an L1 penalty."""

    name = "relu"
    Options = ReLUOptions
    early_stopping = False  # the penalty ramps over the run's length
    sparsity_option = "l1_coef"
    sparsity_range = (1e-3, 10.0)
    normalize_decoder_default = False

    def supports_input_scaling(self) -> bool:
        # A non-linear output cannot absorb the 1/s of the reconstruction.
        return self.opts.decoder_activation == "identity"

    def output(self, y: torch.Tensor) -> torch.Tensor:
        return _OUTPUTS[self.opts.decoder_activation](y)

    def encode(self, sae, x: torch.Tensor) -> EncoderOutput:
        return pack_dense(sae.pre_acts(x))

    def l1_weight(self, step: int, total: int) -> float:
        """lambda(t): 0 before the start, linear warm-up, then `l1_coef`."""
        start = self.opts.l1_start_fraction * total
        ramp = self.opts.l1_warmup_fraction * total
        if step < start:
            return 0.0
        if ramp <= 0:
            return self.opts.l1_coef
        return self.opts.l1_coef * min(1.0, (step - start + 1) / ramp)

    def training_step(self, sae, x: torch.Tensor, ctx: StepContext) -> StepOutput:
        acts = F.relu(sae.encoder(x - sae.b_dec))
        x_hat = self.output(dense_decode(sae, acts))
        fvu = recon_error(x, x_hat) / ctx.total_variance
        l1 = (at_least_fp32(acts) * sae.W_dec.norm(dim=-1)).sum() / (
            ctx.global_batch * math.sqrt(sae.d_in))
        lam = self.l1_weight(ctx.step, ctx.total_steps)
        loss = fvu + lam * l1
        active = acts > 0
        return StepOutput(loss, fvu.detach(), active.sum().float(), active.any(0),
                          {"l1": l1.detach()})
