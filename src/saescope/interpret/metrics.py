"""Statistics behind the interpretation scores: AUROC, Pearson r, F1, bootstrap intervals.

Every function takes plain numpy arrays, ignores NaN entries (unparseable answers are NaN and
are counted by the caller, never silently turned into a class), and returns NaN when the
quantity is undefined (one class only, zero variance) instead of a made-up number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney statistic.

    AUROC = (R_1 - n_1 (n_1 + 1) / 2) / (n_1 n_0), with R_1 the sum of the (tie-averaged) ranks
    of the positives among all scores (Hanley & McNeil 1982, "The meaning and use of the area
    under a ROC curve", Radiology 143). Ties count one half. NaN if a class is empty.
    """
    return float(auroc_rows(np.asarray(scores, float)[None], np.asarray(labels)[None])[0])


def auroc_rows(scores_RN: np.ndarray, labels_RN: np.ndarray) -> np.ndarray:
    """Row-wise AUROC (same formula as `auroc`) for a batch of score vectors; NaN entries ignored."""
    scores_RN = np.asarray(scores_RN, dtype=np.float64)
    labels_RN = np.asarray(labels_RN).astype(bool)
    valid = ~np.isnan(scores_RN)
    # Invalid entries get +inf rank-wise but are removed from both classes' counts and rank sums.
    filled = np.where(valid, scores_RN, np.inf)
    from scipy.stats import rankdata  # scipy.stats takes a second to import: only when scoring

    ranks = rankdata(filled, axis=1)
    pos = labels_RN & valid
    neg = ~labels_RN & valid
    n1 = pos.sum(1).astype(np.float64)
    n0 = neg.sum(1).astype(np.float64)
    # Ranks among valid entries only: invalid entries (ranked last) do not shift valid ranks.
    r1 = np.where(pos, ranks, 0.0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (r1 - n1 * (n1 + 1) / 2) / (n1 * n0)
    out[(n1 == 0) | (n0 == 0)] = np.nan
    return out


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson product-moment correlation r = cov(x, y) / (sd(x) sd(y)) over pairs without NaN.

    (Pearson 1895.) NaN when either side has zero variance or fewer than 2 pairs.
    """
    return float(pearson_rows(np.asarray(x, float)[None], np.asarray(y, float)[None])[0])


def pearson_rows(x_RN: np.ndarray, y_RN: np.ndarray) -> np.ndarray:
    """Row-wise Pearson r (formula as in `pearson`), NaN pairs ignored."""
    x_RN = np.asarray(x_RN, dtype=np.float64)
    y_RN = np.asarray(y_RN, dtype=np.float64)
    valid = ~(np.isnan(x_RN) | np.isnan(y_RN))
    n = valid.sum(1).astype(np.float64)
    xv = np.where(valid, x_RN, 0.0)
    yv = np.where(valid, y_RN, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = xv.sum(1) / n
        my = yv.sum(1) / n
        dx = np.where(valid, x_RN - mx[:, None], 0.0)
        dy = np.where(valid, y_RN - my[:, None], 0.0)
        sxy = (dx * dy).sum(1)
        sxx = (dx * dx).sum(1)
        syy = (dy * dy).sum(1)
        r = sxy / np.sqrt(sxx * syy)
    tiny = 1e-12
    r[(n < 2) | (sxx <= tiny) | (syy <= tiny)] = np.nan
    return r


def binary_metrics(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 and balanced accuracy of binary predictions (NaN = no answer).

    precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN) (the
    harmonic mean of P and R, van Rijsbergen 1979, written in counts so that it is defined
    whenever there is anything to find or anything was claimed); balanced accuracy =
    (TPR + TNR) / 2 (Brodersen et al. 2010, "The balanced accuracy and its posterior
    distribution"). Precision of a predictor that never says "yes" is undefined (NaN), but its
    F1 is 0: it found none of the positives. (An F1 of NaN there would drop the worst latents
    from every average.) F1 is NaN only when there are no positives and no "yes" answers.
    """
    pred = np.asarray(pred, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    valid = ~np.isnan(pred)
    p = pred[valid] > 0.5
    y = labels[valid]
    tp = float(np.sum(p & y))
    fp = float(np.sum(p & ~y))
    fn = float(np.sum(~p & y))
    tn = float(np.sum(~p & ~y))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    tnr = _ratio(tn, tn + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "balanced_accuracy": (recall + tnr) / 2,
    }


def balanced_accuracy_rows(pred_RN: np.ndarray, labels_RN: np.ndarray) -> np.ndarray:
    """Row-wise balanced accuracy (formula as in `binary_metrics`), NaN answers ignored."""
    pred_RN = np.asarray(pred_RN, dtype=np.float64)
    y = np.asarray(labels_RN).astype(bool)
    valid = ~np.isnan(pred_RN)
    p = pred_RN > 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = (p & y & valid).sum(1) / (y & valid).sum(1)
        tnr = (~p & ~y & valid).sum(1) / (~y & valid).sum(1)
    return (tpr + tnr) / 2


def f1_rows(pred_RN: np.ndarray, labels_RN: np.ndarray) -> np.ndarray:
    """Row-wise F1 = 2 TP / (2 TP + FP + FN) (as in `binary_metrics`); NaN only when 2TP+FP+FN is 0."""
    pred_RN = np.asarray(pred_RN, dtype=np.float64)
    y = np.asarray(labels_RN).astype(bool)
    valid = ~np.isnan(pred_RN)
    p = (pred_RN > 0.5) & valid
    tp = (p & y).sum(1).astype(np.float64)
    fp = (p & ~y).sum(1)
    fn = (~p & y & valid).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 2 * tp / (2 * tp + fp + fn)
    out[(2 * tp + fp + fn) == 0] = np.nan
    return out


def accuracy_rows(correct_RN: np.ndarray) -> np.ndarray:
    """Row-wise mean of 0/1 outcomes (NaN = no answer, ignored)."""
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.asarray(correct_RN, dtype=np.float64), axis=1)


def bootstrap_ci(
    stat_rows: Callable[..., np.ndarray],
    arrays: tuple[np.ndarray, ...],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13) of a statistic.

    `arrays` are aligned 1-D arrays (one entry per item: a test text, a latent); each of the
    `n_boot` resamples draws items with replacement and `stat_rows` computes the statistic for
    all resamples at once (row-wise). Resamples where it is undefined (NaN) are dropped.
    """
    n = len(arrays[0])
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    stats = stat_rows(*(np.asarray(a)[idx] for a in arrays))
    stats = stats[~np.isnan(stats)]
    if len(stats) < max(10, n_boot // 10):
        return (float("nan"), float("nan"))
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def mean_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean over items (NaN ignored) with its percentile-bootstrap 95% interval."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return (float("nan"), float("nan"), float("nan"))
    lo, hi = bootstrap_ci(lambda a: a.mean(1), (v,), n_boot=n_boot, seed=seed)
    if len(v) == 1:
        lo = hi = float(v[0])
    return (float(v.mean()), lo, hi)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")
