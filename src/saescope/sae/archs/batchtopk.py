"""BatchTopK SAE (Bussmann, Leask & Nanda 2024, "BatchTopK Sparse Autoencoders", arXiv:2412.06410).

Training keeps the top k*B ReLU pre-activations over the whole batch (k per row on average)
and learns a threshold theta: a running average of the smallest kept activation. Inference
is a JumpReLU, a_i = pre_i * [pre_i > theta], so a row's code does not depend on its batch.
The threshold is saved as the extra tensor `threshold` (a scalar).

At the end of training the threshold is calibrated on held-out rows (the trainer's
validation rows, which the optimiser never saw) so that their mean L0 is k: an SAE fits its
training rows better than new ones, and the running average of training batches gave new
rows an L0 well above k (MMLU MiniLM, k 32: 40.9 on validation rows). Bussmann et al. set
theta from training batches only; without held-out rows saescope keeps that estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from saescope.errors import ConfigError
from saescope.sae.archs.base import (
    Architecture,
    StepContext,
    StepOutput,
    auxk_loss,
    calibration_rows,
    dense_decode,
    level_for_mean_count,
    pack_dense,
    recon_error,
    register,
)
from saescope.sae.outputs import EncoderOutput


@dataclass
class BatchTopKOptions:
    """Options of the batchtopk architecture."""

    threshold_momentum: float = 0.01
    """Weight of the current batch in the running average of the threshold."""
    auxk_alpha: float = 1.0
    """Weight of the AuxK loss on dead latents (0 disables AuxK). 1 (SAELens's coefficient)
    rather than Gao et al.'s 1/32: on planted development dictionaries (docs/results/sae.md)
    pairs of atoms merged into one latent that fires for either, and the stronger AuxK split
    more of them (atoms recovered 96.4% against 91.9% over six runs)."""
    dead_samples: int | None = None
    """A latent is dead (and joins AuxK) after this many training samples without firing;
    None: the run's dead window (one epoch of training rows, at most 10M samples)."""
    calibrate_threshold: bool = True
    """After training, set the threshold so that the held-out (validation) rows have mean
    L0 k; False (or no held-out rows): keep the running average of training batches."""

    def __post_init__(self) -> None:
        if not 0 < self.threshold_momentum <= 1:
            raise ConfigError(f"threshold_momentum must be in (0, 1], got {self.threshold_momentum}")
        if self.auxk_alpha < 0 or (self.dead_samples is not None and self.dead_samples < 1):
            raise ConfigError("auxk_alpha must be >= 0 and dead_samples >= 1")


@register
class BatchTopK(Architecture):
    """Top k*B activations over the batch in training; a learned JumpReLU threshold at inference."""

    name = "batchtopk"
    Options = BatchTopKOptions

    def add_tensors(self, sae) -> None:
        # -1 marks "not estimated yet"; the first training batch sets it.
        sae.register_buffer("threshold", torch.tensor(-1.0, device=sae.device, dtype=sae.dtype))

    def fold_input_scale(self, sae, s: float) -> None:
        super().fold_input_scale(sae, s)
        with torch.no_grad():
            if sae.threshold > 0:
                sae.threshold.div_(s)

    def jumprelu(self, sae, x: torch.Tensor) -> torch.Tensor:
        pre = sae.pre_acts(x)
        return pre * (pre > sae.threshold.clamp_min(0))

    def encode(self, sae, x: torch.Tensor) -> EncoderOutput:
        return pack_dense(self.jumprelu(sae, x))

    @torch.no_grad()
    def after_training(self, sae, x: torch.Tensor, held_out=None) -> None:
        """Calibrate the threshold on held-out rows (mean L0 = k there), see the module doc."""
        rows = calibration_rows(held_out, sae) if self.opts.calibrate_threshold else None
        if rows is None:
            return
        t = level_for_mean_count(lambda r: sae.pre_acts(r), rows, self.cfg.k)
        sae.threshold.fill_(t)

    def batch_topk(self, pre: torch.Tensor, k: int) -> torch.Tensor:
        """Dense [B, M] activations keeping the k*B largest entries of the batch."""
        flat = pre.flatten()
        n_keep = min(k * pre.shape[0], flat.numel())
        vals, idx = flat.topk(n_keep, sorted=False)
        return torch.zeros_like(flat).scatter(0, idx, vals).view_as(pre)

    def training_step(self, sae, x: torch.Tensor, ctx: StepContext) -> StepOutput:
        x_c = x - sae.b_dec
        pre = nn.functional.relu(sae.encoder(x_c))
        acts = self.batch_topk(pre, self.cfg.k)
        x_hat = dense_decode(sae, acts)
        fvu = recon_error(x, x_hat) / ctx.total_variance
        return self._finish_step(sae, x_c, x - x_hat, acts, fvu, fvu, {}, ctx)

    def _finish_step(self, sae, x_c: torch.Tensor, residual: torch.Tensor,
                     acts: torch.Tensor, loss: torch.Tensor, fvu: torch.Tensor,
                     extras: dict[str, torch.Tensor], ctx: StepContext) -> StepOutput:
        """Add the AuxK term on `residual`, update the inference threshold from the smallest
        kept activation of this batch, and package the step (shared with Matryoshka)."""
        if self.opts.auxk_alpha > 0:
            aux = auxk_loss(sae, x_c, residual, ctx.dead_mask, ctx.total_variance)
            if aux is not None:
                loss = loss + self.opts.auxk_alpha * aux
                extras["auxk_loss"] = aux.detach()
        with torch.no_grad():
            active = acts > 0
            kept = acts[active]
            low = kept.min().float() if kept.numel() else torch.zeros((), device=acts.device)
            if ctx.all_reduce_mean is not None:
                ctx.all_reduce_mean(low)
            self._update_threshold(sae, low)
        return StepOutput(loss, fvu.detach(), active.sum().float(), active.any(0), extras)

    @torch.no_grad()
    def _update_threshold(self, sae, low: torch.Tensor) -> None:
        low = low.to(sae.threshold.dtype)
        if sae.threshold < 0:
            sae.threshold.copy_(low)
        else:
            m = self.opts.threshold_momentum
            sae.threshold.mul_(1 - m).add_(m * low)
