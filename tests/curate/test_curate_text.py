"""The lexical channel of `embedding-graph`: hashed word n-grams (`curate.text`), the summed graph,
the self-trained classifier, and texts travelling through the pipeline and its executors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from saescope.curate import CurateConfig, run_curate
from saescope.curate.knn import top_k
from saescope.curate.spaces import FittedSpace, fit_space
from saescope.curate.text import (
    TEXT_FEATURES,
    fit_idf,
    hashed_counts,
    prune_rows,
    text_units,
)
from saescope.data.shards import vectors_to_arrow


def test_tf_idf_rows_follow_the_definition():
    texts = ["apple apple apple banana", "banana cherry", "cherry date", "date", "elder"] + ["fig"] * 15
    C = hashed_counts(texts)
    assert C.shape == (20, TEXT_FEATURES)
    # sublinear tf: unigram "apple" 3 times -> 1 + ln 3; the bigram "apple apple" twice -> 1 + ln 2
    np.testing.assert_allclose(sorted(C[0].data), sorted([1 + np.log(3), 1 + np.log(2), 1, 1]), rtol=1e-6)
    idf = fit_idf(C)
    col = {t: hashed_counts([t]).indices[0] for t in ("banana", "elder", "fig", "date")}
    assert idf[col["banana"]] == pytest.approx(np.log(21 / 3) + 1)  # df 2 of 20
    assert idf[col["elder"]] == 0.0  # df 1 < 2: too rare
    assert idf[col["fig"]] == 0.0  # df 15 > 0.2 x 20: a stop word
    U = text_units(texts, idf)
    norms = np.sqrt(np.asarray(U.multiply(U).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[:4], 1.0, rtol=1e-6)
    assert norms[4] == 0.0 and norms[5] == 0.0  # nothing weighted left: a zero row
    # "date" alone shares only "date" with "cherry date": cosine = w_date / |cherry date|
    w_c, w_d = idf[hashed_counts(["cherry"]).indices[0]], idf[col["date"]]
    nbr, cos = top_k(U[3:4], U[:4], 1, self_index=np.array([3]))
    assert nbr[0, 0] == 2 and cos[0, 0] == pytest.approx(w_d / np.hypot(w_c, w_d), rel=1e-5)


def _sklearn_counts(texts):
    """What `hashed_counts` computed before it was vectorised: scikit-learn's own hashing."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(analyzer="word", ngram_range=(1, 2), n_features=TEXT_FEATURES,
                            alternate_sign=False, norm=None, lowercase=True, dtype=np.float32)
    C = sp.csr_matrix(vec.transform(["" if t is None else str(t) for t in texts]))
    C.data = (1.0 + np.log(C.data)).astype(np.float32)
    return C


def test_hashed_counts_are_scikit_learns_features_bit_for_bit():
    """Every saved fit holds node rows and an idf over these buckets: the numpy hashing must give
    scikit-learn's HashingVectorizer features exactly (buckets, counts, order, dtype)."""
    odd = ["", None, "a", "a b c", "Hello, World! hello world", "ÀÉÎõü straße İstanbul ΑΣ ΟΔΟΣ σ",
           "日本語のテキスト 漢字 123 ４５６", "emoji 😀😀 x😀y a_b __ _x tab\tsep\nnew\rline",
           "café cafe\u0301 x\u0301y", "١٢٣ عربي", "a" * 300 + " " + "b" * 299, "x\x00y zz\x00zz",
           "ǅemo ǈj", "ﬁnance ﬂow", "ⅻ ½ ² x²y ①②", "\ud800 lone surrogate zz", 12345, "ab\u200bcd ef\u00a0gh",
           "abc" * 5 + " end", "the cell's ATP (ΔG < 0) -- 3.5% of $x_1$"]
    rng = np.random.default_rng(0)
    chars = list("abcdefghij ABC.,;:'-_\n\t0123") + ["é", "ß", "Σ", "日", "😀", "\u0301", "İ", "ﬁ", "²"]
    rand = ["".join(rng.choice(chars, rng.integers(0, 60))) for _ in range(400)]
    for texts in (odd, rand, odd[::-1] + rand[:50], [""], [None, None], ["only one"]):
        got, want = hashed_counts(texts), _sklearn_counts(texts)
        assert got.shape == want.shape and got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)
    assert hashed_counts([]).shape == (0, TEXT_FEATURES)


