"""`sae-enrich`: seed-vs-pool latent enrichment, DSIR's importance weights (Xie et al., "Data
Selection for Language Models via Importance Resampling", NeurIPS 2023, arXiv:2302.03169) with
SAE latents in place of hashed n-grams, scored as a multinomial naive Bayes log-likelihood ratio
(McCallum & Nigam, AAAI-98 workshop on text categorization, 1998).

Each latent's share of the activation mass, `p_f = sum_i a_if / sum_i |a_i|_1`, is measured among
the seeds (`p_seed`) and the pool sample (`p_pool`); its weight is
`w_f = ln((p_seed_f + alpha / M) / (p_pool_f + alpha / M))` (additive smoothing, `M` latents,
`EnrichConfig.alpha`), and a row's score is `sum_f a_f w_f / |a|_1`, the mean log-odds of its
activation mass. The weights are interpretable: the most enriched latents are the concepts that
set the seeds apart from the pool (`FittedSpace.top_latents`). The similarity columns are
measured in the `sae-centered` space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from saescope.curate.spaces.base import Chunk, FitData, FittedSpace, Space, register
from saescope.errors import ConfigError


@dataclass
class EnrichConfig:
    """Parameters of `sae-enrich` (and of the latent weights that explain `embedding-graph` rows)."""

    alpha: float = 1.5
    """Additive smoothing, in units of the uniform share `1 / M`. Chosen on the MMLU benchmark
    itself (benchmarks/curate_mmlu.py, in-sample): 0.9-1.5 is best at budget 100; larger values
    (3) trade budget-100 precision for budget 500-1000; very large ones tend to the difference of
    the seed and pool mean codes."""

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ConfigError(f"enrichment smoothing alpha must be > 0, got {self.alpha}")


class ExplainedByEnrichment:
    """A space whose selection is explained by DSIR-style log-odds weights of the latents
    (`self.enrichment`, float32 [M] or None): `sae-enrich`, whose score they are, and the graph,
    which fits them beside its score to say which latents a chosen row shares with the seeds."""

    enrichment: np.ndarray | None

    @property
    def latent_weights(self) -> np.ndarray | None:
        return self.enrichment

    def contributions(self, codes: sp.csr_matrix, rep: FittedSpace) -> sp.csr_matrix | None:
        return enrichment_contributions(codes, self.enrichment)


@register
class EnrichSpace(ExplainedByEnrichment, Space):
    """Score = `enrichment_scores(codes, enrichment_weights(seeds, pool sample))`."""

    names = ("sae-enrich",)
    config_class = EnrichConfig

    def __init__(self, cfg: EnrichConfig | None = None, enrichment: np.ndarray | None = None) -> None:
        self.cfg = cfg or EnrichConfig()
        """Parameters (saved with the fit)."""
        self.enrichment = enrichment
        """float32 [M] log-odds weights."""

    def fit(self, data: FitData, rep: FittedSpace) -> None:
        self.enrichment = enrichment_weights(data.encode("seeds"), data.encode("pool"), self.cfg.alpha)

    def score(self, chunk: Chunk, rep: FittedSpace) -> np.ndarray:
        return enrichment_scores(chunk.codes, self.enrichment)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"enrichment": self.enrichment}, {"params": asdict(self.cfg)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> EnrichSpace:
        return cls(EnrichConfig(**meta.get("params", {})), arrays["enrichment"])


def enrichment_contributions(codes: sp.csr_matrix, w: np.ndarray | None) -> sp.csr_matrix | None:
    """`a_f w_f / |a|_1`: the exact split of `enrichment_scores` over the firing latents."""
    if w is None:
        return None
    C = sp.csr_matrix(codes, dtype=np.float64, copy=True)
    l1 = np.asarray(abs(codes).sum(axis=1), dtype=np.float64).ravel()
    C = sp.csr_matrix(sp.diags(np.divide(1.0, l1, out=np.zeros_like(l1), where=l1 > 0)) @ C)
    C.data *= w[C.indices]
    return C


def enrichment_weights(seed_codes: sp.csr_matrix, pool_codes: sp.csr_matrix,
                       alpha: float = EnrichConfig.alpha) -> np.ndarray:
    """Per-latent log-odds `ln((p_seed + alpha/M) / (p_pool + alpha/M))` of activation-mass shares.

    `p_f = sum_i |a_if| / sum_i |a_i|_1` over the seeds and over the pool sample; the additive
    (Lidstone) smoothing `alpha / M` keeps latents that never fire among the seeds finite. DSIR's
    importance weights (Xie et al. 2023, arXiv:2302.03169) in SAE feature space; the score
    `enrichment_scores` is then multinomial naive Bayes (McCallum & Nigam 1998).
    """
    if alpha <= 0:
        raise ConfigError(f"enrichment smoothing alpha must be > 0, got {alpha}")
    m = seed_codes.shape[1]

    def shares(codes: sp.csr_matrix) -> np.ndarray:
        mass = np.bincount(codes.indices, weights=np.abs(codes.data).astype(np.float64), minlength=m)
        total = mass.sum()
        return mass / total if total > 0 else mass

    a = alpha / m
    return np.log((shares(seed_codes) + a) / (shares(pool_codes) + a)).astype(np.float32)


def enrichment_scores(codes: sp.csr_matrix, w: np.ndarray) -> np.ndarray:
    """`sum_f a_f w_f / |a|_1` per row (mean log-odds of the activation mass; 0 for empty rows)."""
    num = np.asarray(codes @ w.astype(np.float64), dtype=np.float64).ravel()
    l1 = np.asarray(abs(codes).sum(axis=1), dtype=np.float64).ravel()
    return np.divide(num, l1, out=np.zeros_like(num), where=l1 > 0).astype(np.float32)
