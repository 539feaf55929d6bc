"""Statistics on hand-made cases with known values."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from saescope.interpret import metrics


def test_auroc_known_values():
    # Pairs (pos, neg): (0.35 > 0.1), (0.35 < 0.4), (0.8 > both) -> 3 of 4 pairs ranked right.
    assert metrics.auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert metrics.auroc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5  # ties count one half
    assert metrics.auroc([0.9, 0.1], [0, 1]) == 0.0
    assert np.isnan(metrics.auroc([0.2, 0.3], [1, 1]))
    # NaN scores (no answer) are left out, not counted as negatives.
    assert metrics.auroc([0.1, np.nan, 0.35, 0.8], [0, 0, 1, 1]) == 1.0


def test_auroc_rows_matches_sklearn():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, size=(20, 30)).astype(float)  # many ties
    y = rng.integers(0, 2, size=(20, 30))
    ours = metrics.auroc_rows(s, y)
    ref = [roc_auc_score(y[i], s[i]) for i in range(20)]
    np.testing.assert_allclose(ours, ref)


def test_pearson_and_binary_metrics_known_values():
    assert metrics.pearson([1, 2, 3], [2, 4, 6]) == 1.0
    assert abs(metrics.pearson([1, 2, 3, 4], [1, 3, 2, 4]) - 0.8) < 1e-12
    assert np.isnan(metrics.pearson([1, 1, 1], [1, 2, 3]))  # zero variance: undefined, not 0
    m = metrics.binary_metrics(np.array([1, 1, 0, 0, 1, np.nan]), np.array([1, 0, 1, 0, 1, 1]))
    # valid: pred 1,1,0,0,1 vs 1,0,1,0,1 -> TP 2, FP 1, FN 1, TN 1
    assert m["precision"] == 2 / 3 and m["recall"] == 2 / 3
    assert abs(m["f1"] - 2 / 3) < 1e-12
    assert m["balanced_accuracy"] == (2 / 3 + 1 / 2) / 2
    never = metrics.binary_metrics(np.zeros(4), np.array([1, 1, 0, 0]))
    # Never "yes": precision undefined, but F1 = 2TP/(2TP+FP+FN) = 0 (issue 15: not NaN).
    assert np.isnan(never["precision"]) and never["f1"] == 0.0
    assert np.isnan(metrics.binary_metrics(np.zeros(3), np.zeros(3))["f1"])  # nothing to find, nothing said
    np.testing.assert_allclose(metrics.f1_rows(np.zeros((1, 4)), np.array([[1, 1, 0, 0]])), [0.0])
    assert never["balanced_accuracy"] == 0.5
    np.testing.assert_allclose(
        metrics.f1_rows(np.array([[1, 1, 0, 0, 1]]), np.array([[1, 0, 1, 0, 1]])), [2 / 3]
    )


def test_bootstrap_interval_contains_value_and_shrinks():
    rng = np.random.default_rng(1)
    small = rng.normal(0.5, 1, 30)
    big = rng.normal(0.5, 1, 3000)
    lo_s, hi_s = metrics.bootstrap_ci(lambda a: a.mean(1), (small,), n_boot=500)
    lo_b, hi_b = metrics.bootstrap_ci(lambda a: a.mean(1), (big,), n_boot=500)
    assert lo_s < small.mean() < hi_s and lo_b < big.mean() < hi_b
    assert (hi_b - lo_b) < (hi_s - lo_s) / 5
    # Standard error of the mean of 3000 N(0,1) draws is ~0.018: the 95% width is ~0.07.
    assert 0.05 < hi_b - lo_b < 0.09
    mean, lo, hi = metrics.mean_ci(np.array([1.0, np.nan, 3.0]))
    assert mean == 2.0 and 1.0 <= lo <= hi <= 3.0
