"""`saescope hypotheses` end to end on planted data with a hand-built SAE (latent j = dimension j)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from saescope.cli.main import run

D = 24
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"]


def _write(path, X, ids, **cols):
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.float32()), X.shape[1])
    pq.write_table(pa.table({"id": ids, "embedding": emb, **cols}), path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from saescope.sae import SAEConfig, SparseAutoencoder

    tmp = tmp_path_factory.mktemp("hyp")
    sae = SparseAutoencoder(SAEConfig(k=4, expansion_factor=1), d_in=D)
    with torch.no_grad():  # latent j reads and writes dimension j
        sae.encoder.weight.copy_(torch.eye(D))
        sae.W_dec.copy_(torch.eye(D))
    sae.save(tmp / "sae")
    rng = np.random.default_rng(0)
    n = 1600
    active = np.stack([rng.choice(D, 3, replace=False) for _ in range(n)])
    X = np.zeros((n, D), np.float32)
    np.put_along_axis(X, active, 1 + rng.random((n, 3)).astype(np.float32), axis=1)
    has = lambda j: (active == j).any(1)  # noqa: E731
    p = np.where(has(0) | has(1), 0.9, 0.15)
    label = np.where(rng.random(n) < p, "yes", "no")
    texts = [" ".join(f"{WORDS[j]} word{j}" for j in row) + f" filler {i % 7}" for i, row in enumerate(active)]
    ids = [f"r{i}" for i in range(n)]
    # 100 duplicates of earlier rows under new ids: the split must keep each text on one side.
    dup = rng.choice(n, 100, replace=False)
    X = np.concatenate([X, X[dup]])
    ids += [f"dup{i}" for i in dup]
    texts += [texts[i] for i in dup]
    label = np.concatenate([label, label[dup]])
    _write(tmp / "a.parquet", X, ids, text=texts, label=label.tolist(), topic=[f"t{i % 3}" for i in range(len(ids))])
    b_rows = ~has(5)[: n]
    _write(tmp / "b.parquet", X[:n][b_rows], [f"b{i}" for i in range(int(b_rows.sum()))],
           text=[t for t, k in zip(texts[:n], b_rows, strict=True) if k])
    return tmp


def test_label_hypotheses_recover_planted_latents(files, capsys):
    out = files / "out"
    assert run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--label-field", "label", "--out", out,
                "--fdr", "0.05", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    table = pq.read_table(out / "hypotheses.parquet").to_pandas()
    for col in ("latent", "effect", "ci_low", "ci_high", "p", "q", "purity", "explanation"):
        assert col in table.columns, col
    sig = table[table.q <= 0.05]
    assert {0, 1} <= set(sig.latent), sig
    planted = sig[sig.latent.isin([0, 1])]
    assert (planted.effect > 0).all() and (planted.purity >= 0.7).all()
    assert all(WORDS[j] in e for j, e in zip(planted.latent, planted.explanation, strict=True))
    assert (table.q >= table.p - 1e-12).all() and table.q.between(0, 1).all()
    m = json.loads((out / "manifest.json").read_text())
    assert m["outcome"]["positive"] == "yes" and m["split"]["texts_in_both"] == 0
    assert m["auroc"]["selected_features"] > 0.75 and m["auroc"]["raw_embedding"] > 0.75
    assert "held-out auroc" in printed and ("latent 0:" in printed or "latent 1:" in printed)
    # A finished folder is kept unless --overwrite.
    assert run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--label-field", "label", "--out", out,
                "--no-progress"]) == 2


def test_compare_finds_what_a_has_that_b_lacks(files):
    out = files / "cmp"
    assert run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--compare", files / "b.parquet",
                "--out", out, "--no-progress"]) == 0
    table = pq.read_table(out / "hypotheses.parquet").to_pandas()
    top = table.iloc[0]
    assert int(top.latent) == 5 and top.effect > 0 and top.q < 1e-6 and top.purity == 1.0


def test_bad_label_input_is_named(files, capsys):
    code = run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--label-field", "topic",
                "--out", files / "bad", "--no-progress"])
    assert code == 2 and "choose one with --positive" in capsys.readouterr().err
    code = run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--label-field", "topic", "--positive",
                "T1", "--out", files / "bad2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "'T1' does not occur" in err and "t1" in err
    code = run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--label-field", "nope",
                "--out", files / "bad3", "--no-progress"])
    assert code == 2 and "no label column 'nope'" in capsys.readouterr().err


def test_codes_given_directly(files):
    """--codes: the rows are already the SAE's codes (documents as pooled token codes); here the
    identity SAE's codes of the rows are the rows, so both runs find the same hypotheses."""
    base, direct = files / "enc", files / "direct"
    assert run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--label-field", "label",
                "--out", base, "--no-progress"]) == 0
    assert run(["hypotheses", files / "a.parquet", "--sae", files / "sae", "--label-field", "label",
                "--out", direct, "--codes", "--no-progress"]) == 0
    a = pq.read_table(base / "hypotheses.parquet").to_pandas()
    b = pq.read_table(direct / "hypotheses.parquet").to_pandas()
    assert a.latent.tolist() == b.latent.tolist()
    np.testing.assert_allclose(a.effect, b.effect, rtol=1e-5)
    narrow = files / "narrow.parquet"
    _write(narrow, np.ones((50, 5), np.float32), [f"n{i}" for i in range(50)], label=["yes", "no"] * 25)
    assert run(["hypotheses", narrow, "--sae", files / "sae", "--label-field", "label",
                "--out", files / "bad", "--codes", "--no-progress"]) == 2
