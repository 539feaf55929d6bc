"""The graph's two-stage scoring (`curate.spaces.cascade`, `GraphConfig.cascade`): a cheap proxy
over every row, the full graph score only for the rows it cannot rule out."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from saescope.curate import CurateConfig, run_curate
from saescope.curate.spaces import GraphConfig, fit_space
from saescope.curate.spaces.cascade import fit_cascade
from saescope.errors import ConfigError

WORDS = {g: [f"{g}word{i}" for i in range(12)] for g in "abcde"}


def _clusters(n: int = 2000, seed: int = 0):
    """Five clusters in 16 dimensions, the target `a` 5% of the pool, each row with 4 words of
    its cluster and 2 of a shared list; 30 seeds of `a`. Returns seeds X/texts, pool X/texts/labels."""
    rng = np.random.default_rng(seed)
    centres = {g: 3.0 * rng.normal(size=16) for g in "abcde"}
    labels = rng.choice(list("abcde"), n, p=[0.05, 0.3, 0.25, 0.2, 0.2])

    def rows(gs):
        X = np.stack([centres[g] for g in gs]) + rng.normal(size=(len(gs), 16))
        texts = [" ".join(list(rng.choice(WORDS[g], 4)) + [f"common{rng.integers(20)}" for _ in range(2)])
                 for g in gs]
        return X.astype(np.float32), texts

    sX, st = rows(["a"] * 30)
    pX, pt = rows(labels)
    return sX, st, pX, pt, labels


def _fit(share, graph, sample=600, texts=True):
    sX, st, pX, pt, labels = _clusters()
    ids = np.array([f"r{i}" for i in range(len(pX))], dtype=object)
    fit = np.sort(np.random.default_rng(1).choice(len(pX), sample, replace=False))
    kw = dict(seed_texts=st, pool_texts=[pt[i] for i in fit]) if texts else {}
    fs = fit_space("embedding-graph", sX, pX[fit], pool_ids=ids[fit], graph=graph, cascade_share=share, **kw)
    return fs, pX, ids, (pt if texts else None), labels


GRAPH = GraphConfig(node_sample="uniform", second_pass=0, cascade_min_rows=10)


@pytest.mark.parametrize("texts", [True, False])
def test_cascade_selects_what_full_scoring_selects_on_a_planted_pool(texts):
    """Where the proxy separates the target (planted clusters), the top 40 of the cascade's
    scores are those of scoring every row in full, in the same order, and most rows were ruled
    out by the proxy; those score below every fully scored row."""
    fs, pX, ids, pt, labels = _fit(40 / 2000, GRAPH, texts=texts)
    cas = fs.method.cascade
    assert cas is not None and cas.active
    s = fs.score(pX, ids, pt).score
    fs.method.cascade = None  # the reference: every row in full
    full = fs.score(pX, ids, pt).score
    ruled_out = s < cas.floor
    assert 0.5 < ruled_out.mean() < 1.0
    assert full.min() >= cas.floor - 1e-4
    np.testing.assert_allclose(s[~ruled_out], full[~ruled_out], rtol=1e-5, atol=1e-5)
    top = np.argsort(-s, kind="stable")[:40]
    np.testing.assert_array_equal(top, np.argsort(-full, kind="stable")[:40])
    assert (labels[top] == "a").mean() == 1.0


def test_cascade_ruled_out_rows_keep_the_proxys_order():
    fs, pX, ids, pt, _ = _fit(40 / 2000, GRAPH)
    cas = fs.method.cascade
    chunk_scores = fs.score(pX, ids, pt)
    from saescope.linalg import unit_rows

    p = cas.proxy(unit_rows(pX, fs.mean), chunk_scores.max_sim, chunk_scores.centroid_sim)
    out = chunk_scores.score < cas.floor
    assert (p[out] < cas.cut).all() and (p[~out] >= cas.cut).all()
    np.testing.assert_array_equal(np.argsort(-chunk_scores.score[out], kind="stable"),
                                  np.argsort(-p[out], kind="stable"))


def test_cascade_falls_back_to_full_scoring():
    """A budget share whose rows to keep exceed half the pool, or a proxy that cannot rule out
    any sample row, leave no cut: every row is scored in full."""
    fs, pX, ids, pt, _ = _fit(0.4, GRAPH)
    assert fs.method.cascade is not None and not fs.method.cascade.active
    s = fs.score(pX, ids, pt).score
    fs.method.cascade = None
    np.testing.assert_array_equal(s, fs.score(pX, ids, pt).score)
    rng = np.random.default_rng(0)
    U = rng.normal(size=(2000, 8))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    noise = fit_cascade(U, rng.random(2000), rng.random(2000), rng.normal(size=2000), 0.01, -5.0,
                        1.5, 1.0, 100, 1.0)  # full scores unrelated to the features
    assert not noise.active and "cannot rule out" in noise.info["off"]


def test_cascade_off_and_no_share_score_every_row_in_full():
    for graph, share in ((GraphConfig(node_sample="uniform", second_pass=0, cascade="off"), 0.02),
                         (GRAPH, None)):
        fs, *_ = _fit(share, graph)
        assert fs.method.cascade is None
    with pytest.raises(ConfigError, match="cascade"):
        GraphConfig(cascade="sometimes")


def _curate(planted, out, **kw):
    base = dict(seeds=str(planted.seeds), pool=str(planted.pool), out=str(out), budget=20,
                projection_sample=0, fit_sample=400, graph=GraphConfig(cascade_min_rows=10))
    return run_curate(CurateConfig(**{**base, **kw}), progress=False)


def _selected(out):
    return pq.read_table(out / "selected.parquet", columns=["id", "rank"])["id"].to_pylist()


def test_curate_runs_the_cascade_and_records_it(planted, tmp_path):
    """`saescope curate` on a pool larger than its sample, with a budget: the cascade is on, its
    calibration and the count of fully scored rows are in the manifest, sidecar rows under
    `floor` are the ruled-out ones, and the selection is that of `graph.cascade` off."""
    man = _curate(planted, tmp_path / "on")
    cas = man["cascade"]
    assert cas["active"] and cas["q"] > 0 and cas["positives"] >= 10
    scores = pq.read_table(tmp_path / "on" / "scores")["score"].to_numpy()
    assert cas["n_full_scores"] == int((scores >= cas["floor"]).sum()) < len(scores)
    assert json.loads((tmp_path / "on" / "manifest.json").read_text())["cascade"]["floor"] == cas["floor"]
    _curate(planted, tmp_path / "off", graph=GraphConfig(cascade="off", cascade_min_rows=10))
    assert _selected(tmp_path / "on") == _selected(tmp_path / "off")
    sel = pq.read_table(tmp_path / "on" / "selected.parquet")["score"].to_numpy()
    assert (sel >= cas["floor"]).all()


@pytest.mark.parametrize("kw", [{"threshold": 0.0}, {"clusters": 2}, {"budget": None, "threshold": 0.5},
                                {"fit_sample": 50_000}])
def test_curate_turns_the_cascade_off_where_selection_reads_below_the_budget(planted, tmp_path, kw):
    """A threshold, quotas or no budget read scores the cascade would not compute: it is off
    (no cut fitted), so every row is scored in full; so it is on a pool that the sample holds
    whole (every row a node: the demo's figures do not change)."""
    man = _curate(planted, tmp_path / "c", **kw)
    assert man["cascade"] is None


def test_first_pass_keeps_the_rows_it_chooses():
    """`seeded_rows(keep_rows=True)` returns the raw rows at its positions (kept while the
    shards stream by, so `saescope curate` reads no vectors again), across chunks."""
    from saescope.curate.spaces.graph import seeded_rows
    from saescope.linalg import unit_rows

    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 8)).astype(np.float32)
    S = unit_rows(rng.normal(size=(4, 8)).astype(np.float32), None)
    pos, rank = seeded_rows(S, X, None, 30, ranks=True)
    pos2, rank2, rows = seeded_rows(S, (X[a:a + 97] for a in range(0, 1000, 97)), None, 30, ranks=True,
                                    keep_rows=True)
    np.testing.assert_array_equal(pos2, pos)
    np.testing.assert_array_equal(rank2, rank)
    np.testing.assert_array_equal(rows, X[pos])


