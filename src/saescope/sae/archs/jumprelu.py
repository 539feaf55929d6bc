"""JumpReLU SAE trained with straight-through estimators (Rajamanoharan, Lieberum, Sonnerat,
Conmy, Varma, Kramár & Nanda 2024, "Jumping Ahead: Improving Reconstruction Fidelity with
JumpReLU Sparse Autoencoders", arXiv:2407.14435).

z = W_enc (x - b_dec) + b_enc, a_i = z_i H(z_i - theta_i) with a learned threshold
theta_i = exp(log_threshold_i) per latent; loss = FVU + lambda * E_x ||a||_0, where
||a||_0 = sum_i H(z_i - theta_i). H has no useful derivative, so the threshold learns through
the paper's straight-through estimators with a rectangle kernel K(u) = 1[|u| < 1/2] of
bandwidth eps (eq. 11-12):

    d JumpReLU(z; theta) / d theta = -(theta / eps) K((z - theta) / eps)
    d H(z - theta) / d theta       = -(1 / eps) K((z - theta) / eps)

and no gradient of the L0 term reaches z (nor W_enc). Inputs are scaled to mean norm sqrt(d_in)
as in the paper, where theta starts at 0.001 and eps is 0.001.

Two sparsity penalties:

- target L0 (the default, `l0_coef` None): loss = FVU + c * (L0 - k)^2 / k with c =
  `target_coef`, L0 the batch mean of ||a||_0 (through the same straight-through estimator).
  Its gradient on the thresholds is the paper's with lambda = 2 c (L0 - k) / k, so lambda
  grows until the L0 reaches k: at equilibrium L0 - k = lambda* k / (2 c), where lambda* is
  the FVU bought by one more latent (small at useful L0s). The objective is stationary, so early
  stopping minimises it on validation rows. A target L0 is how Gemma Scope 2 trains JumpReLU
  (a quadratic penalty around a target; there per row, here on the batch mean, so rows may
  differ in L0 as in the paper); it makes `k` mean the same for every architecture.
- fixed lambda (`l0_coef` given): the paper's loss FVU + lambda * L0; `k` plays no part.
  With `l0_coef_rate` > 0, lambda instead adapts so that the training L0 approaches k (log
  lambda moves by rate * (L0 / k - 1) each step; the objective is then not stationary, so
  such runs should be given --epochs/--steps).

In target mode the thresholds are calibrated at the end of training on held-out rows (the
trainer's validation rows, never seen by the optimiser): all theta_i are multiplied by one
factor so that those rows have mean L0 k. The penalty holds the L0 of training batches at k,
but an SAE fits its training rows better than new ones, and new rows got more latents above
threshold (MMLU MiniLM, k 32: training L0 33, validation L0 38.6).

The checkpoint is the sparsify layout plus `log_threshold` [M] and the current coefficient
`l0_coef` (a scalar: lambda, or c in target mode). The kernel is wider than the paper's
(bandwidth 0.05, theta_0 0.1 in units of the scaled inputs) so that thresholds move within the
short runs of small corpora.
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
    auxk_loss,
    calibration_rows,
    level_for_mean_count,
    pack_dense,
    per_latent,
    recon_error,
    register,
)
from saescope.sae.outputs import EncoderOutput


def _rect(u: torch.Tensor) -> torch.Tensor:
    return (u.abs() < 0.5).to(u.dtype)


def _gate(ctx, z: torch.Tensor, log_theta: torch.Tensor, eps: float) -> torch.Tensor:
    """H(z - theta), saving what the straight-through backward needs."""
    theta = log_theta.exp()
    ctx.save_for_backward(z, theta)
    ctx.eps = eps
    return (z > theta).to(z.dtype)


def _kernel(ctx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z, theta, K((z - theta) / eps)) of the saved forward."""
    z, theta = ctx.saved_tensors
    return z, theta, _rect((z - theta) / ctx.eps)


