"""Example selection: disjoint splits, negatives that do not fire, spread, hard negatives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from saescope.errors import ConfigError, InputError
from saescope.interpret.examples import ExampleConfig, collect_examples


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    N, M, d, k = 5000, 64, 16, 4
    X = rng.normal(size=(N, d)).astype(np.float32)
    A = X @ rng.normal(size=(d, M)).astype(np.float32)
    idx = np.argpartition(-A, k, axis=1)[:, :k]
    vals = np.maximum(np.take_along_axis(A, idx, 1), 0)
    codes = sp.csr_matrix((vals.ravel(), idx.ravel(), np.arange(0, N * k + 1, k)), shape=(N, M))
    codes.eliminate_zeros()
    return X, codes, codes.toarray()


def test_splits_disjoint_labels_true_and_top_correct(data):
    X, codes, dense = data
    ex = collect_examples(codes, X, cfg=ExampleConfig(block_rows=333))
    for lat in range(codes.shape[1]):
        if ex.n_fires[lat] < 60:
            continue
        e = ex.for_latent(lat, "explain")
        t = ex.for_latent(lat, "test")
        assert not set(e["row"]) & set(t["row"])
        for part in (e, t):
            np.testing.assert_allclose(dense[part["row"], lat], part["activation"])
            assert np.array_equal(dense[part["row"], lat] > 0, part["label"] == 1)
        assert (e["label"] == 1).sum() == 20 and (e["label"] == 0).sum() == 10
        assert (t["label"] == 1).sum() == 20 and (t["label"] == 0).sum() == 20
        top_true = np.sort(dense[:, lat])[::-1][:10]
        np.testing.assert_allclose(e["activation"][e["kind"] == "top"], top_true)
        assert ex.n_fires[lat] == (dense[:, lat] > 0).sum()


def test_block_size_does_not_change_top_examples(data):
    X, codes, _ = data
    a = collect_examples(codes, X, cfg=ExampleConfig(block_rows=97))
    b = collect_examples(codes, X, cfg=ExampleConfig(block_rows=100_000))
    np.testing.assert_allclose(a.top_acts, b.top_acts)
    assert np.array_equal(a.n_fires, b.n_fires)


def test_random_negatives_spread_over_the_data(data):
    X, codes, dense = data
    N = codes.shape[0]
    ex = collect_examples(codes, X, cfg=ExampleConfig(n_test_hard_negative=0))
    rows = ex.row[ex.kind == 2]
    assert len(rows) > 1000
    # Uniform over [0, N): mean near N/2 and every fifth of the data is used.
    assert abs(rows.mean() - N / 2) < 0.05 * N
    assert np.all(np.histogram(rows, bins=5, range=(0, N))[0] > 0.15 * len(rows))
    lat = ex.latent[ex.kind == 2]
    assert np.all(dense[rows, lat] == 0)


def test_hard_negatives_are_close_and_do_not_fire(data):
    X, codes, dense = data
    ex = collect_examples(codes, X)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    closer = []
    for lat in range(codes.shape[1]):
        d = ex.for_latent(lat)
        hard = d["row"][d["kind"] == "hard_negative"]
        rand = d["row"][d["kind"] == "random_negative"]
        top = d["row"][d["kind"] == "top"]
        if len(hard) == 0:
            continue
        assert np.all(dense[hard, lat] == 0)
        c = Xn[top].sum(0)
        c /= np.linalg.norm(c)
        closer.append((Xn[hard] @ c).mean() > (Xn[rand] @ c).mean())
    assert len(closer) > 30 and all(closer)


def test_small_latent_still_gets_test_positives():
    codes = sp.csr_matrix(([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], ([0, 10, 20, 30, 40, 50], [0] * 6)), shape=(100, 2))
    ex = collect_examples(codes, None)
    e, t = ex.for_latent(0, "explain"), ex.for_latent(0, "test")
    assert (e["label"] == 1).sum() == 3 and (t["label"] == 1).sum() == 3
    assert e["activation"][0] == 6.0
    assert not set(e["row"]) & set(t["row"])
    assert len(ex.for_latent(1)["row"]) == 0  # dead latent
    assert ex.density[0] == 0.06


def test_bad_input_and_config():
    codes = sp.csr_matrix(np.eye(4, dtype=np.float32))
    with pytest.raises(InputError, match="latent index out of range"):
        collect_examples(codes, None, latents=[7])
    with pytest.raises(InputError, match="X has 3 rows"):
        collect_examples(codes, np.zeros((3, 2), np.float32))
    with pytest.raises(ConfigError, match="reservoir"):
        ExampleConfig(reservoir=5)


def test_explain_and_test_sets_are_disjoint_by_text():
    # Every text occurs twice (rows i and i + N under other ids): a row-disjoint split would put
    # one copy in the explain set and the other in the test set.
    rng = np.random.default_rng(3)
    n, m = 300, 4
    dense = np.where(rng.random((n, m)) < 0.3, 1 + rng.random((n, m)), 0.0)
    codes = sp.csr_matrix(np.concatenate([dense, dense]))
    texts = [f"text {i}" for i in range(n)] * 2
    texts[5 + n] = "  TEXT   5 "  # the same text up to case and spaces
    ex = collect_examples(codes, None, cfg=ExampleConfig(n_test_hard_negative=0), texts=texts)
    overlaps_by_row = 0
    for lat in range(m):
        e, t = ex.for_latent(lat, "explain"), ex.for_latent(lat, "test")
        e_text = {" ".join(texts[r].split()).lower() for r in e["row"]}
        t_text = [" ".join(texts[r].split()).lower() for r in t["row"]]
        assert not e_text & set(t_text) and len(t_text) == len(set(t_text))
        assert (t["label"] == 1).sum() >= 10  # the test set keeps positives after the dedup
        overlaps_by_row += len({r % n for r in e["row"]} & {r % n for r in t["row"]})
    without = collect_examples(codes, None, cfg=ExampleConfig(n_test_hard_negative=0))
    leaked = sum(
        len({r % n for r in without.for_latent(lat, "explain")["row"]} & {r % n for r in without.for_latent(lat, "test")["row"]})
        for lat in range(m)
    )
    assert overlaps_by_row == 0 and leaked > 0  # without texts the duplicates do leak
    with pytest.raises(InputError, match="texts for"):
        collect_examples(codes, None, texts=texts[:10])


def test_quantile_bins_follow_activation(data):
    X, codes, _ = data
    ex = collect_examples(codes, X, cfg=ExampleConfig(n_quantiles=5))
    for lat in range(codes.shape[1]):
        if ex.n_fires[lat] < 200:
            continue
        t = ex.for_latent(lat, "test")
        pos = t["kind"] == "quantile"
        q, a = t["quantile"][pos], t["activation"][pos]
        assert set(q.tolist()) == set(range(5))  # 20 test texts spread over the 5 bins
        higher = a[:, None] > a[None, :]
        assert (q[:, None] <= q[None, :])[higher].all()  # bin 0 holds the strongest
        assert (t["quantile"][t["label"] == 0] == -1).all()
        assert (ex.for_latent(lat, "explain")["quantile"][ex.for_latent(lat, "explain")["kind"] == "top"] == 0).all()
