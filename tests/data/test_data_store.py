from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.data.shards import vectors_to_arrow
from saescope.data.store import ActivationStore, write_npy_shards
from saescope.errors import ConfigError, InputError


def _data(tmp_path: Path, n: int = 3001, d: int = 8) -> tuple[np.ndarray, list[Path]]:
    X = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    X[:, 0] = np.arange(n)  # row number, to check coverage and order
    half = n // 2
    write_npy_shards(X[:half], tmp_path / "npy", shard_rows=400)
    ids = [str(i) for i in range(half, n)]
    pq.write_table(pa.table({"id": ids, "embedding": vectors_to_arrow(X[half:])}),
                   tmp_path / "acts.parquet", row_group_size=300)
    return X, [tmp_path / "npy", tmp_path / "acts.parquet"]


def test_every_row_once_per_epoch_shuffled(tmp_path: Path) -> None:
    X, paths = _data(tmp_path)
    store = ActivationStore(paths, batch_size=128, buffer_size=1000, chunk_rows=100, epochs=3, seed=0)
    assert store.num_rows == len(X) and store.dim == 8
    batches = list(store)
    assert len(batches) == len(store) == 3 * 24
    assert all(b.dtype == np.float32 and b.shape[1] == 8 for b in batches)
    rows = np.concatenate(batches)
    epochs = rows.reshape(3, len(X), 8)
    for e in epochs:
        order = e[:, 0].astype(int)
        assert np.array_equal(np.sort(order), np.arange(len(X)))
        np.testing.assert_array_equal(e[np.argsort(order)], X)
        # Shuffled: rows that follow each other on disk rarely follow each other in batches.
        assert np.mean(np.diff(order) == 1) < 0.05
    assert not np.array_equal(epochs[0][:, 0], epochs[1][:, 0])


def test_no_shuffle_keeps_order_and_torch(tmp_path: Path) -> None:
    X, paths = _data(tmp_path)
    store = ActivationStore(paths, batch_size=500, buffer_size=500, shuffle=False, drop_last=True,
                            as_torch=True)
    batches = list(store)
    assert len(batches) == len(store) == len(X) // 500
    import torch

    assert isinstance(batches[0], torch.Tensor)
    np.testing.assert_array_equal(torch.cat(batches).numpy(), X[: len(batches) * 500])


def test_bad_store_inputs(tmp_path: Path) -> None:
    write_npy_shards(np.zeros((10, 4), np.float32), tmp_path / "a")
    write_npy_shards(np.zeros((10, 5), np.float32), tmp_path / "b")
    with pytest.raises(InputError, match="5 dimensions"):
        ActivationStore([tmp_path / "a", tmp_path / "b"])
    bad = np.zeros((10, 4), np.float32)
    bad[7, 2] = np.nan
    write_npy_shards(bad, tmp_path / "nan")
    with pytest.raises(InputError, match=r"part-00000\.npy: row 7 contains NaN"):
        list(ActivationStore(tmp_path / "nan", batch_size=2, buffer_size=4))
    with pytest.raises(ConfigError):
        ActivationStore(tmp_path / "a", batch_size=8, buffer_size=4)
    with pytest.raises(InputError, match="file not found"):
        ActivationStore(tmp_path / "missing.npy")


def test_store_reads_cohere_layout(tmp_path: Path) -> None:
    """`emb` as a variable-size list<float32> column (Cohere wikipedia-22-12) works too."""
    X = np.random.default_rng(1).standard_normal((50, 6)).astype(np.float32)
    pq.write_table(pa.table({"id": list(range(50)), "title": ["t"] * 50,
                             "emb": pa.array(X.tolist(), pa.list_(pa.float32()))}),
                   tmp_path / "cohere.parquet", row_group_size=20)
    store = ActivationStore(tmp_path / "cohere.parquet", batch_size=16, buffer_size=32, shuffle=False)
    assert store.dim == 6 and store.num_rows == 50
    np.testing.assert_array_equal(np.concatenate(list(store)), X)
