"""Matryoshka BatchTopK SAE (Bussmann, Nabeshima, Karvonen & Nanda 2025, "Learning Multi-Level
Features with Matryoshka Sparse Autoencoders", arXiv:2503.17547).

The dictionary is ordered and cut into nested prefixes m_1 < m_2 < ... < m_G = M. Codes are
BatchTopK codes over the whole dictionary (the top k*B pre-activations of the batch); each
prefix must reconstruct the input on its own:

    x_hat_g = b_dec + sum_{i < m_g} a_i W_dec,i,
    loss = FVU(x, x_hat_G) + beta * (1 / (G - 1)) sum_{g < G} FVU(x, x_hat_g) + alpha * AuxK,

so early latents learn general features and later ones refine them instead of absorbing
them. The paper's loss is the mean of all G prefix FVUs, i.e. beta = G - 1 (4 with the
default prefixes) up to the constant 1/G. saescope's default beta is 0.25 and its AuxK weight
alpha is BatchTopK's 1 (SAELens's coefficient): with the paper's weighting, a
prefix narrower than the true dictionary learns blends of atoms ("feature hedging", Chanin et
al. 2025, arXiv:2505.11756) that take top-k slots, the latents after the last inner prefix
only feel 1/G of the loss and die, and on planted dictionaries of equally frequent atoms
about half the atoms were recovered (SAELens's own Matryoshka did the same); with beta 0.25
and alpha 1 as many as with BatchTopK (docs/results/sae.md, with the rows that chose them).
FVU is that of the whole dictionary (x_hat_G). Inference is BatchTopK's JumpReLU with the
threshold calibrated as BatchTopK's; the checkpoint is the sparsify layout plus `threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from saescope.errors import ConfigError
from saescope.sae.archs.base import StepContext, StepOutput, recon_error, register
from saescope.sae.archs.batchtopk import BatchTopK, BatchTopKOptions


@dataclass
class MatryoshkaOptions(BatchTopKOptions):
    """Options of the matryoshka architecture (BatchTopK's, plus the prefixes)."""

    prefix_fractions: list[float] = field(default_factory=lambda: [1 / 16, 1 / 8, 1 / 4, 1 / 2])
    """Prefix sizes as fractions of M, increasing, each in (0, 1); M itself is always the last."""
    inner_weight: float = 0.25
    """beta, the weight of the mean inner-prefix FVU beside the whole dictionary's FVU (the
    paper's mean over all prefixes is beta = number of inner prefixes). 0.25 was chosen on
    planted dictionaries other than the reported ones (docs/results/sae.md); a lower beta
    trades the inner prefixes' own reconstruction for recovering the true features."""

    def __post_init__(self) -> None:
        super().__post_init__()
        fr = [float(f) for f in self.prefix_fractions]
        if any(not 0 < f < 1 for f in fr) or any(b <= a for a, b in zip(fr, fr[1:], strict=False)):
            raise ConfigError(f"prefix_fractions must increase within (0, 1), got {fr}")
        self.prefix_fractions = fr
        if self.inner_weight < 0:
            raise ConfigError(f"inner_weight must be >= 0, got {self.inner_weight}")


def prefix_sizes(fractions: list[float], m: int) -> list[int]:
    """Nested prefix lengths m_1 < ... < m_G = M (duplicates after rounding dropped)."""
    sizes = sorted({max(1, round(f * m)) for f in fractions} | {m})
    return [s for s in sizes if s <= m]


def prefix_reconstructions(acts_BM: torch.Tensor, W_dec: torch.Tensor, b_dec: torch.Tensor,
                           sizes: list[int]) -> list[torch.Tensor]:
    """[x_hat_g for each prefix]: cumulative sums of the decoded prefix blocks (one full decode)."""
    out, x_hat, start = [], b_dec.expand(acts_BM.shape[0], -1), 0
    for end in sizes:
        x_hat = x_hat + acts_BM[:, start:end] @ W_dec[start:end]
        out.append(x_hat)
        start = end
    return out


@register
class Matryoshka(BatchTopK):
    """BatchTopK codes; every nested prefix of the dictionary reconstructs the input."""

    name = "matryoshka"
    Options = MatryoshkaOptions

    def training_step(self, sae, x: torch.Tensor, ctx: StepContext) -> StepOutput:
        x_c = x - sae.b_dec
        pre = nn.functional.relu(sae.encoder(x_c))
        acts = self.batch_topk(pre, self.cfg.k)
        sizes = prefix_sizes(self.opts.prefix_fractions, sae.num_latents)
        recons = prefix_reconstructions(acts, sae.W_dec, sae.b_dec, sizes)
        fvus = [recon_error(x, r) / ctx.total_variance for r in recons]
        fvu = fvus[-1]
        loss = fvu
        if len(fvus) > 1 and self.opts.inner_weight > 0:
            loss = loss + self.opts.inner_weight * torch.stack(fvus[:-1]).mean()
        extras: dict[str, torch.Tensor] = {"prefix0_fvu": fvus[0].detach()}
        return self._finish_step(sae, x_c, x - recons[-1], acts, loss, fvu, extras, ctx)
