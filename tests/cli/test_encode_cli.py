"""`saescope encode`: sparse Parquet codes equal to the API's, ids kept, bad input refused."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from saescope.cli.main import run
from saescope.sae import SAEConfig, SparseAutoencoder, encode_csr


@pytest.fixture(scope="module")
def sae_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encode") / "sae"
    sae = SparseAutoencoder(SAEConfig(arch="relu", k=2, num_latents=20), d_in=6,
                            generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sae.encoder.bias.fill_(-0.3)  # a varying number of active latents per row
    sae.save(folder)
    return folder


def test_encode_parquet_matches_api(tmp_path, sae_dir):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((130, 6)).astype(np.float32)
    ids = [f"doc{i}" for i in range(130)]
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 6)
    pq.write_table(pa.table({"id": ids, "embedding": emb}), tmp_path / "v.parquet")
    assert run(["encode", sae_dir, tmp_path / "v.parquet", "--out", tmp_path / "c.parquet",
                "--batch-size", "32", "--quiet"]) == 0
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.schema.field("sae_idx").type == pa.list_(pa.int32())
    assert table.schema.field("sae_val").type == pa.list_(pa.float32())
    assert table["id"].to_pylist() == ids
    expected = encode_csr(SparseAutoencoder.load(sae_dir), X)
    lengths = [len(v) for v in table["sae_idx"].to_pylist()]
    assert lengths == np.diff(expected.indptr).tolist()
    assert len(set(lengths)) > 1  # really variable-length, no zero padding stored
    got = np.concatenate([np.asarray(v, np.float32) for v in table["sae_val"].to_pylist()])
    idx = np.concatenate([np.asarray(v, np.int32) for v in table["sae_idx"].to_pylist()])
    assert np.array_equal(idx, expected.indices) and np.allclose(got, expected.data)
    assert (got != 0).all()


def test_encode_bad_inputs(tmp_path, capsys, sae_dir):
    np.save(tmp_path / "wrong.npy", np.zeros((5, 7), np.float32))
    assert run(["encode", sae_dir, tmp_path / "wrong.npy", "--out", tmp_path / "c.parquet"]) == 2
    assert "7 dimensions" in capsys.readouterr().err and not (tmp_path / "c.parquet").exists()
    X = np.ones((5, 6), np.float32)
    X[3, 0] = np.nan
    np.save(tmp_path / "nan.npy", X)
    assert run(["encode", sae_dir, tmp_path / "nan.npy", "--out", tmp_path / "c.parquet"]) == 2
    assert "row 3" in capsys.readouterr().err
    assert run(["encode", sae_dir, tmp_path / "nan.npy", "--out", tmp_path / "c.parquet",
                "--drop-nonfinite", "--quiet"]) == 0
    assert pq.read_table(tmp_path / "c.parquet")["id"].to_pylist() == [0, 1, 2, 4]
    assert run(["encode", sae_dir, tmp_path / "nan.npy", "--out", tmp_path / "c.parquet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run(["encode", tmp_path, tmp_path / "nan.npy", "--out", tmp_path / "d.parquet"]) == 2
    assert "not an SAE folder" in capsys.readouterr().err


def test_encode_pools_a_per_token_store_per_document(tmp_path, sae_dir):
    from saescope.sae.encode import TokenPooling, pool_token_codes

    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 6)).astype(np.float32)
    docs = ["d0"] * 5 + ["d1"] * 4 + ["d2"] * 3
    pos = [p for n in (5, 4, 3) for p in range(1, n + 1)]
    toks = [f"t{i}" for i in range(12)]
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 6)
    pq.write_table(pa.table({"id": [f"{d}:{p}" for d, p in zip(docs, pos, strict=True)],
                             "embedding": emb, "doc_id": docs, "position": pos, "token": toks,
                             "domain": ["a"] * 5 + ["b"] * 4 + ["a"] * 3}),
                   tmp_path / "tok.parquet")
    assert run(["encode", sae_dir, tmp_path / "tok.parquet", "--out", tmp_path / "d.parquet",
                "--pool-tokens", "max", "--dense", "--quiet"]) == 0
    t = pq.read_table(tmp_path / "d.parquet")
    assert t["id"].to_pylist() == ["d0", "d1", "d2"] and t["n_tokens"].to_pylist() == [5, 4, 3]
    assert t["domain"].to_pylist() == ["a", "b", "a"]  # document columns come along
    want = pool_token_codes(encode_csr(SparseAutoencoder.load(sae_dir), X), np.array(docs),
                            TokenPooling(how="max")).codes.toarray()
    dense = np.stack(t["embedding"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(dense, want, rtol=1e-6)
    for r in range(3):  # each latent's token is the row where it fired most in that document
        rows = [i for i, d in enumerate(docs) if d == f"d{r}"]
        codes = encode_csr(SparseAutoencoder.load(sae_dir), X[rows]).toarray()
        for j, tok in zip(t["sae_idx"][r].as_py(), t["sae_token"][r].as_py(), strict=True):
            assert tok == toks[rows[int(np.argmax(codes[:, j]))]]


def test_encode_pool_tokens_needs_a_per_token_store(tmp_path, capsys, sae_dir):
    np.save(tmp_path / "v.npy", np.ones((4, 6), np.float32))
    assert run(["encode", sae_dir, tmp_path / "v.npy", "--out", tmp_path / "d.parquet",
                "--pool-tokens", "mean"]) == 2
    assert "doc_id" in capsys.readouterr().err and not (tmp_path / "d.parquet").exists()
