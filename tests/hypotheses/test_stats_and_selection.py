"""BH q-values and correlation tests on hand-computed cases; planted and null hypotheses."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from saescope.hypotheses import (
    HypothesesConfig,
    benjamini_hochberg,
    correlation_test,
    find_hypotheses,
)
from saescope.hypotheses.stats import label_purity


def test_benjamini_hochberg_known_values():
    # Sorted p .01 .03 .04 .20 -> m p / rank = .04 .06 .0533 .20 -> running min from the right.
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.20]))
    np.testing.assert_allclose(q, [0.04, 0.04 / 0.75, 0.04 / 0.75, 0.20])
    assert np.isnan(benjamini_hochberg(np.array([0.5, np.nan]))[1])
    assert benjamini_hochberg(np.array([0.9, 0.95])).max() <= 1.0


def test_correlation_test_known_values():
    x = np.array([1.0, 2, 3, 4, 5, 6])
    r, lo, hi, p = correlation_test(x, 2 * x + np.array([0.1, -0.1, 0.2, -0.2, 0.0, 0.1]))
    assert r > 0.99 and lo < r < hi and p < 1e-3
    # Fisher z interval: tanh(atanh(r) +/- 1.96 / sqrt(n - 3)).
    assert lo == pytest.approx(np.tanh(np.arctanh(r) - 1.959964 / np.sqrt(3)), rel=1e-4)
    assert correlation_test(np.zeros(10), np.arange(10.0)) == (0.0, pytest.approx(np.nan, nan_ok=True),
                                                                 pytest.approx(np.nan, nan_ok=True), 1.0)


def test_label_purity():
    acts = np.array([0, 5, 4, 3, 0, 1.0])
    y = np.array([1, 1, 1, 0, 0, 0.0])
    assert label_purity(acts, y, 3, +1) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert label_purity(acts, y, 3, -1)[0] == pytest.approx(1 / 3)
    assert np.isnan(label_purity(np.zeros(6), y, 3, 1)[0])


def _codes(rng: np.random.Generator, n: int, m: int, rate: float = 0.15) -> sp.csr_matrix:
    fires = rng.random((n, m)) < rate
    return sp.csr_matrix(np.where(fires, 1 + rng.random((n, m)), 0.0))


@pytest.mark.parametrize("selection", ["lasso", "univariate"])
def test_planted_features_are_recovered(selection):
    rng = np.random.default_rng(0)
    n, m = 3000, 120
    codes = _codes(rng, n, m)
    on = (codes[:, :3].toarray() > 0).astype(float)
    logit = -1.0 + 2.0 * on[:, 0] + 2.0 * on[:, 1] - 2.0 * on[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    half = n // 2
    cfg = HypothesesConfig(selection=selection, n_select=15)
    h = find_hypotheses(codes[:half], y[:half], codes[half:], y[half:], cfg, binary=True)
    found = dict(zip(h.latent[h.q <= 0.05].tolist(), h.effect[h.q <= 0.05], strict=True))
    assert {0, 1, 2} <= set(found), found
    assert found[0] > 0 and found[1] > 0 and found[2] < 0
    assert len(set(found) - {0, 1, 2}) <= 1  # at most one chance discovery at FDR 5%
    assert np.all(h.ci_low <= h.effect) and np.all(h.effect <= h.ci_high + 1e-12)


def test_null_label_false_discoveries_within_fdr():
    # Under the global null, BH at level a makes any discovery with probability <= a: over 20
    # independent draws at a = 0.05 we expect about 1 draw with a discovery (P(>= 4) < 2%).
    rng = np.random.default_rng(1)
    n, m = 1200, 80
    draws_with_discovery, tested = 0, 0
    for _ in range(20):
        codes = _codes(rng, n, m)
        y = (rng.random(n) < 0.4).astype(float)
        h = find_hypotheses(codes[:600], y[:600], codes[600:], y[600:], HypothesesConfig(n_select=10), binary=True)
        tested += len(h.latent)
        draws_with_discovery += int(np.any(h.q <= 0.05))
    assert tested > 0  # the null selection still tests latents (lasso picks noise)
    assert draws_with_discovery <= 3


def test_numeric_outcome_planted_latents_are_recovered():
    rng = np.random.default_rng(2)
    n, m = 2000, 60
    codes = _codes(rng, n, m)
    a = codes[:, :2].toarray()
    y = 2.0 * a[:, 0] - 1.5 * a[:, 1] + rng.normal(0, 1, n)
    h = find_hypotheses(codes[:1000], y[:1000], codes[1000:], y[1000:], HypothesesConfig(n_select=8), binary=False)
    found = dict(zip(h.latent[h.q <= 0.05].tolist(), h.effect[h.q <= 0.05], strict=True))
    assert found.get(0, 0) > 0.3 and found.get(1, 0) < -0.3
    assert len(set(found) - {0, 1}) <= 1 and np.isnan(h.auroc).all()
