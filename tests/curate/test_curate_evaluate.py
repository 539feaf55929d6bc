"""Seed draws in memory: the split rule, gap closed, and codes reused without changing scores."""

from __future__ import annotations

import numpy as np
import pytest

from saescope.curate.evaluate import gap_closed, precision_over_draws, seed_pool_split
from saescope.curate.spaces import encode_codes, fit_space
from saescope.sae import SparseAutoencoder


def test_seed_pool_split_holds_seeds_out():
    is_t = np.zeros(100, bool)
    is_t[10:30] = True
    seeds, pool = seed_pool_split(is_t, 5, np.random.default_rng(0))
    assert len(set(seeds)) == 5 and is_t[seeds].all() and not pool[seeds].any() and pool.sum() == 95
    again, _ = seed_pool_split(is_t, 5, np.random.default_rng(0))
    assert seeds.tolist() == again.tolist()
    with pytest.raises(ValueError, match="only 20 target rows"):
        seed_pool_split(is_t, 20, np.random.default_rng(0))


def test_gap_closed():
    assert gap_closed(0.9, 0.8, 1.0) == pytest.approx(0.5)
    assert gap_closed(0.7, 0.8, 1.0) == pytest.approx(-0.5)
    assert np.isnan(gap_closed(1.0, 1.0, 1.0))


def test_precision_over_draws_matches_a_direct_run(planted):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    X = np.vstack([d.seed_X, d.pool_X])
    is_t = np.r_[np.ones(len(d.seed_X), bool), d.pool_is_target]
    ids = np.array([f"r{i}" for i in range(len(X))])
    res = precision_over_draws(X, ids, is_t, ["sae-pu", "random"], (50, 100), 2, 20, sae=sae)
    assert res.best == {50: 1.0, 100: 1.0}
    assert res.summary("sae-pu", 50)["min"] >= 0.9 > res.summary("random", 50)["max"]
    # the same draw by hand, encoding everything afresh
    seeds, pool = seed_pool_split(is_t, 20, np.random.default_rng(1001))
    s = fit_space("sae-pu", X[seeds], X[pool], sae=sae, seed=1).score(X[pool]).score
    top = np.argsort(-s, kind="stable")[:100]
    assert res.precision["sae-pu"][100][1] == pytest.approx(is_t[pool][top].mean())
    # codes given by the caller (sliced from one encoding of all rows) score as encoded afresh
    codes = encode_codes(sae, X)
    given = fit_space("sae-pu", X[seeds], X[pool], sae=sae, seed=1, seed_codes=codes[seeds],
                      pool_codes=codes[pool]).score(X[pool], codes=codes[pool]).score
    np.testing.assert_array_equal(given, s)


def test_draws_can_fit_on_a_sample_of_the_pool(planted):
    d = planted.data
    X = np.vstack([d.seed_X, d.pool_X])
    is_t = np.r_[np.ones(len(d.seed_X), bool), d.pool_is_target]
    ids = np.array([f"r{i}" for i in range(len(X))])
    res = precision_over_draws(X, ids, is_t, ["embedding-graph"], (100,), 1, 20, fit_sample=0.2)
    assert res.precision["embedding-graph"][100][0] >= 0.9  # the whole pool scored, 1/5 as nodes
    assert len(res.seconds["embedding-graph"]) == 1 and res.seconds["embedding-graph"][0] > 0
    with pytest.raises(ValueError, match="fit_sample"):
        precision_over_draws(X, ids, is_t, ["embedding"], (100,), 1, 20, fit_sample=0)
