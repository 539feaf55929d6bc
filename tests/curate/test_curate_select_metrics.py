"""Selection rules (threshold, budget, quotas, dedup) and the streaming metrics vs brute force."""

from __future__ import annotations

import numpy as np
import pytest

from saescope.curate.metrics import UnitSum, avg_similarity, diversity, precision_recall_f1
from saescope.curate.select import candidate_order, select
from saescope.errors import InputError


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def test_streaming_metrics_match_brute_force():
    rng = np.random.default_rng(0)
    U = _unit(rng.standard_normal((57, 9)) + 0.3)
    S = _unit(rng.standard_normal((11, 9)))
    sel, seeds = UnitSum.zeros(9), UnitSum.zeros(9)
    for part in np.array_split(U, 4):  # streamed in chunks
        sel.add_rows(part)
    seeds.add_rows(S)
    G = U @ U.T
    n = len(U)
    brute_div = 1 - (G.sum() - np.trace(G)) / (n * (n - 1))
    assert diversity(sel) == pytest.approx(brute_div, abs=1e-12)
    assert avg_similarity(sel, seeds) == pytest.approx((U @ S.T).mean(), abs=1e-12)
    # a zero row has cosine 0 with everything and no diagonal term
    Z = np.vstack([U[:3], np.zeros((1, 9))])
    z = UnitSum.zeros(9)
    z.add_rows(Z)
    Gz = Z @ Z.T
    assert diversity(z) == pytest.approx(1 - (Gz.sum() - np.trace(Gz)) / 12, abs=1e-12)
    assert np.isnan(diversity(UnitSum.zeros(9)))


def test_precision_recall_f1_by_hand():
    m = precision_recall_f1(n_selected=10, n_hits=6, n_targets=20)
    assert m["precision"] == 0.6 and m["recall"] == 0.3
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.3 / 0.9)


def test_threshold_and_budget():
    ids = np.array([f"r{i:02d}" for i in range(20)])
    score = np.linspace(0, 1, 20)[::-1].copy()
    score[5] = np.nan
    got = select(ids, score, budget=100 // 10)
    assert list(got) == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]  # NaN never selected
    got = select(ids, score, budget=None, threshold=0.5)
    assert set(got) == {i for i in range(20) if score[i] >= 0.5} and len(got) == 9
    got = select(ids, score, budget=15, threshold=0.5)  # the threshold wins over the budget
    assert len(got) == 9 and score[got].min() >= 0.5
    with pytest.raises(InputError, match="larger than the pool"):
        select(ids, score, budget=21)


def test_ties_broken_by_id_not_position():
    ids = np.array(["b", "c", "a", "d"])
    assert list(select(ids, np.array([1.0, 1.0, 1.0, 0.5]), budget=3)) == [2, 0, 1]


def test_equal_quotas_round_robin_and_leftovers():
    ids = np.array([f"r{i:03d}" for i in range(100)])
    rng = np.random.default_rng(1)
    score = rng.random(100)
    cluster = np.array([0] * 60 + [1] * 35 + [2] * 5)
    got = select(ids, score, budget=30, cluster=cluster)
    counts = np.bincount(cluster[got], minlength=3)
    # cluster 2 has only 5 rows: it gives its share to the others, which split evenly
    assert counts.tolist() == [13, 12, 5] or counts.tolist() == [12, 13, 5]
    for k in range(3):  # within a cluster, the best rows are taken
        mine = np.flatnonzero(cluster == k)
        best = mine[np.argsort(-score[mine])][: counts[k]]
        assert set(got[cluster[got] == k]) == set(best)
    # house monotone: a smaller budget is a prefix of the larger one
    assert list(select(ids, score, budget=10, cluster=cluster)) == list(got[:10])


def test_seed_weighted_quotas():
    ids = np.array([f"r{i:03d}" for i in range(90)])
    score = np.random.default_rng(2).random(90)
    cluster = np.repeat([0, 1, 2], 30)
    got = select(ids, score, budget=20, cluster=cluster, cluster_weights=np.array([3.0, 1.0, 0.0]))
    assert np.bincount(cluster[got], minlength=3).tolist() == [15, 5, 0]
    order = candidate_order(ids, score, cluster, None, np.array([3.0, 1.0, 0.0]))
    assert (cluster[order[-30:]] == 2).all()  # weight 0 comes last


def test_dedup_drops_near_duplicates():
    rng = np.random.default_rng(3)
    base = _unit(rng.standard_normal((30, 16)))
    X = np.vstack([base, _unit(base[:10] + 1e-3 * rng.standard_normal((10, 16)))])
    ids = np.array([f"r{i:02d}" for i in range(40)])
    score = np.r_[np.linspace(1, 0.5, 30), np.linspace(0.99, 0.9, 10)]
    got = select(ids, score, budget=30, dedup=0.99, fetch_unit=lambda idx: X[idx], block=7)
    assert len(got) == 30
    for i in range(10):  # of each near-duplicate pair exactly one survives: the better scored
        pair = {i, 30 + i}
        assert len(pair & set(got)) == 1 and max(pair, key=lambda j: score[j]) in got
    G = X[got] @ X[got].T
    assert (G - np.eye(30)).max() < 0.99
    # without dedup the duplicates (high scores) are in
    assert len(set(select(ids, score, budget=30)) & set(range(30, 40))) == 10
