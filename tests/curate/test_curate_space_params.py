"""Spaces as estimators: family parameters are configuration (saved, in the scoring key, on the
command line), fits saved before load with the defaults, and the graph's identity rule."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.curate import CurateConfig, run_curate
from saescope.curate.spaces import FittedSpace, GraphConfig, PUConfig, fit_space
from saescope.errors import ConfigError


def test_graph_parameters_are_saved_with_the_fit(planted):
    d = planted.data
    ids = np.array([f"p{i}" for i in range(len(d.pool_X))], dtype=object)
    small = fit_space("embedding-graph", d.seed_X, d.pool_X, graph=GraphConfig(k=5, steps=10),
                      pool_ids=ids)
    default = fit_space("embedding-graph", d.seed_X, d.pool_X, pool_ids=ids)
    s_small, s_default = small.score(d.pool_X, ids).score, default.score(d.pool_X, ids).score
    assert not np.allclose(s_small, s_default)  # the parameter reaches the method
    arrays, meta = small.state()
    assert meta["params"]["k"] == 5 and meta["params"]["steps"] == 10
    again = FittedSpace.from_state(arrays, json.loads(json.dumps(meta)))
    assert again.method.cfg == GraphConfig(k=5, steps=10, index="exact")  # the index it used (auto: the sample is the pool)
    np.testing.assert_array_equal(again.score(d.pool_X, ids).score, s_small)


def test_a_fit_saved_before_the_parameters_loads_with_the_defaults(planted):
    d = planted.data
    fs = fit_space("embedding-graph", d.seed_X, d.pool_X)
    arrays, meta = fs.state()
    old_meta = {k: v for k, v in meta.items() if k != "params"}  # what spaces.py used to write
    old = FittedSpace.from_state(arrays, old_meta)
    assert old.method.cfg == GraphConfig()
    np.testing.assert_array_equal(old.score(d.pool_X).score, fs.score(d.pool_X).score)
    pu = fit_space("embedding-pu", d.seed_X, d.pool_X, pu=PUConfig(c=0.1, feedback=0))
    a, m = pu.state()
    assert FittedSpace.from_state(a, {k: v for k, v in m.items() if k != "params"}).method.cfg == PUConfig()
    assert FittedSpace.from_state(a, m).method.cfg == PUConfig(c=0.1, feedback=0)


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="graph.k"):
        GraphConfig(k=0)
    with pytest.raises(ConfigError, match="alpha"):
        CurateConfig(pool="p", out="o", budget=5, graph={"alpha": 1.5})
    with pytest.raises(ConfigError, match="C must be > 0"):
        PUConfig(c=0)


def test_cli_sets_nested_parameters_and_a_change_rescores(planted, tmp_path):
    from saescope.cli.main import main

    base = ["curate", "--seeds", str(planted.seeds), "--pool", str(planted.pool), "--budget", "50",
            "--no-progress", "--projection-sample", "0", "--out", str(tmp_path / "o")]
    main(base)
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["config"]["graph"]["k"] == 20
    key = json.loads((tmp_path / "o" / "fit" / "space.json").read_text())
    assert key["meta"]["params"]["k"] == 20 and key["info"]["key"]["graph"]["k"] == 20
    main([*base, "--graph-k", "7", "--overwrite"])
    space = json.loads((tmp_path / "o" / "fit" / "space.json").read_text())
    assert space["meta"]["params"]["k"] == 7 and space["info"]["key"]["graph"]["k"] == 7
    cfg = CurateConfig(seeds="s", pool="p", out="o", budget=1)
    assert cfg.scoring_key() != cfg.replace(graph=GraphConfig(k=7)).scoring_key()
    assert CurateConfig.from_dict(cfg.replace(pu=PUConfig(c=1.0)).to_dict()).selection.pu.c == 1.0


def test_an_exact_copy_of_a_seed_ranks_where_a_near_copy_does(planted, tmp_path):
    """A node is left out of its own neighbours by identity, not by cosine: a pool row that is an
    exact copy of a seed (no texts, so no text rule removes it) keeps the seed as its best
    neighbour, as a near copy does (the cosine rule used to push it down the ranking)."""
    seeds = pq.read_table(planted.seeds)
    pool = pq.read_table(planted.pool)
    x0 = np.asarray(seeds["embedding"][0].as_py(), dtype=np.float32)
    rng = np.random.default_rng(0)
    near = x0 + 0.02 * np.linalg.norm(x0) / np.sqrt(len(x0)) * rng.normal(size=len(x0)).astype(np.float32)
    assert 0.999 < near @ x0 / (np.linalg.norm(near) * np.linalg.norm(x0)) < 1 - 1e-5
    extra = pool.slice(0, 2)
    extra = extra.set_column(0, "id", pa.array(["exact-copy", "near-copy"]))
    extra = extra.set_column(1, "embedding", pa.array([x0.tolist(), near.tolist()], extra.schema.field(1).type))
    pq.write_table(pa.concat_tables([pool, extra]), tmp_path / "pool.parquet")
    out = tmp_path / "c"
    run_curate(CurateConfig(seeds=str(planted.seeds), pool=str(tmp_path / "pool.parquet"),
                            out=str(out), budget=pool.num_rows + 2, projection_sample=0), progress=False)
    sel = pq.read_table(out / "selected.parquet", columns=["id", "rank"]).to_pydict()
    rank = dict(zip(sel["id"], sel["rank"], strict=True))
    assert rank["exact-copy"] <= rank["near-copy"] + 3


def test_approximate_neighbours_select_what_exact_ones_do(planted):
    """`index: approx` (faiss HNSW; text neighbours re-ranked exactly among a shortlist) against
    the exact reference on planted data: the same top rows up to a small overlap loss."""
    from test_curate_text import _confusable

    from saescope.curate.knn import ann_top_k, hnsw_index, top_k
    from saescope.linalg import unit_rows

    d = planted.data
    ids = np.array([f"p{i}" for i in range(len(d.pool_X))], dtype=object)
    B = unit_rows(d.pool_X, d.pool_X.mean(axis=0))
    own = np.arange(len(B))
    exact_nbr, exact_cos = top_k(B, B, 10, self_index=own)
    nbr, cos = ann_top_k(hnsw_index(B), B, 10, 64, own)
    assert not (nbr == own[:, None]).any()  # the identity rule holds on the approximate path
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(nbr, exact_nbr, strict=True)])
    assert recall > 0.9 and np.abs(np.sort(cos, 1) - np.sort(exact_cos, 1)).mean() < 0.01
    tops = {}
    for index in ("exact", "approx"):
        fs = fit_space("embedding-graph", d.seed_X, d.pool_X, graph=GraphConfig(index=index),
                       pool_ids=ids)
        tops[index] = np.argsort(-fs.score(d.pool_X, ids).score, kind="stable")[:300]
    assert len(set(tops["exact"]) & set(tops["approx"])) / 300 > 0.9
    assert d.pool_is_target[tops["approx"]].mean() >= d.pool_is_target[tops["exact"]].mean() - 0.02
    again = FittedSpace.from_state(*fs.state())  # the HNSW index is saved with the fit
    np.testing.assert_array_equal(again.score(d.pool_X, ids).score, fs.score(d.pool_X, ids).score)
    sX, st, pX, pt, labels = _confusable()
    n = int((labels == "a").sum())
    prec, top_n = {}, {}
    for index in ("exact", "approx"):
        fs = fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt,
                       graph=GraphConfig(index=index))
        top_n[index] = set(np.argsort(-fs.score(pX, None, pt).score, kind="stable")[:n])
        prec[index] = (labels[list(top_n[index])] == "a").mean()
    assert prec["approx"] >= prec["exact"] - 0.05 and prec["approx"] > 0.75
    assert len(top_n["exact"] & top_n["approx"]) / n > 0.9  # with texts: the same top rows


def _rare_target(rng: np.random.Generator):
    """A pool of 4,000 rows in 8 broad background clusters and a rare target (30 rows, 0.75%)
    beside one of them, 6 seeds from the target; the fit sample is a uniform 5% of the pool."""
    d, n_bg, n_t = 16, 4000, 30
    centres = rng.normal(size=(8, d)) * 3
    bg = centres[rng.integers(0, 8, n_bg)] + rng.normal(size=(n_bg, d))
    t_centre = centres[0] + rng.normal(size=d) * 3.0 / np.sqrt(d)
    target = t_centre + 0.6 * rng.normal(size=(n_t + 6, d))
    pool_X = np.vstack([bg, target[6:]]).astype(np.float32)
    is_t = np.r_[np.zeros(n_bg, bool), np.ones(n_t, bool)]
    ids = np.array([f"r{i}" for i in range(len(pool_X))], dtype=object)
    fit = np.sort(rng.choice(len(pool_X), len(pool_X) // 20, replace=False))
    return target[:6].astype(np.float32), pool_X, is_t, ids, fit


def test_seeded_node_sample_finds_a_rare_target_the_uniform_sample_misses():
    """With the uniform sample holding almost none of the target, the seeded node sample puts
    the seeds' neighbourhood among the nodes and selects more of the target. (Not on every draw
    of this planted pool: where the target overlaps its background cluster the extra background
    nodes beside the seeds can also lower the top rows; docs/results/curation.md.)"""
    from saescope.curate.spaces.graph import seeded_rows
    from saescope.linalg import unit_rows

    seeds, pool_X, is_t, ids, fit = _rare_target(np.random.default_rng(3))
    assert is_t[fit].sum() <= 3  # the uniform sample barely holds the target
    mean = pool_X[fit].mean(axis=0)
    extra = seeded_rows(unit_rows(seeds, mean), pool_X, mean, per_seed=20, chunk=1000)
    kept = {}
    for mode in ("uniform", "seeded"):
        fs = fit_space("embedding-graph", seeds, pool_X[fit], pool_ids=ids[fit],
                       graph=GraphConfig(node_sample=mode, second_pass=0),
                       seeded=(pool_X[extra], None, ids[extra]))
        node_ids = set(fs.method.node_ids.to_pylist())
        kept[mode] = (sum(i in node_ids for i in ids[is_t]),
                      is_t[np.argsort(-fs.score(pool_X, ids).score, kind="stable")[:30]].mean())
    assert kept["seeded"][0] >= 3 * max(kept["uniform"][0], 1)  # target rows among the nodes
    assert kept["seeded"][1] >= kept["uniform"][1] + 0.2  # and more of it in the top 30


def test_seeded_node_sample_changes_nothing_when_the_pool_is_the_sample(planted):
    from saescope.curate.spaces.graph import seeded_rows
    from saescope.linalg import unit_rows

    d = planted.data
    ids = np.array([f"p{i}" for i in range(len(d.pool_X))], dtype=object)
    mean = d.pool_X.mean(axis=0)
    extra = seeded_rows(unit_rows(d.seed_X, mean), d.pool_X, mean, per_seed=20)
    assert len(extra) > 0
    scores = [fit_space("embedding-graph", d.seed_X, d.pool_X, pool_ids=ids,
                        graph=GraphConfig(node_sample=mode), seeded=(d.pool_X[extra], None, ids[extra])
                        ).score(d.pool_X, ids).score for mode in ("uniform", "seeded")]
    np.testing.assert_array_equal(scores[0], scores[1])


def test_seeded_rows_is_each_seeds_nearest_rows_in_any_chunking():
    from saescope.curate.spaces.graph import seeded_rows

    rng = np.random.default_rng(1)
    S = rng.normal(size=(3, 8)).astype(np.float32)
    P = rng.normal(size=(500, 8)).astype(np.float32)
    mean = P.mean(axis=0)
    from saescope.linalg import unit_rows

    C = unit_rows(S, mean) @ unit_rows(P, mean).T
    want = np.unique(np.argsort(-C, axis=1)[:, :7])
    rank = np.argsort(np.argsort(-C, axis=1), axis=1)  # each row's rank among each seed's
    for chunk in (1000, 64, 7):
        np.testing.assert_array_equal(seeded_rows(unit_rows(S, mean), P, mean, 7, chunk=chunk), want)
        pos, best = seeded_rows(unit_rows(S, mean), P, mean, 7, chunk=chunk, ranks=True)
        np.testing.assert_array_equal(pos, want)
        np.testing.assert_array_equal(best, rank[:, pos].min(axis=0))
    with pytest.raises(ConfigError, match="node_sample"):
        GraphConfig(node_sample="nearest")


def test_curate_with_a_seeded_node_sample_adds_the_seeds_neighbours_as_nodes(planted, tmp_path):
    """`saescope curate --graph-node-sample seeded` runs the first pass over the pool's shards:
    the fitted graph holds the uniform sample plus the seeds' nearest pool rows, saved with the
    fit and in the scoring key."""
    from saescope.curate.fitstate import load_space

    nodes = {}
    for mode, second in (("uniform", 0), ("seeded", 0), ("seeded", 2), ("uniform", 2)):
        out = tmp_path / f"{mode}{second}"
        run_curate(CurateConfig(seeds=str(planted.seeds), pool=str(planted.pool), out=str(out),
                                budget=20, projection_sample=0, fit_sample=100,
                                graph={"node_sample": mode, "seed_neighbours": 5, "second_pass": second,
                                       "shortlist": 10}), progress=False)
        space = json.loads((out / "fit" / "space.json").read_text())
        assert space["meta"]["params"]["node_sample"] == mode
        assert space["info"]["key"]["graph"]["second_pass"] == second
        nodes[mode, second] = len(load_space(out / "fit", None, "cpu").method.graph_nodes)
    n_seeds = pq.read_table(planted.seeds).num_rows
    assert nodes["uniform", 0] == n_seeds + 100
    assert nodes["uniform", 0] < nodes["seeded", 0] <= nodes["uniform", 0] + 5 * n_seeds
    assert nodes["seeded", 2] == nodes["seeded", 0] + 2 * n_seeds  # the second pass's rows
    assert nodes["uniform", 2] == nodes["uniform", 0] + 2 * n_seeds


def test_curate_skips_the_first_pass_when_every_pool_row_is_a_node(planted, tmp_path, monkeypatch):
    """The default (seeded nodes, second pass) on a pool that the sample holds whole: the first
    pass is not run (it could add no node) and the nodes are the seeds and the pool."""
    import saescope.curate.spaces.graph as graph

    def fail(*a, **k):
        raise AssertionError("first pass run")

    monkeypatch.setattr(graph, "seeded_rows", fail)
    out = tmp_path / "c"
    run_curate(CurateConfig(seeds=str(planted.seeds), pool=str(planted.pool), out=str(out), budget=20,
                            projection_sample=0), progress=False)
    from saescope.curate.fitstate import load_space

    n = pq.read_table(planted.seeds).num_rows + pq.read_table(planted.pool).num_rows
    assert len(load_space(out / "fit", None, "cpu").method.graph_nodes) == n


def _first_pass(sX, pX, pt, ids, fit, depth):
    """`fit_space`'s `seeded` tuple from the first pass over the whole pool (as `saescope curate`)."""
    from saescope.curate.spaces.graph import seeded_rows
    from saescope.linalg import unit_rows

    mean = pX[fit].astype(np.float64).mean(axis=0).astype(np.float32)
    pos, rank = seeded_rows(unit_rows(sX, mean), pX, mean, depth, ranks=True)
    return pX[pos], [pt[i] for i in pos], ids[pos], rank


