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
