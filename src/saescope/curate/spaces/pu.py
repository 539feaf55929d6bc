"""`sae-pu` and `embedding-pu`: a classifier of the seeds against the pool.

Positive-unlabelled learning (Elkan & Noto, KDD 2008) as quality classifiers for pretraining-data
filtering are trained (Brown et al. 2020, appendix A): an L2 logistic regression (`PUConfig.c`,
classes balanced) of the seeds (1) against the pool sample (0, unlabelled) on the unit SAE code
beside the unit centred input (`sae-pu`; `embedding-pu`: the input alone, the ablation that says
what the SAE code adds), refitted once with the best-scored sample rows as extra positives
(`PUConfig.feedback`); the score is its decision function, linear in the code, so each firing
latent's share of it is exact (`contributions`). Similarity columns as `sae-centered` /
`embedding-centered`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from saescope.curate.spaces.base import Chunk, FitData, FittedSpace, Space, register
from saescope.errors import ConfigError
from saescope.linalg import unit_csr, unit_rows


@dataclass
class PUConfig:
    """Parameters of the PU classifier (`sae-pu`, `embedding-pu`)."""

    c: float = 0.03
    """Inverse L2 strength (scikit-learn's `C`, classes balanced). Chosen on the 4 MMLU domains x
    seed draws 0-1 of `benchmarks/curate_mmlu.py` (tried 0.01-10; large C overfits: the pool's own
    target rows are its negatives); reported on the 10 subjects, which played no part in it."""
    feedback: int = 3
    """Pseudo-relevance feedback: after a first fit, the `feedback x seeds` best-scored rows of the
    pool sample join the positives and the classifier is fitted again (Rocchio 1971; self-training
    in PU learning, Liu et al., ICDM 2003). 0 turns it off. Chosen with `c` (tried 0, 1 and 3)."""
    use_input: bool = True
    """`sae-pu`: the unit centred input beside the unit code (`embedding-pu` always uses it)."""

    def __post_init__(self) -> None:
        if not self.c > 0:
            raise ConfigError(f"PU classifier C must be > 0, got {self.c}")
        if self.feedback < 0:
            raise ConfigError(f"PU feedback must be >= 0, got {self.feedback}")


@register
class PUSpace(Space):
    """Score = the classifier's decision function (without its intercept, which ranks nothing)."""

    names = ("sae-pu", "embedding-pu")
    config_class = PUConfig

    def __init__(self, cfg: PUConfig | None = None, coef: np.ndarray | None = None,
                 coef_input: np.ndarray | None = None, input_mean: np.ndarray | None = None) -> None:
        self.cfg = cfg or PUConfig()
        """Parameters (saved with the fit)."""
        self.pu_coef = coef
        """float32 [M] weights on the unit SAE code (`sae-pu`; None: unused)."""
        self.pu_coef_input = coef_input
        """float32 [d] weights on the unit centred input `(x - input_mean) / |x - input_mean|`."""
        self.input_mean = input_mean
        """float32 [d] pool mean of the raw inputs (centring of the input block)."""

    def fit(self, data: FitData, rep: FittedSpace) -> None:
        code = rep.name == "sae-pu"
        self._fit(rep, data.seeds_X, data.pool_X, data.seeds_A, data.pool_A, data.seed)
        m = min(self.cfg.feedback * len(data.seeds_X), len(data.pool_X) // 2)
        if m > 0:
            top = np.argsort(-self.scores(data.pool_X, data.pool_A if code else None),
                             kind="stable")[:m]
            stack = sp.vstack if code else np.vstack
            self._fit(rep, np.vstack([data.seeds_X, data.pool_X[top]]), data.pool_X,
                      stack([data.seeds_A, data.pool_A[top]]), data.pool_A, data.seed)

    def _fit(self, rep: FittedSpace, seeds_X: np.ndarray, pool_X: np.ndarray,
             seeds_A: Any, pool_A: Any, seed: int) -> None:
        """The features: the unit SAE code (`sae-pu`) beside the unit centred input (both blocks
        of norm 1, so neither dominates by scale); `embedding-pu` uses the input only."""
        blocks_s, blocks_p = [], []
        if rep.name == "sae-pu":
            blocks_s.append(unit_csr(sp.csr_matrix(seeds_A)))
            blocks_p.append(unit_csr(sp.csr_matrix(pool_A)))
        if rep.name == "embedding-pu" or self.cfg.use_input:
            self.input_mean = np.asarray(pool_X.mean(axis=0), dtype=np.float32)
            blocks_s.append(sp.csr_matrix(unit_rows(seeds_X, self.input_mean)))
            blocks_p.append(sp.csr_matrix(unit_rows(pool_X, self.input_mean)))
        w = pu_classifier(sp.hstack(blocks_s).tocsr(), sp.hstack(blocks_p).tocsr(), self.cfg.c, seed)
        m = 0
        if rep.name == "sae-pu":
            m = int(seeds_A.shape[1])
            self.pu_coef = w[:m]
        if self.input_mean is not None:
            self.pu_coef_input = w[m:]

    def scores(self, X: np.ndarray, codes: sp.csr_matrix | None) -> np.ndarray:
        """Decision function of the classifier, float32 [n]."""
        score = np.zeros(len(X), dtype=np.float64)
        if self.pu_coef is not None:
            score += np.asarray(unit_csr(codes) @ self.pu_coef.astype(np.float64)).ravel()
        if self.pu_coef_input is not None:
            score += unit_rows(X, self.input_mean).astype(np.float64) @ self.pu_coef_input.astype(np.float64)
        return score.astype(np.float32)

    def score(self, chunk: Chunk, rep: FittedSpace) -> np.ndarray:
        return self.scores(chunk.X, chunk.codes)

    @property
    def latent_weights(self) -> np.ndarray | None:
        return self.pu_coef

    def contributions(self, codes: sp.csr_matrix, rep: FittedSpace) -> sp.csr_matrix | None:
        """`(a_f / |a|) w_f`: the code block's exact split (the input block belongs to no latent)."""
        if self.pu_coef is None:
            return None
        C = unit_csr(sp.csr_matrix(codes, dtype=np.float64))
        C.data *= self.pu_coef[C.indices]
        return C

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {k: v for k, v in (("pu_coef", self.pu_coef), ("pu_coef_input", self.pu_coef_input),
                                    ("input_mean", self.input_mean)) if v is not None}
        return arrays, {"params": asdict(self.cfg)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> PUSpace:
        return cls(PUConfig(**meta.get("params", {})), arrays.get("pu_coef"),
                   arrays.get("pu_coef_input"), arrays.get("input_mean"))


def pu_classifier(seed_F: np.ndarray | sp.csr_matrix, pool_F: np.ndarray | sp.csr_matrix,
                  C: float = PUConfig.c, seed: int = 0) -> np.ndarray:
    """Weights of an L2 logistic regression of the seeds (label 1) against a pool sample (label 0).

    Positive-unlabelled learning (Elkan & Noto, "Learning classifiers from only positive and
    unlabeled data", KDD 2008): the pool is unlabelled, not negative, but under their
    "selected completely at random" assumption `p(seed | x)` is proportional to `p(target | x)`,
    so the classifier's ranking of the pool is the ranking by the probability of being on
    target. This is how quality classifiers for pretraining-data filtering are trained
    (reference text against unfiltered web text, GPT-3 appendix A, Brown et al. 2020). Classes
    are weighted to equal total weight (`class_weight="balanced"`), so `C` does not depend on
    the pool size. The intercept is dropped: it does not change the ranking.
    """
    from sklearn.linear_model import LogisticRegression

    if C <= 0:
        raise ConfigError(f"PU classifier C must be > 0, got {C}")
    stack = sp.vstack if sp.issparse(pool_F) else np.vstack
    F = stack([seed_F, pool_F])
    y = np.r_[np.ones(seed_F.shape[0]), np.zeros(pool_F.shape[0])]
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000, random_state=seed)
    model.fit(F, y)
    return model.coef_.ravel().astype(np.float32)
