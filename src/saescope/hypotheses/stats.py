"""Statistics of the hypothesis tests: correlation with interval and p-value, BH FDR, purity."""

from __future__ import annotations

import numpy as np
from scipy import stats


def correlation_test(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Pearson r of x with y, its confidence interval and the two-sided p-value of r = 0.

    p from t = r sqrt((n-2)/(1-r^2)) with n-2 degrees of freedom (Student 1908; with a 0/1 `y`
    this is the point-biserial correlation and the test equals the two-sample t-test); the
    interval by Fisher's z-transform, atanh(r) +/- z_(1-a/2) / sqrt(n-3) (Fisher 1915).
    A constant x or y gives (0, NaN, NaN, 1): no evidence of an effect.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0, float("nan"), float("nan"), 1.0
    res = stats.pearsonr(x, y)
    ci = res.confidence_interval(confidence_level=level)
    return float(res.statistic), float(ci.low), float(ci.high), float(res.pvalue)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values): reject H_i at FDR level a when q_i <= a.

    q_(i) = min_{j >= i} min(1, m p_(j) / j) over the p-values sorted ascending (Benjamini &
    Hochberg 1995, "Controlling the false discovery rate", JRSS B 57(1), the step-up procedure;
    the adjusted form as in R's p.adjust(method = "BH")). NaN p-values are left out (q NaN).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return q


def label_purity(acts: np.ndarray, y: np.ndarray, n_top: int, sign: float, threshold: float = 0.5) -> tuple[float, float]:
    """(purity, positive share) of a latent's `n_top` most activating rows that fire.

    Positive share: the fraction of them whose outcome is above `threshold` (label 1). Purity:
    the fraction with the label the latent predicts (positive share when its effect is >= 0,
    else 1 - positive share). NaN when the latent fires on none of the rows.
    """
    firing = np.flatnonzero(acts > 0)
    if len(firing) == 0:
        return float("nan"), float("nan")
    top = firing[np.argsort(-acts[firing], kind="stable")[:n_top]]
    share = float(np.mean(y[top] > threshold))
    return (share if sign >= 0 else 1.0 - share), share