@pytest.mark.parametrize("with_ids", [True, False])
def test_rows_at_reads_the_rows_at_positions_row_group_by_row_group(tmp_path, with_ids):
    """`layout.rows_at` (the fit's sample, the first pass's rows) returns the rows at the given
    positions with their ids, and `read_rows` the rows with given ids (the read-back), across
    files, shards and row groups."""
    import pyarrow as pa

    from saescope.curate.layout import pool_layout, rows_at

    rng = np.random.default_rng(0)
    (tmp_path / "pool").mkdir()
    X = rng.normal(size=(230, 4)).astype(np.float32)
    for f, (lo, hi) in enumerate([(0, 100), (100, 230)]):
        cols = {"embedding": pa.array(list(X[lo:hi]), pa.list_(pa.float32(), 4)),
                "n": np.arange(lo, hi)}
        if with_ids:
            cols = {"id": [f"x{i}" for i in range(lo, hi)], **cols}
        pq.write_table(pa.table(cols), tmp_path / "pool" / f"p{f}.parquet", row_group_size=17)
    layout = pool_layout(tmp_path / "pool", shard_rows=40)
    take = np.sort(rng.choice(230, 60, replace=False))
    t = rows_at(layout, take, ["n", "embedding"])
    assert t.column_names[0] == "id"
    assert t["n"].to_pylist() == take.tolist()
    assert t["id"].to_pylist() == [f"x{i}" if with_ids else f"row-{i}" for i in take]
    np.testing.assert_array_equal(np.stack(t["embedding"].to_numpy(zero_copy_only=False)), X[take])
    from saescope.curate.layout import read_rows

    want = set(t["id"].to_pylist())
    got = pa.concat_tables([read_rows(sh, layout, want, ["n"]) for sh in layout.shards])
    assert got["n"].to_pylist() == take.tolist() and set(got["id"].to_pylist()) == want


def test_first_pass_streaming_top_lists_match_a_full_sort():
    """The first pass's running top lists (merged chunk by chunk) are those of one stable sort
    of every row's cosine per seed, ties (repeated rows) included."""
    from saescope.curate.spaces.graph import seeded_rows
    from saescope.linalg import unit_rows

    rng = np.random.default_rng(5)
    X = rng.normal(size=(700, 6)).astype(np.float32)
    X[350:420] = X[0:70]  # exact repeats: ties broken by position
    S = unit_rows(rng.normal(size=(3, 6)).astype(np.float32), None)
    C = S @ unit_rows(X, None).T
    top = np.argsort(-C, axis=1, kind="stable")[:, :25]
    pos, rank = seeded_rows(S, (X[a:a + 64] for a in range(0, 700, 64)), None, 25, ranks=True)
    np.testing.assert_array_equal(pos, np.unique(top))
    best = {p: min(r for r in range(25) for s in range(3) if top[s, r] == p) for p in np.unique(top)}
    np.testing.assert_array_equal(rank, [best[p] for p in pos])
