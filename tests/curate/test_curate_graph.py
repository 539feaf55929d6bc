"""The `embedding-graph` space: manifold ranking on a kNN graph, scored by induction."""

from __future__ import annotations

import numpy as np
import pytest

from saescope.curate import CurateConfig, run_curate
from saescope.curate.spaces import FittedSpace, fit_space, knn_rows, manifold_ranking, unit_rows
from saescope.errors import ConfigError


def _dense_reference(nodes: np.ndarray, n_seeds: int, k: int, alpha: float, steps: int) -> np.ndarray:
    """Manifold ranking written out with dense matrices and a full sort (no shared code)."""
    n = len(nodes)
    G = nodes @ nodes.T
    np.fill_diagonal(G, -np.inf)
    W = np.zeros((n, n))
    for i in range(n):
        for j in np.argsort(-G[i], kind="stable")[:k]:
            W[i, j] = max(G[i, j], 0.0)
    W = np.maximum(W, W.T)
    d = W.sum(axis=1)
    S = W / np.sqrt(np.outer(d, d))
    y = np.zeros(n)
    y[:n_seeds] = 1.0
    F = y.copy()
    for _ in range(steps):
        F = alpha * S @ F + (1 - alpha) * y
    return F


def test_manifold_ranking_matches_its_definition():
    rng = np.random.default_rng(0)
    nodes = unit_rows(rng.normal(size=(60, 5)).astype(np.float32), None)
    got = manifold_ranking(nodes, 4, k=6, alpha=0.9, steps=25)
    np.testing.assert_allclose(got, _dense_reference(nodes, 4, 6, 0.9, 25), rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="alpha"):
        manifold_ranking(nodes, 4, alpha=1.0)


def test_knn_rows_leaves_out_the_row_itself():
    import torch

    rng = np.random.default_rng(1)
    B = unit_rows(rng.normal(size=(30, 4)).astype(np.float32), None)
    for Q, nodes in ((B, B), (B[:7], torch.from_numpy(B))):  # the nodes as an array or a tensor
        nbr, cos = knn_rows(Q, nodes, 3, self_index=np.arange(len(Q)))
        assert not (nbr == np.arange(len(Q))[:, None]).any()
        full = Q @ B.T
        full[np.arange(len(Q)), np.arange(len(Q))] = -np.inf
        np.testing.assert_allclose(np.sort(cos, axis=1), np.sort(full, axis=1)[:, -3:], rtol=1e-5)
        np.testing.assert_allclose(np.take_along_axis(full, nbr, axis=1), cos, rtol=1e-5)


def _arc_and_distractors():
    """A target along a great-circle arc (seeds at one end) and a tight distractor cluster that is
    nearer the seed centroid than the far half of the arc, but not connected to the arc."""
    t = np.deg2rad(np.linspace(0, 150, 61))
    arc = np.c_[np.cos(t), np.sin(t), np.zeros_like(t)]
    rng = np.random.default_rng(2)
    centre = np.array([np.cos(np.deg2rad(60)), 0.0, np.sin(np.deg2rad(60))])
    dis = centre + 0.01 * rng.normal(size=(30, 3))
    X = np.vstack([arc, dis]).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_graph_follows_the_manifold_where_the_centroid_does_not():
    X = _arc_and_distractors()
    nodes = X  # unit rows; seeds are the first 10 arc points
    F = manifold_ranking(nodes, 10, k=4, alpha=0.95, steps=200)
    pool_arc, dis = F[10:61], F[61:]
    assert pool_arc.min() > dis.max()  # every target row above every distractor
    centroid = X[:10].mean(axis=0)
    cos = X @ centroid
    assert cos[40:61].max() < cos[61:].min()  # the centroid ranks the arc's far end below them


def test_fitted_graph_scores_rows_it_never_saw_and_survives_state(planted):
    d = planted.data
    fs = fit_space("embedding-graph", d.seed_X, d.pool_X[::2])
    assert fs.method.graph_nodes.shape == (len(d.seed_X) + len(d.pool_X[::2]), d.pool_X.shape[1])
    s = fs.score(d.pool_X).score
    is_t = d.pool_is_target
    top = np.argsort(-s)[: int(is_t.sum())]
    assert is_t[top].mean() > 0.9
    # rows outside the sample are scored as well as the sampled ones
    unseen = np.zeros(len(s), dtype=bool)
    unseen[1::2] = True
    assert is_t[top][unseen[top]].mean() > 0.9
    arrays, meta = fs.state()
    again = FittedSpace.from_state(arrays, meta)
    np.testing.assert_array_equal(again.score(d.pool_X).score, s)


def test_default_curation_explains_rows_with_the_sae_when_given(planted, tmp_path):
    import pyarrow.parquet as pq

    cfg = CurateConfig(seeds=str(planted.seeds), pool=str(planted.pool), out=str(tmp_path / "c"),
                       budget=100, sae=str(planted.sae), label_field="label", target=["domain_0"],
                       shard_rows=500, projection_sample=0)
    man = run_curate(cfg, progress=False)
    assert man["space"] == "embedding-graph" and man["metrics"]["precision"] > 0.9
    sel = pq.read_table(tmp_path / "c" / "selected.parquet")
    own = set(int(i) for i in planted.data.domain_atoms[0])
    assert np.mean([r[0] in own for r in sel["top_latents"].to_pylist()]) >= 0.9
    # without an SAE the space still runs (no why-columns then)
    man2 = run_curate(cfg.replace(sae=None, out=str(tmp_path / "c2")), progress=False)
    assert man2["metrics"]["precision"] == man["metrics"]["precision"]
    assert "top_latents" not in pq.read_table(tmp_path / "c2" / "selected.parquet").column_names


def test_tiny_and_empty_inputs():
    rng = np.random.default_rng(3)
    seeds = rng.normal(size=(2, 4)).astype(np.float32)
    fs = fit_space("embedding-graph", seeds, rng.normal(size=(1, 4)).astype(np.float32))
    assert fs.method.graph_scores.shape == (3,) and np.isfinite(fs.method.graph_scores).all()
    assert fs.score(np.zeros((0, 4), np.float32)).score.shape == (0,)
    assert np.isfinite(fs.score(rng.normal(size=(5, 4)).astype(np.float32)).score).all()
    np.testing.assert_array_equal(manifold_ranking(seeds[:1] / np.linalg.norm(seeds[0]), 1), [1.0])
