"""Metric definitions against hand computations and their streamed versions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import explained_variance_score

from saescope.sae import metrics


def test_fvu_hand_computed():
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0]])  # mean [2, 1]; sum ||x - mean||^2 = 4
    x_hat = torch.tensor([[1.0, 1.0], [2.0, 2.0]])  # sum ||x - x_hat||^2 = 1 + 1 = 2
    assert metrics.fvu(x, x_hat).item() == pytest.approx(0.5)
    # A reconstruction equal to the mean has FVU 1; a perfect one 0.
    assert metrics.fvu(x, x.mean(0).expand_as(x)).item() == pytest.approx(1.0)
    assert metrics.fvu(x, x).item() == 0.0


def test_l0_frequencies_dead_dense():
    acts = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.0, 0.0], [3.0, 1.0, 0.0]])
    idx = torch.tensor([[0, 1, 2], [0, 3, 4], [0, 1, 4]])
    assert metrics.l0(acts).item() == pytest.approx(5 / 3)
    freq = metrics.firing_frequencies(acts, idx, 6)
    assert freq.tolist() == pytest.approx([1.0, 2 / 3, 0, 0, 0, 0])
    assert metrics.dead_fraction(freq) == pytest.approx(4 / 6)
    assert metrics.dense_fraction(freq) == pytest.approx(2 / 6)


def test_explained_variance_matches_sklearn_and_cosine():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    x_hat = x + 0.3 * rng.standard_normal((40, 5)) + 0.5  # an offset: EV ignores it, FVU not
    ev = metrics.explained_variance(torch.tensor(x), torch.tensor(x_hat)).item()
    assert ev == pytest.approx(explained_variance_score(x, x_hat, multioutput="variance_weighted"))
    assert ev > 1 - metrics.fvu(torch.tensor(x), torch.tensor(x_hat)).item()
    cos = metrics.cosine(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])).item()
    assert cos == pytest.approx(2**-0.5)


def test_accumulator_equals_whole_set():
    """Streamed FVU is the ratio of sums over the whole set, not a mean of batch ratios."""
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal((100, 4)) * np.arange(1, 5) + 2)
    x_hat = x + torch.tensor(rng.standard_normal((100, 4)))
    acts = torch.tensor(rng.random((100, 3)) * (rng.random((100, 3)) > 0.3))
    idx = torch.tensor(rng.integers(0, 10, (100, 3)))
    acc = metrics.MetricAccumulator(10, 4)
    for s in range(0, 100, 30):
        acc.update(x[s:s + 30], x_hat[s:s + 30], acts[s:s + 30], idx[s:s + 30])
    r = acc.result()
    assert r["fvu"] == pytest.approx(metrics.fvu(x, x_hat).item(), rel=1e-6)
    assert r["explained_variance"] == pytest.approx(
        metrics.explained_variance(x, x_hat).item(), rel=1e-6)
    assert r["l0"] == pytest.approx(metrics.l0(acts).item())
    assert r["cosine"] == pytest.approx(metrics.cosine(x, x_hat).item(), rel=1e-6)
    assert acc.frequencies() == pytest.approx(metrics.firing_frequencies(acts, idx, 10).numpy())
    assert r["n_samples"] == 100