def test_pruning_keeps_each_rows_highest_weighted_ngrams():
    rng = np.random.default_rng(0)
    A = sp.random(30, 500, density=0.05, random_state=1, format="csr", dtype=np.float32)
    A.data = rng.permutation(np.arange(1, A.nnz + 1)).astype(np.float32)  # distinct weights
    P = prune_rows(A.copy(), 4)
    for i in range(30):
        row = A[i].toarray().ravel()
        expect = np.zeros_like(row)
        top = np.argsort(-row)[:min(4, A[i].nnz)]
        expect[top] = row[top]
        np.testing.assert_array_equal(P[i].toarray().ravel(), expect)  # the 4 largest, not the first 4
    assert (np.diff(A.indptr) > 4).any() and np.diff(P.indptr).max() == 4
    # in text_units the pruning comes before the unit scaling, and keeps the largest tf-idf terms
    texts = ["alpha beta gamma delta", "alpha beta", "alpha gamma", "alpha", "beta"] + ["filler"] * 15
    C = hashed_counts(texts)
    idf = fit_idf(C)
    full, pruned = text_units(C, idf), text_units(C, idf, max_terms=1)
    best = full[0].indices[full[0].data == full[0].data.max()].min()  # ties: the lower bucket
    assert full[0].nnz > 1 and pruned[0].nnz == 1 and pruned[0].indices[0] == best
    assert pruned[0].data[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="max_terms"):
        prune_rows(A.copy(), 0)


VOCAB = {g: [f"{g}word{i}" for i in range(20)] for g in ("a", "b", "c")}
COMMON = [f"common{i}" for i in range(3)]


def _confusable(n_per: int = 150, n_seeds: int = 30, seed: int = 0):
    """Groups a (target) and b share one embedding cluster, c another; only the words of a
    and b differ. Returns seed X/texts, pool X/texts/labels."""
    rng = np.random.default_rng(seed)
    centre = {"a": rng.normal(size=16), "c": rng.normal(size=16)}
    centre["b"] = centre["a"]

    def rows(g: str, n: int):
        X = (centre[g] + 0.6 * rng.normal(size=(n, 16))).astype(np.float32)
        texts = [" ".join(list(rng.choice(VOCAB[g], 5)) + list(rng.choice(COMMON, 3))) for _ in range(n)]
        return X, texts

    sX, st = rows("a", n_seeds)
    parts = [rows(g, n_per) for g in "abc"]
    pX = np.vstack([p[0] for p in parts])
    pt = sum((p[1] for p in parts), [])
    labels = np.repeat(list("abc"), n_per)
    return sX, st, pX, pt, labels


def test_words_find_the_target_the_embeddings_cannot_tell_apart():
    sX, st, pX, pt, labels = _confusable()
    n = int((labels == "a").sum())
    bare = fit_space("embedding-graph", sX, pX).score(pX).score
    fs = fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt)
    assert fs.text_field == "text" and fs.method.graph_coef is not None
    with_text = fs.score(pX, None, pt).score
    p_bare = (labels[np.argsort(-bare)[:n]] == "a").mean()
    p_text = (labels[np.argsort(-with_text)[:n]] == "a").mean()
    assert p_bare < 0.6  # a and b are one cluster to the embeddings (chance: 0.5)
    assert p_text > 0.75 and p_text > p_bare + 0.2
    # the final score is the sum of the two standardised scores over the sample
    g = fs.method
    own = len(sX) + np.arange(len(pX))  # each sample row's own node, never its neighbour
    f = g.induction(pX, text_units(pt, g.text_idf), own).astype(np.float64)
    assert g.graph_fuse[0] == pytest.approx(f.mean()) and g.graph_fuse[1] == pytest.approx(f.std())


def test_text_space_round_trips_and_refuses_rows_without_texts():
    sX, st, pX, pt, _ = _confusable(n_per=40, n_seeds=10, seed=1)
    fs = fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt, text_field="body")
    s = fs.score(pX, None, pt).score
    arrays, meta = fs.state()
    again = FittedSpace.from_state(arrays, meta)
    assert again.text_field == "body"
    np.testing.assert_array_equal(again.score(pX, None, pt).score, s)
    with pytest.raises(ValueError, match="body"):
        again.score(pX)
    with pytest.raises(ValueError, match="one text per row"):
        fit_space("embedding-graph", sX, pX, seed_texts=st[:-1], pool_texts=pt)


def test_pruned_space_prunes_nodes_and_scored_rows_and_round_trips():
    sX, st, pX, pt, _ = _confusable(n_per=40, n_seeds=10, seed=3)
    fs = fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt, text_max_terms=3)
    full = fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt, text_max_terms=0)
    assert np.diff(fs.method.text_nodes.indptr).max() == 3 < np.diff(full.method.text_nodes.indptr).max()
    s = fs.score(pX, None, pt).score
    again = FittedSpace.from_state(*fs.state())
    assert again.method.text_max_terms == 3
    np.testing.assert_array_equal(again.score(pX, None, pt).score, s)
    again.method.text_max_terms = 0  # scoring prunes the rows' texts as the fit did
    assert not np.array_equal(again.score(pX, None, pt).score, s)