def test_first_pass_options_change_nothing_when_the_pool_is_the_sample():
    """Seeded nodes, the second pass and pseudo-positives from the nodes only add rows that are
    not nodes: with the whole pool as the sample the scores are those of the uniform graph."""
    from test_curate_text import _confusable

    sX, st, pX, pt, _ = _confusable()
    ids = np.array([f"r{i}" for i in range(len(pX))], dtype=object)
    seeded = _first_pass(sX, pX, pt, ids, np.arange(len(pX)), 40)
    plain = GraphConfig(node_sample="uniform", second_pass=0, feedback_from="sample")
    full = GraphConfig(node_sample="seeded", seed_neighbours=10, second_pass=5, shortlist=40,
                       feedback_from="nodes")
    scores = [fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt, pool_ids=ids, graph=g,
                        seeded=seeded).score(pX, ids, pt).score for g in (plain, full)]
    np.testing.assert_array_equal(scores[0], scores[1])


def test_second_pass_adds_the_first_graphs_best_shortlist_rows():
    """`second_pass`: the graph fitted on the sample and the seeds' nearest rows scores the first
    pass's shortlist, and its `second_pass x seeds` best rows that are not nodes become nodes."""
    from test_curate_text import _confusable

    sX, st, pX, pt, labels = _confusable(n_per=300)
    ids = np.array([f"r{i}" for i in range(len(pX))], dtype=object)
    fit = np.sort(np.random.default_rng(0).choice(len(pX), len(pX) // 10, replace=False))
    seeded = _first_pass(sX, pX, pt, ids, fit, 40)
    kw = {"seed_texts": st, "pool_texts": [pt[i] for i in fit], "pool_ids": ids[fit], "seeded": seeded}
    one = fit_space("embedding-graph", sX, pX[fit], graph=GraphConfig(seed_neighbours=5, second_pass=0,
                                                                      shortlist=40), **kw)
    two = fit_space("embedding-graph", sX, pX[fit], graph=GraphConfig(seed_neighbours=5, second_pass=3,
                                                                      shortlist=40), **kw)
    nodes_one = set(one.method.node_ids.to_pylist())
    free = np.array([i not in nodes_one for i in seeded[2]])
    s = one.score(seeded[0], seeded[2], seeded[1]).score
    order = np.flatnonzero(free)[np.argsort(-s[free], kind="stable")]
    want = set(seeded[2][order[: 3 * len(sX)]])
    assert set(two.method.node_ids.to_pylist()) - nodes_one == want
    assert len(two.method.graph_nodes) == len(one.method.graph_nodes) + 3 * len(sX)
    assert (labels[[int(i[1:]) for i in want]] == "a").mean() > 0.8  # mostly the target's rows


def test_first_pass_nodes_stay_within_the_node_budget():
    """Seeded nodes and the second pass shrink the uniform draw, and never take the nodes beside
    the seeds past `nodes`."""
    from test_curate_text import _confusable

    sX, st, pX, pt, _ = _confusable(n_per=300)
    ids = np.array([f"r{i}" for i in range(len(pX))], dtype=object)
    fit = np.sort(np.random.default_rng(0).choice(len(pX), 300, replace=False))
    seeded = _first_pass(sX, pX, pt, ids, fit, 200)
    for nodes in (2000, 400, 100):
        fs = fit_space("embedding-graph", sX, pX[fit], seed_texts=st, pool_texts=[pt[i] for i in fit],
                       pool_ids=ids[fit], seeded=seeded, graph=GraphConfig(nodes=nodes, seed_neighbours=10))
        n = len(fs.method.graph_nodes) - len(sX)
        assert n <= nodes and len(set(fs.method.node_ids.to_pylist())) == n  # no row twice
        if nodes == 2000:
            assert n > 300 + 10  # with room, the first pass's nodes come on top of the sample
