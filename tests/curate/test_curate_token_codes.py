"""Documents curated by their tokens' features: a per-token store -> `encode --pool-tokens
--dense` -> `curate --sae` (SAE spaces on the pooled codes) and `hypotheses`, end to end.

Planted data: an SAE whose latent j reads dimension j (k 4); token t of a document fires the
dimensions of its word `w<j>`. Domain "a" documents are made of words w0..w5, domain "b" of
w6..w23, so the pooled codes of "a" documents live on latents 0..5.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from saescope.cli.main import run

D = 24


def _token_store(path, rng, n_docs: int, prefix: str, share_a: float) -> None:
    """One row per token (as `activations --per-token` writes): id doc:pos, doc_id, position,
    token, the document's `domain`, and a vector where the token's word dimension fires."""
    ids, docs, pos, toks, dom, rows = [], [], [], [], [], []
    for d in range(n_docs):
        is_a = rng.random() < share_a
        words = rng.choice(6, 4) if is_a else rng.choice(np.arange(6, D), 4)
        for p, w in enumerate(words, start=1):
            x = np.zeros(D, np.float32)
            x[w] = 1.0 + rng.random()
            ids.append(f"{prefix}{d}:{p}")
            docs.append(f"{prefix}{d}")
            pos.append(p)
            toks.append(f"w{w}")
            dom.append("a" if is_a else "b")
            rows.append(x)
    X = np.stack(rows)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.float32()), D)
    pq.write_table(pa.table({"id": ids, "embedding": emb, "doc_id": docs, "position": pos,
                             "token": toks, "domain": dom}), path)


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    from saescope.sae import SAEConfig, SparseAutoencoder

    tmp = tmp_path_factory.mktemp("tokcodes")
    sae = SparseAutoencoder(SAEConfig(k=4, expansion_factor=1), d_in=D)
    with torch.no_grad():  # latent j reads and writes dimension j
        sae.encoder.weight.copy_(torch.eye(D))
        sae.W_dec.copy_(torch.eye(D))
    sae.save(tmp / "sae")
    rng = np.random.default_rng(0)
    _token_store(tmp / "pool_tokens.parquet", rng, 300, "p", 0.2)
    _token_store(tmp / "seed_tokens.parquet", rng, 20, "s", 1.0)
    for name in ("pool", "seed"):
        assert run(["encode", tmp / "sae", tmp / f"{name}_tokens.parquet", "--out",
                    tmp / f"{name}_docs.parquet", "--pool-tokens", "max", "--dense", "--quiet"]) == 0
    return tmp


def test_pooled_codes_record_their_sae(pooled):
    from saescope.sae.encode import file_origin, sae_file_hash

    origin = file_origin(pooled / "pool_docs.parquet")
    assert origin["pooled_codes_of"] == sae_file_hash(pooled / "sae")
    assert origin["token_pooling"] == "max" and origin["num_latents"] == str(D)


@pytest.mark.parametrize("space", ["sae-enrich", "sae-pu", "sae"])
def test_curate_sae_spaces_read_pooled_token_codes(pooled, space):
    """Before, curate encoded the pooled codes again as if they were activations (here, where
    d_in equals the number of latents; a real token SAE, 576 -> 2,304, was refused for the
    dimension) and named no tokens. Now the SAE spaces take the rows as the SAE's codes, and
    `top_tokens` names the token where each why-latent fired."""
    out = pooled / f"cur-{space}"
    assert run(["curate", "--seeds", pooled / "seed_docs.parquet", "--pool", pooled / "pool_docs.parquet",
                "--sae", pooled / "sae", "--space", space, "--budget", "40", "--label-field", "domain",
                "--target", "a", "--out", out, "--no-progress"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["sae"]["pool_rows_are_codes"] is True
    assert man["metrics"]["precision"] >= 0.9
    sel = pq.read_table(out / "selected.parquet")
    assert "top_tokens" in sel.column_names
    for lats, toks, idx, sae_tok in zip(sel["top_latents"].to_pylist(), sel["top_tokens"].to_pylist(),
                                        sel["sae_idx"].to_pylist(), sel["sae_token"].to_pylist(),
                                        strict=True):
        assert len(toks) == len(lats) and lats
        # each named token is the document's token where that latent fired (latent j = word wj)
        assert toks == [dict(zip(idx, sae_tok, strict=True))[j] for j in lats]
        assert toks == [f"w{j}" for j in lats]


def test_codes_of_another_sae_are_refused(pooled, capsys):
    from saescope.sae import SAEConfig, SparseAutoencoder

    torch.manual_seed(1)
    SparseAutoencoder(SAEConfig(k=4, expansion_factor=1), d_in=D).save(pooled / "other")
    out = pooled / "cur-other"
    assert run(["curate", "--seeds", pooled / "seed_docs.parquet", "--pool", pooled / "pool_docs.parquet",
                "--sae", pooled / "other", "--space", "sae-enrich", "--budget", "40",
                "--out", out, "--no-progress"]) == 2
    assert "pooled codes of another SAE" in capsys.readouterr().err
    assert not (out / "manifest.json").exists()


def test_seeds_must_be_pooled_codes_too(pooled, capsys):
    out = pooled / "cur-rawseeds"
    assert run(["curate", "--seeds", pooled / "seed_tokens.parquet", "--pool", pooled / "pool_docs.parquet",
                "--sae", pooled / "sae", "--space", "sae-enrich", "--budget", "40",
                "--out", out, "--no-progress"]) == 2
    assert "the seeds do not" in capsys.readouterr().err


def test_sparse_codes_without_dense_column_get_a_clear_error(pooled, capsys):
    assert run(["encode", pooled / "sae", pooled / "pool_tokens.parquet", "--out",
                pooled / "sparse_docs.parquet", "--pool-tokens", "max", "--quiet"]) == 0
    out = pooled / "cur-sparse"
    assert run(["curate", "--seeds", pooled / "seed_docs.parquet", "--pool", pooled / "sparse_docs.parquet",
                "--sae", pooled / "sae", "--space", "sae-enrich", "--budget", "40",
                "--out", out, "--no-progress"]) == 2
    assert "--dense" in capsys.readouterr().err


def test_hypotheses_take_pooled_codes_and_name_their_tokens(pooled):
    """No `--codes` needed: the file's metadata says the rows are this SAE's codes; each latent
    comes with the tokens where it fired in its top documents."""
    out = pooled / "hyp"
    assert run(["hypotheses", pooled / "pool_docs.parquet", "--sae", pooled / "sae", "--label-field",
                "domain", "--positive", "a", "--out", out, "--no-progress", "--n-select", "6"]) == 0
    t = pq.read_table(out / "hypotheses.parquet").to_pylist()
    sig = [r for r in t if r["significant"] and r["effect"] > 0]
    assert sig and all(r["latent"] < 6 for r in sig)
    for r in t:
        assert r["top_tokens"] == [f"w{r['latent']}"]