def _write(tmp_path, sX, st, pX, pt, labels):
    seeds = tmp_path / "seeds.parquet"
    pq.write_table(pa.table({"id": [f"s{i}" for i in range(len(sX))], "embedding": vectors_to_arrow(sX),
                             "text": st}), seeds)
    pool = tmp_path / "pool"
    pool.mkdir()
    ids = [f"p{i:04d}" for i in range(len(pX))]
    order = np.random.default_rng(0).permutation(len(pX))  # groups spread over both files
    half = len(pX) // 2
    for j, part in enumerate((order[:half], order[half:])):
        pq.write_table(pa.table({"id": [ids[i] for i in part], "embedding": vectors_to_arrow(pX[part]),
                                 "text": [pt[i] for i in part], "label": labels[part].tolist()}),
                       pool / f"part-{j}.parquet", row_group_size=64)
    return seeds, pool


def test_curate_reads_the_texts_locally_and_on_ray(tmp_path):
    pytest.importorskip("ray")
    sX, st, pX, pt, labels = _confusable()
    seeds, pool = _write(tmp_path, sX, st, pX, pt, labels)
    cfg = CurateConfig(seeds=str(seeds), pool=str(pool), out=str(tmp_path / "loc"), budget=150,
                       label_field="label", target=["a"], shard_rows=100, projection_sample=0)
    man = run_curate(cfg, progress=False)
    assert man["metrics"]["precision"] > 0.75 and man["text_column"] == "text"
    bare = run_curate(cfg.replace(use_text=False, out=str(tmp_path / "bare")), progress=False)
    assert bare["metrics"]["precision"] < 0.6 and bare["text_column"] is None
    ray_man = run_curate(cfg.replace(executor="ray", out=str(tmp_path / "ray")), progress=False)
    loc = pq.read_table(tmp_path / "loc" / "selected.parquet").to_pydict()
    ray = pq.read_table(tmp_path / "ray" / "selected.parquet").to_pydict()
    assert ray["id"] == loc["id"] and ray_man["metrics"] == man["metrics"]
    np.testing.assert_allclose(ray["score"], loc["score"], rtol=1e-5)


def test_cli_switches_the_channel_off(tmp_path, capsys):
    import json

    from saescope.cli.main import main

    sX, st, pX, pt, labels = _confusable(n_per=60, n_seeds=20, seed=2)
    seeds, pool = _write(tmp_path, sX, st, pX, pt, labels)
    base = ["curate", "--seeds", str(seeds), "--pool", str(pool), "--budget", "60", "--no-progress",
            "--label-field", "label", "--target", "a", "--projection-sample", "0"]
    main([*base, "--out", str(tmp_path / "on")])
    main([*base, "--out", str(tmp_path / "off"), "--no-use-text"])
    on = json.loads((tmp_path / "on" / "manifest.json").read_text())
    off = json.loads((tmp_path / "off" / "manifest.json").read_text())
    assert on["text_column"] == "text" and on["config"]["use_text"] is True
    assert off["text_column"] is None and off["config"]["use_text"] is False
    assert on["metrics"]["precision"] > off["metrics"]["precision"]
    main([*base, "--out", str(tmp_path / "cap"), "--text-max-terms", "2"])
    cap = json.loads((tmp_path / "cap" / "manifest.json").read_text())
    assert cap["config"]["text_max_terms"] == 2 and on["config"]["text_max_terms"] == 128


def test_tiny_empty_and_textless_inputs():
    rng = np.random.default_rng(0)
    seeds, one = rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=(1, 4)).astype(np.float32)
    fs = fit_space("embedding-graph", seeds, one, seed_texts=["a b", "c d"], pool_texts=["a b"])
    assert np.isfinite(fs.score(one, None, ["a b"]).score).all()
    assert fs.score(np.zeros((0, 4), np.float32), None, []).score.shape == (0,)
    # texts without a single kept n-gram (empty, None): the words add nothing, nothing breaks
    pool = rng.normal(size=(30, 4)).astype(np.float32)
    fs = fit_space("embedding-graph", seeds, pool, seed_texts=["", None], pool_texts=[""] * 30)
    assert fs.method.text_nodes.nnz == 0 and np.isfinite(fs.score(pool, None, [None] * 30).score).all()


def test_graph_fit_shows_its_stages_only_when_asked(capsys):
    sX, st, pX, pt, _ = _confusable(n_per=40, n_seeds=10)
    fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt)
    assert "fit embedding-graph" not in capsys.readouterr().err
    fit_space("embedding-graph", sX, pX, seed_texts=st, pool_texts=pt, progress=True)
    err = capsys.readouterr().err
    # graph then classifier: 2 stages, all done, on the 10 seeds + 120 sample rows
    assert "fit embedding-graph (130 nodes)" in err and "2/2" in err and "classifier" in err
    fit_space("embedding-graph", sX, pX, progress=True)  # no words: one stage
    err = capsys.readouterr().err
    assert "1/1" in err and "classifier" not in err