class JumpReLUFn(torch.autograd.Function):
    """z * H(z - theta); d/dz = H(z - theta), d/dlog_theta by the rectangle-kernel STE."""

    @staticmethod
    def forward(ctx, z, log_theta, eps: float):
        return z * _gate(ctx, z, log_theta, eps)

    @staticmethod
    def backward(ctx, grad):
        z, theta, k = _kernel(ctx)
        grad_z = grad * (z > theta).to(z.dtype)
        d_theta = -(theta / ctx.eps) * k
        return grad_z, (grad * d_theta).sum(0) * theta, None


class StepFn(torch.autograd.Function):
    """H(z - theta); no gradient to z, d/dlog_theta by the rectangle-kernel STE."""

    @staticmethod
    def forward(ctx, z, log_theta, eps: float):
        return _gate(ctx, z, log_theta, eps)

    @staticmethod
    def backward(ctx, grad):
        _, theta, k = _kernel(ctx)
        return None, (grad * (-(1 / ctx.eps) * k)).sum(0) * theta, None


@dataclass
class JumpReLUOptions:
    """Options of the jumprelu architecture."""

    l0_coef: float | None = None
    """lambda, the price of one active latent per row, in units of FVU (the paper's penalty);
    None: target-L0 mode, the penalty target_coef * (L0 - k)^2 / k keeps the L0 at k."""
    target_coef: float = 0.3
    """c of the target-L0 penalty (larger: L0 closer to k). 0.3 was chosen on an inner split
    of the demo's SAE training rows (k 32: validation FVU 0.365 at L0 33.0 against 0.391 at
    L0 32.5 for c = 1)."""
    l0_coef_rate: float = 0.0
    """> 0 (with l0_coef): adapt lambda towards training L0 = k at this speed per step (log
    scale)."""
    bandwidth: float = 0.05
    """eps, the width of the straight-through kernel (in scaled-input units)."""
    threshold_init: float = 0.1
    """Initial theta of every latent."""
    auxk_alpha: float = 1.0
    """Weight of the AuxK loss on dead latents (Gao et al. 2024, as topk; 0 disables): a
    latent below its threshold on every row gets no reconstruction gradient, so without it
    the latents the penalty pushes out never return. 1 (SAELens's coefficient, as batchtopk)
    rather than 1/32: more planted atoms recovered on development dictionaries
    (docs/results/sae.md)."""
    dead_samples: int | None = None
    """A latent is dead (and joins AuxK) after this many training samples without firing;
    None: the run's dead window (one epoch of training rows, at most 10M samples)."""
    calibrate_threshold: bool = True
    """Target mode: after training, scale every threshold by one factor so that the held-out
    (validation) rows have mean L0 k; False (or no held-out rows): keep the trained ones."""

    def __post_init__(self) -> None:
        if self.l0_coef is not None and self.l0_coef < 0:
            raise ConfigError(f"l0_coef must be >= 0, got {self.l0_coef}")
        if not self.target_coef > 0:
            raise ConfigError(f"target_coef must be > 0, got {self.target_coef}")
        if self.l0_coef_rate and self.l0_coef is None:
            raise ConfigError("l0_coef_rate adapts l0_coef: give an initial l0_coef too")
        if not (self.bandwidth > 0 and self.threshold_init > 0):
            raise ConfigError("bandwidth and threshold_init must be > 0")
        if self.auxk_alpha < 0 or (self.dead_samples is not None and self.dead_samples < 1):
            raise ConfigError("auxk_alpha must be >= 0 and dead_samples >= 1")
        if self.l0_coef_rate < 0:
            raise ConfigError(f"l0_coef_rate must be >= 0, got {self.l0_coef_rate}")


