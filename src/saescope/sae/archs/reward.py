"""Reward SAE: stochastic binary gates trained by REINFORCE, magnitudes by backpropagation.

The capstone's "reinforcement-learning sparsity" made real (its sparsity term had no gradient).
With z = W_enc (x - b_dec):
  magnitude m_i = ReLU(z_i + b_enc,i)                       (ordinary gradient)
  gate logit  l_i = exp(s_i) * stopgrad(z_i) + c_i, g_i ~ Bernoulli(sigmoid(l_i))
  a_i = g_i * m_i,  x_hat = W_dec^T a + b_dec
  reward R = -||x - x_hat||^2 / v - lambda * ||g||_0, v = mean per-row variance of the batch
  loss = FVU + REINFORCE surrogate -(R - b) * sum_i log p(g_i | l_i), averaged over rows,
with b the leave-one-out mean reward of the other rows (an unbiased baseline; Williams 1992,
"Simple statistical gradient-following algorithms", and Kool et al. 2019 for the leave-one-out
form). The gates learn per-latent thresholds (s_i, c_i): the score-function gradient carries
the L0 cost that a hard gate cannot differentiate. Inference is deterministic: g_i = [l_i > 0].
Extra tensors: `gate_log_scale` [M] and `gate_bias` [M], initialised from a data sample so
that each latent's gate opens on about k/M of the rows (E[L0] about k).

Trained as used: training samples the gates, so its L0 is E[sum_i sigmoid(l_i)], while a plain
threshold at l = 0 keeps only gates above one half (about half that L0 in practice). After
training, one offset is added to every `gate_bias` so that the deterministic encoder's mean
L0 on training rows equals the expected training L0 (`after_training`); metrics.json reports
the FVU and L0 of that saved encoder.
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
    dense_decode,
    pack_dense,
    per_latent,
    register,
)
from saescope.sae.outputs import EncoderOutput

GATE_SHARPNESS = 4.0


@dataclass
class RewardOptions:
    """Options of the reward architecture."""

    reward_lambda: float = 0.01
    """Cost per active latent in the reward, in units of the mean per-row variance."""

    def __post_init__(self) -> None:
        if self.reward_lambda < 0:
            raise ConfigError(f"reward_lambda must be >= 0, got {self.reward_lambda}")


@register
class RewardSAE(Architecture):
    """Bernoulli-gated latents; the L0 cost trained by REINFORCE with a baseline."""

    name = "reward"
    Options = RewardOptions
    early_stopping = False  # gates learn a price, FVU alone is not its objective
    sparsity_option = "reward_lambda"
    sparsity_range = (1e-4, 0.3)

    def add_tensors(self, sae) -> None:
        m = sae.num_latents
        init = math.log(self.cfg.k / m) - math.log1p(-self.cfg.k / m) if self.cfg.k < m else 0.0
        sae.gate_log_scale = torch.nn.Parameter(per_latent(sae, 0.0))
        sae.gate_bias = torch.nn.Parameter(per_latent(sae, init))

    def init_from_data(self, sae, x: torch.Tensor) -> None:
        # Per-latent thresholds at the (1 - k/M) quantile of z on the sample, so every latent
        # starts out firing on about k/M of the rows (E[L0] about k, no latent dead at start),
        # with a gate sharpness of GATE_SHARPNESS per unit of z.
        q = 1 - min(self.cfg.k / sae.num_latents, 1.0)
        with torch.no_grad():
            z = F.linear(x[:4096] - sae.b_dec, sae.encoder.weight).float()
            tau = torch.quantile(z, q, dim=0)
            sae.gate_log_scale.fill_(math.log(GATE_SHARPNESS))
            sae.gate_bias.copy_(-GATE_SHARPNESS * tau)

    def fold_input_scale(self, sae, s: float) -> None:
        super().fold_input_scale(sae, s)
        with torch.no_grad():
            sae.gate_log_scale.add_(math.log(s))

    @torch.no_grad()
    def after_training(self, sae, x: torch.Tensor, held_out=None) -> None:
        """Shift every gate bias by c so that mean #[l + c > 0] = mean sum sigmoid(l) (bisection)."""
        _, logits = self._parts(sae, x)
        logits = logits.float()
        target = float(torch.sigmoid(logits).sum(-1).mean())
        lo, hi = -50.0, 50.0
        for _ in range(60):
            c = (lo + hi) / 2
            if float((logits + c > 0).sum(-1).float().mean()) > target:
                hi = c
            else:
                lo = c
        sae.gate_bias.add_((lo + hi) / 2)

    def _parts(self, sae, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = F.linear(x - sae.b_dec, sae.encoder.weight)
        mag = F.relu(z + sae.encoder.bias)
        logits = sae.gate_log_scale.exp() * z.detach() + sae.gate_bias
        return mag, logits

    def encode(self, sae, x: torch.Tensor) -> EncoderOutput:
        mag, logits = self._parts(sae, x)
        return pack_dense(mag * (logits > 0))

    def training_step(self, sae, x: torch.Tensor, ctx: StepContext) -> StepOutput:
        mag, logits = self._parts(sae, x)
        with torch.no_grad():
            gates = torch.bernoulli(torch.sigmoid(logits.float()),
                                    generator=ctx.generator).to(mag.dtype)
        acts = gates * mag
        x_hat = dense_decode(sae, acts)
        err = (x_hat.float() - x.float()).pow(2).sum(-1)
        fvu = err.sum() / ctx.total_variance
        logp = (gates * F.logsigmoid(logits.float())
                + (1 - gates) * F.logsigmoid(-logits.float())).sum(-1)
        with torch.no_grad():
            per_row_var = ctx.total_variance / ctx.global_batch
            l0 = gates.sum(-1).float()
            reward = -err / per_row_var - self.opts.reward_lambda * l0
            n = reward.shape[0]
            baseline = (reward.sum() - reward) / (n - 1) if n > 1 else torch.zeros_like(reward)
            advantage = reward - baseline
        surrogate = -(advantage * logp).sum() / ctx.global_batch
        loss = fvu + surrogate
        active = acts > 0
        return StepOutput(loss, fvu.detach(), active.sum().float(), active.any(0),
                          {"reward": reward.sum() / ctx.global_batch,
                           "gate_l0": l0.sum() / ctx.global_batch})
