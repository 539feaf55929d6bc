"""Cosine spaces: the score is the cosine to the seed centroid or to the nearest seed.

- `embedding`: `a = x`, `mu = 0` (raw cosine, the baseline FineScope should have reported).
- `embedding-centered`: `a = x`, `mu` = the pool's mean embedding. Removing the common
  component that all embeddings of a model share makes the cosine discriminative
  (Mu & Viswanath, "All-but-the-Top", ICLR 2018).
- `sae`: `a` = the SAE code with its latent indices, a sparse row of `scipy.sparse.csr_matrix`;
  cosine between codes counts only latents that fire in both rows.
- `sae-idf`: latent `f` weighted by `idf_f = ln((1 + n) / (1 + df_f)) + 1`, `df_f` the number
  of sampled pool rows where it fires (the smoothed inverse document frequency of
  Sparck Jones, J. Documentation 1972, as in scikit-learn's `TfidfTransformer`).
- `sae-centered`: `sae` with the pool's mean code subtracted, computed without densifying the
  pool: `(a - mu).w = a.w - mu.w` and `|a - mu|^2 = |a|^2 - 2 a.mu + |mu|^2`.

The similarity columns themselves are computed by `FittedSpace.score` for every space.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from saescope.curate.spaces.base import Chunk, FittedSpace, Space, register


@register
class CosineSpace(Space):
    """Score = `centroid_sim` or `max_sim` (`FittedSpace.aggregate`)."""

    names = ("sae", "sae-idf", "sae-centered", "embedding", "embedding-centered")

    def score(self, chunk: Chunk, rep: FittedSpace) -> np.ndarray:
        return chunk.centroid_sim if rep.aggregate == "centroid" else chunk.max_sim

    def contributions(self, codes: sp.csr_matrix, rep: FittedSpace) -> sp.csr_matrix | None:
        """`a'_f c_f / |a' - mu|` (`a'` the weighted code, `c` the seed centroid): the firing
        latents' part of the cosine (SAE spaces with seeds only)."""
        if not rep.sparse or rep.centroid is None:
            return None
        C = sp.csr_matrix(codes, dtype=np.float64, copy=True)
        if rep.weights is not None:
            C.data *= rep.weights[C.indices]
        _, c_norm = rep.norms(C)
        C = sp.csr_matrix(sp.diags(np.divide(1.0, c_norm, out=np.zeros_like(c_norm), where=c_norm > 0)) @ C)
        C.data *= rep.centroid[C.indices]
        return C


def idf_weights(codes: sp.csr_matrix) -> np.ndarray:
    """Smoothed idf per latent: ln((1 + n) / (1 + df)) + 1 (Sparck Jones 1972; scikit-learn)."""
    n = codes.shape[0]
    df = np.bincount(codes.indices, minlength=codes.shape[1]).astype(np.float64)
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
