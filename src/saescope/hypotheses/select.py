"""Choosing candidate latents on the training split (never on the held-out one)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

MIN_FIRES = 5
"""Latents firing on fewer training rows are not candidates (nothing to learn from)."""


def scale_codes(codes: sp.csr_matrix, scale: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """Codes divided by each latent's largest training activation (sparsity kept), and the scale."""
    if scale is None:
        scale = np.asarray(abs(codes).max(axis=0).todense()).ravel()
        scale[scale == 0] = 1.0
    return (codes @ sp.diags(1.0 / scale)).tocsr(), scale


def candidates(codes: sp.csr_matrix) -> np.ndarray:
    """Latents that fire on at least MIN_FIRES training rows."""
    n_fires = np.asarray((codes != 0).sum(axis=0)).ravel()
    return np.flatnonzero(n_fires >= MIN_FIRES)


def select_lasso(codes: sp.csr_matrix, y: np.ndarray, n_select: int, binary: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Latents and coefficients of an L1-regularised fit keeping about `n_select` latents.

    Logistic regression for a binary outcome, linear (lasso) for a numeric one, on codes scaled
    to [0, 1] per latent (Tibshirani 1996). The penalty is found by bisection on log C (or
    log alpha) for the weakest one with at most `n_select` non-zero coefficients, as HypotheSAEs
    tunes its L1 strength to a target number of features; latents are returned by |coef|.
    """
    cand = candidates(codes)
    if len(cand) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    Xc, _ = scale_codes(codes[:, cand])
    fit = _logistic_l1 if binary else _lasso
    lo, hi = -4.0, 4.0  # log10 of the inverse penalty strength
    best: np.ndarray | None = None
    for _ in range(14):
        mid = (lo + hi) / 2
        coef = fit(Xc, y, 10.0**mid, seed)
        if np.count_nonzero(coef) <= n_select:
            best, lo = coef, mid
        else:
            hi = mid
    if best is None:
        best = fit(Xc, y, 10.0**lo, seed)
    nz = np.flatnonzero(best)
    order = nz[np.argsort(-np.abs(best[nz]), kind="stable")][:n_select]
    return cand[order], best[order]


def _logistic_l1(X: sp.csr_matrix, y: np.ndarray, inverse_strength: float, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(l1_ratio=1.0, C=inverse_strength, solver="liblinear", max_iter=500,
                               random_state=seed)
    model.fit(X, y.astype(int))
    return model.coef_.ravel()


def _lasso(X: sp.csr_matrix, y: np.ndarray, inverse_strength: float, seed: int) -> np.ndarray:
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=1.0 / (inverse_strength * 100), max_iter=2000, random_state=seed)
    model.fit(X, (y - y.mean()) / (y.std() or 1.0))
    return model.coef_.ravel()


def select_univariate(codes: sp.csr_matrix, y: np.ndarray, n_select: int) -> tuple[np.ndarray, np.ndarray]:
    """The `n_select` candidate latents with the largest |Pearson r| with the outcome (train)."""
    cand = candidates(codes)
    if len(cand) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    A = codes[:, cand].toarray().astype(np.float64)
    A -= A.mean(0)
    yc = y - y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (A * yc[:, None]).sum(0) / np.sqrt((A * A).sum(0) * (yc * yc).sum())
    r = np.nan_to_num(r)
    order = np.argsort(-np.abs(r), kind="stable")[:n_select]
    return cand[order], r[order]
