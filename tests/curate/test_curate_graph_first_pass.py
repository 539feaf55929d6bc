"""`embedding-graph`'s first-pass nodes at pool scale (issue 29): the seeds' nearest pool rows and
the second pass make a dense cluster of nodes around the seeds; on an easy pool they must not
cost precision against the uniform node sample and the centred baseline."""

import numpy as np

from saescope.curate.knn import PartedIndex, ann_top_k, hnsw_index, index_from_array, index_to_array
from saescope.curate.spaces import GraphConfig, fit_space
from saescope.curate.spaces.graph import first_pass_depth, seeded_rows
from saescope.linalg import unit_rows


def _topics(rows: int = 60_000, dim: int = 384, topics: int = 20, n_seeds: int = 20, seed: int = 0):
    """Rows around `topics` well-separated centres under heavy noise (as the synthetic pool of
    benchmarks/curate_pool_scale.py: per-dimension noise 0.9, centres of norm about 8), seeds of
    topic 0. Returns seeds, pool, the pool's topics."""
    rng = np.random.default_rng(seed)
    centres = (8.0 * rng.standard_normal((topics, dim)) / np.sqrt(dim)).astype(np.float32)
    top = rng.integers(0, topics, rows)
    X = centres[top] + 0.9 * rng.standard_normal((rows, dim), dtype=np.float32)
    S = centres[0] + 0.9 * rng.standard_normal((n_seeds, dim), dtype=np.float32)
    return S, X, top


def _fit_at_scale(S, X, graph: GraphConfig, ratio: int = 20):
    """The graph fitted as `saescope curate` fits it on a pool `ratio` times its sample: a uniform
    sample, then the first pass over the whole pool. Returns the fitted space and the pool ids."""
    ids = np.array([f"r{i}" for i in range(len(X))], dtype=object)
    fit = np.sort(np.random.default_rng(1).choice(len(X), len(X) // ratio, replace=False))
    mean = X[fit].astype(np.float64).mean(axis=0).astype(np.float32)
    pos, rank = seeded_rows(unit_rows(S, mean), X, mean, first_pass_depth(graph), ranks=True)
    fs = fit_space("embedding-graph", S, X[fit], pool_ids=ids[fit], graph=graph,
                   seeded=(X[pos], None, ids[pos], rank))
    return fs, ids


def test_approx_first_pass_nodes_do_not_trap_rows_of_other_topics():
    """With `index` approx, the seeds and the first pass's rows in the same HNSW graph as the
    uniform sample trapped the greedy search of rows of other topics in that cluster (5% of them
    got mostly target rows as neighbours, so a high score), and precision fell below the uniform
    node sample's and the centred baseline's (1.0 here). The first pass's rows in an index of
    their own (`split_index`) keep such rows out."""
    S, X, top = _topics()
    budget = 1200  # 40% of the target's 3,000 rows
    fs, ids = _fit_at_scale(S, X, GraphConfig(index="approx"))
    g = fs.method
    assert len(g.graph_nodes) > len(S) + len(X) // 20 + 500  # the first pass added nodes
    off = np.flatnonzero(top != 0)[:5000]
    nbr, _ = ann_top_k(g.ann, unit_rows(X[off], g.mean), g.cfg.k, g.cfg.ef_search)
    node_rows = np.r_[np.zeros(len(S), np.int64), [int(i[1:]) for i in g.node_ids.to_pylist()]]
    target_node = top[node_rows] == 0  # seeds count as the target's
    trapped = (target_node[nbr].mean(axis=1) > 0.5).mean()
    assert trapped < 0.005
    s = fs.score(X, ids).score
    assert (top[np.argsort(-s, kind="stable")[:budget]] == 0).mean() >= 0.998


def test_parted_index_merges_its_parts_and_saves():
    """`PartedIndex`: each part searched, merged by similarity, as one exact search when the parts
    are small; the same results after `index_to_array` / `index_from_array`."""
    rng = np.random.default_rng(0)
    B = unit_rows(rng.standard_normal((300, 16)).astype(np.float32), None)
    Q = unit_rows(rng.standard_normal((40, 16)).astype(np.float32), None)
    parts = [np.arange(0, 300, 3), np.setdiff1d(np.arange(300), np.arange(0, 300, 3))]
    index = hnsw_index(B, parts)
    assert isinstance(index, PartedIndex)
    nbr, cos = ann_top_k(index, Q, 5, 200)
    want = np.argsort(-(Q @ B.T), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(nbr, want)
    np.testing.assert_allclose(cos, np.take_along_axis(Q @ B.T, want, 1), rtol=1e-5)
    again = ann_top_k(index_from_array(index_to_array(index)), Q, 5, 200)
    np.testing.assert_array_equal(again[0], nbr)
    own = want[:, 0]  # the identity rule: a row's own node is dropped
    np.testing.assert_array_equal(ann_top_k(index, Q, 4, 200, own)[0], want[:, 1:])
    assert not isinstance(hnsw_index(B, [np.arange(300), np.zeros(0, np.int64)]), PartedIndex)


def test_index_auto_is_approx_on_a_pool_larger_than_the_node_sample_and_exact_otherwise():
    """`GraphConfig.index` auto (the default): the approximate search where the pool is larger
    than what the graph holds as nodes, exact where every pool row can be a node (the demo's
    case, whose figures must not move); the fitted space records the index it used, so a saved
    fit scores as it was fitted."""
    from saescope.curate.spaces.graph import GraphSpace, resolve_index

    cfg = GraphConfig()
    assert cfg.index == "auto"
    assert resolve_index(cfg, 1000, None) == "exact"
    assert resolve_index(cfg, 1000, 1000) == "exact"
    assert resolve_index(cfg, 1000, 1001) == "approx"
    assert resolve_index(GraphConfig(nodes=500), 1000, 1000) == "approx"  # nodes a sample of the sample
    assert resolve_index(GraphConfig(index="exact"), 10, 10**8) == "exact"
    S, X, _ = _topics(rows=3000, dim=32, topics=4, n_seeds=8)
    whole = fit_space("embedding-graph", S, X)
    assert whole.method.cfg.index == "exact" and whole.method.ann is None
    part = fit_space("embedding-graph", S, X[:1000], pool_rows=len(X))
    assert part.method.cfg.index == "approx" and part.method.ann is not None
    arrays, meta = part.method.state()
    assert meta["params"]["index"] == "approx"
    assert GraphSpace.from_state(arrays, meta).ann is not None
