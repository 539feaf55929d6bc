"""Small linear-algebra helpers shared by every stage (no saescope imports).

One place for what several stages need: rows scaled to unit L2 norm, dense or sparse.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def unit_rows(A: np.ndarray | sp.spmatrix, mean: np.ndarray | None = None) -> np.ndarray:
    """Dense float32 rows of `A - mean` scaled to unit L2 norm; zero rows stay zero.

    `A` may be a dense array or a scipy sparse matrix (densified: for small matrices only).
    """
    D = (A.toarray() if sp.issparse(A) else np.asarray(A)).astype(np.float32, copy=False)
    if mean is not None:
        D = D - np.asarray(mean, dtype=np.float32)[None, :]
    n = np.linalg.norm(D, axis=1, keepdims=True)
    return np.divide(D, n, out=np.zeros_like(D), where=n > 0)


def unit_csr(A: sp.spmatrix) -> sp.csr_matrix:
    """Rows of a sparse matrix scaled to unit L2 norm (zero rows stay zero), kept sparse."""
    A = sp.csr_matrix(A)
    sq = np.asarray(A.multiply(A).sum(axis=1), dtype=np.float64).ravel()
    n = np.sqrt(sq)
    return sp.csr_matrix(sp.diags(np.divide(1.0, n, out=np.zeros_like(n), where=n > 0)) @ A)