@register
class JumpReLU(Architecture):
    """Per-latent learned thresholds; an L0 penalty trained with straight-through estimators."""

    name = "jumprelu"
    Options = JumpReLUOptions
    sparsity_option = "l0_coef"
    sparsity_range = (1e-4, 1e-1)

    def add_tensors(self, sae) -> None:
        sae.log_threshold = torch.nn.Parameter(per_latent(sae, math.log(self.opts.threshold_init)))
        sae.register_buffer("l0_coef", torch.tensor(float(self._coef()), device=sae.device,
                                                    dtype=sae.dtype))

    @property
    def target_mode(self) -> bool:
        """Whether the penalty keeps the L0 at k (`l0_coef` None) rather than pricing it."""
        return self.opts.l0_coef is None

    def _coef(self) -> float:
        return self.opts.target_coef if self.target_mode else self.opts.l0_coef

    def penalty(self, coef: torch.Tensor | float, l0: torch.Tensor | float) -> torch.Tensor | float:
        """The sparsity term of the loss for a mean L0 (see the module docstring)."""
        if self.target_mode:
            return coef * (l0 - self.cfg.k) ** 2 / self.cfg.k
        return coef * l0

    def fold_input_scale(self, sae, s: float) -> None:
        super().fold_input_scale(sae, s)
        with torch.no_grad():
            sae.log_threshold.sub_(math.log(s))

    def _pre(self, sae, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x - sae.b_dec, sae.encoder.weight, sae.encoder.bias)

    def encode(self, sae, x: torch.Tensor) -> EncoderOutput:
        z = self._pre(sae, x)
        return pack_dense(F.relu(z * (z > sae.log_threshold.exp())))

    def training_step(self, sae, x: torch.Tensor, ctx: StepContext) -> StepOutput:
        z = self._pre(sae, x)
        eps = self.opts.bandwidth
        acts = JumpReLUFn.apply(z, sae.log_threshold, eps)
        x_hat = acts @ sae.W_dec + sae.b_dec
        fvu = recon_error(x, x_hat) / ctx.total_variance
        l0_rows = StepFn.apply(z, sae.log_threshold, eps).sum(-1)
        l0 = l0_rows.sum() / ctx.global_batch
        loss = fvu + self.penalty(sae.l0_coef.detach(), l0)
        extras = {"l0_coef": sae.l0_coef.detach().clone()}
        if self.opts.auxk_alpha > 0:
            aux = auxk_loss(sae, x - sae.b_dec, x - x_hat, ctx.dead_mask, ctx.total_variance)
            if aux is not None:
                loss = loss + self.opts.auxk_alpha * aux
                extras["auxk_loss"] = aux.detach()
        active = acts > 0
        self._l0_now = l0.detach()
        return StepOutput(loss, fvu.detach(), active.sum().float(), active.any(0), extras)

    @torch.no_grad()
    def after_training(self, sae, x: torch.Tensor, held_out=None) -> None:
        """Target mode: one factor c on every theta_i so that held-out rows have mean L0 k.

        z_i > c theta_i  <=>  z_i / theta_i > c, so c is the level at which the ratios
        z / theta have k per row above it on average (`level_for_mean_count`)."""
        use = self.target_mode and self.opts.calibrate_threshold
        rows = calibration_rows(held_out, sae) if use else None
        if rows is None:
            return
        theta = sae.log_threshold.exp()
        c = level_for_mean_count(lambda r: self._pre(sae, r) / theta, rows, self.cfg.k)
        if c > 0:
            sae.log_threshold.add_(math.log(c))

    def validation_objective(self, sae, metrics: dict[str, float]) -> float:
        """The training objective (FVU + the sparsity term), on validation rows."""
        return metrics["fvu"] + float(self.penalty(float(sae.l0_coef), metrics["l0"]))

    @torch.no_grad()
    def after_step(self, sae, ctx: StepContext) -> None:
        if not self.opts.l0_coef_rate:
            return
        l0 = self._l0_now.clone()
        if ctx.all_reduce_mean is not None:  # each process holds its share of the batch L0
            ctx.all_reduce_mean(l0)
            l0 = l0 * ctx.world_size
        factor = math.exp(self.opts.l0_coef_rate * min(float(l0) / self.cfg.k - 1, 1.0))
        sae.l0_coef.mul_(factor).clamp_(1e-6, 1.0)  # unclamped, it ran away on MMLU (FVU NaN)
