"""Selection that scales: the streaming top-B equals the full order; seed duplicates are found by
text hash, left out of recall's denominator, and left out by the in-memory benchmark loop too."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.curate import CurateConfig, run_curate
from saescope.curate.evaluate import precision_over_draws, seed_pool_split
from saescope.curate.select import TopRows, candidate_order
from saescope.curate.text import text_hashes


@pytest.mark.parametrize("budget", [1, 7, 50, 400])
def test_top_rows_fed_shard_by_shard_equals_the_full_order(budget):
    rng = np.random.default_rng(budget)
    n = 400
    ids = np.array([f"id-{i:04d}" for i in rng.permutation(n)], dtype=object)
    score = np.round(rng.normal(size=n), 1)  # many ties, also at the budget boundary
    top = TopRows(budget)
    for lo in range(0, n, 37):  # shards of 37 rows
        top.add(np.arange(lo, min(n, lo + 37)), score[lo:lo + 37])
    assert len(top.pos) < n or budget == n
    fetched = []

    def fetch(pos):
        fetched.append(len(pos))
        return ids[pos]

    for seed in (None, 3):
        want = candidate_order(ids, score, tie_seed=seed)[:budget]
        np.testing.assert_array_equal(top.order(fetch, tie_seed=seed), want)
    assert max(fetched) <= budget + (score == np.sort(score)[::-1][budget - 1]).sum()


def test_text_hashes_strip_and_tell_texts_apart():
    h = text_hashes(["a text", "  a text\n", "a  text", None, ""])
    assert h[0] == h[1] != h[2] and h[3] == 0 and h[4] != 0


def _pool_with_seed_copy(planted, tmp_path, label: str):
    seeds = pq.read_table(planted.seeds)
    seeds = seeds.append_column("text", pa.array([f"seed text {i}" for i in range(seeds.num_rows)]))
    pq.write_table(seeds, tmp_path / "seeds.parquet")
    pool = pq.read_table(planted.pool)
    dup = pool.slice(0, 1).set_column(1, "embedding", seeds.slice(0, 1)["embedding"])
    dup = dup.set_column(0, "id", pa.array(["copy-of-seed"]))
    dup = dup.set_column(dup.schema.get_field_index("label"), "label", pa.array([label]))
    pool = pa.concat_tables([pool, dup])
    pool = pool.append_column("text", pa.array([f"pool text {i}" for i in range(pool.num_rows - 1)]
                                               + [" seed text 0 "]))
    pq.write_table(pool, tmp_path / "pool.parquet", row_group_size=200)
    return tmp_path / "seeds.parquet", tmp_path / "pool.parquet", pool


def test_recall_counts_only_the_rows_that_could_be_chosen(planted, tmp_path):
    seeds, pool_path, pool = _pool_with_seed_copy(planted, tmp_path, "domain_0")
    n_target = sum(v == "domain_0" for v in pool["label"].to_pylist())
    for extra in ({}, {"dedup": 0.9999}):  # streaming top-B and the in-memory path
        out = tmp_path / f"c{len(extra)}"
        man = run_curate(CurateConfig(seeds=str(seeds), pool=str(pool_path), out=str(out), budget=100,
                                      space="embedding", label_field="label", target=["domain_0"],
                                      shard_rows=300, projection_sample=0, **extra), progress=False)
        m = man["metrics"]
        assert m["n_seed_duplicates_excluded"] == 1 and m["seed_duplicate_ids"] == ["copy-of-seed"]
        hits = round(m["precision"] * m["n_selected"])
        assert m["recall"] == pytest.approx(hits / (n_target - 1))  # the copy could not be chosen


def test_draws_leave_out_seed_copies_as_the_cli_does(planted):
    d = planted.data
    X = np.vstack([d.seed_X, d.pool_X]).astype(np.float32)
    is_t = np.r_[np.ones(len(d.seed_X), bool), d.pool_is_target]
    ids = np.array([f"r{i}" for i in range(len(X))])
    texts = np.array([f"text {i}" for i in range(len(X))], dtype=object)
    seeds, pool = seed_pool_split(is_t, 20, np.random.default_rng(1000))
    j = np.flatnonzero(pool & ~is_t)[0]  # an off-target pool row becomes a copy of seed 0
    X[j], texts[j] = X[seeds[0]], " " + texts[seeds[0]]
    res = precision_over_draws(X, ids, is_t, ["embedding"], (1,), 1, 20, texts=texts,
                               aggregate="max")
    assert res.precision["embedding"][1] == [1.0]  # the copy (cosine 1, off target) is left out
    bare = precision_over_draws(X, ids, is_t, ["embedding"], (1,), 1, 20, aggregate="max")
    assert bare.precision["embedding"][1] == [0.0]  # without texts nothing says it is a copy


def test_draws_without_texts_in_the_space_still_leave_out_seed_copies(planted):
    """`use_text=False` (the benchmark's `embedding-graph-notext`, the CLI's `--no-use-text`): the
    space does not read the texts, but the seed-duplicate rule does, as in `saescope curate`."""
    d = planted.data
    X = np.vstack([d.seed_X, d.pool_X]).astype(np.float32)
    is_t = np.r_[np.ones(len(d.seed_X), bool), d.pool_is_target]
    ids = np.array([f"r{i}" for i in range(len(X))])
    texts = np.array([f"text {i}" for i in range(len(X))], dtype=object)
    graph = {"spaces": ["embedding-graph"], "budgets": (10, 40), "draws": 1, "n_seeds": 20}
    assert (precision_over_draws(X, ids, is_t, texts=texts, use_text=False, **graph).precision
            == precision_over_draws(X, ids, is_t, **graph).precision)  # no copies: texts unread
    seeds, pool = seed_pool_split(is_t, 20, np.random.default_rng(1000))
    j = np.flatnonzero(pool & ~is_t)[0]  # an off-target pool row becomes a copy of seed 0
    X[j], texts[j] = X[seeds[0]], texts[seeds[0]]
    kw = {"spaces": ["embedding"], "budgets": (1,), "draws": 1, "n_seeds": 20, "aggregate": "max"}
    assert precision_over_draws(X, ids, is_t, **kw).precision["embedding"][1] == [0.0]
    no_text = precision_over_draws(X, ids, is_t, texts=texts, use_text=False, **kw)
    assert no_text.precision["embedding"][1] == [1.0]  # the copy is left out
