"""Sparse codes of many vectors: a scipy CSR matrix, or a Parquet file of (index, value) lists.

Codes are never densified: each batch's active (index, value) pairs go straight into the CSR
arrays or the Parquet list columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from saescope.errors import InputError
from saescope.sae.model import SparseAutoencoder


def _check(sae: SparseAutoencoder, X: Any, source: str) -> None:
    if len(X.shape) != 2:
        raise InputError(f"{source}: expected a 2-D array [N, D], got shape {tuple(X.shape)}")
    if X.shape[1] != sae.d_in:
        raise InputError(
            f"{source}: vectors have {X.shape[1]} dimensions, the SAE expects {sae.d_in} (d_in)"
        )


@torch.no_grad()
def iter_codes(sae: SparseAutoencoder, X: Any, batch_size: int = 4096, progress: bool = False,
               source: str = "input") -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per batch: (indptr [b+1] from 0, indices int32, values float32), rows sorted by index."""
    _check(sae, X, source)
    n = X.shape[0]
    bar = tqdm(total=n, disable=not progress, desc="encode", unit="vec", dynamic_ncols=True)
    for start in range(0, n, batch_size):
        x = torch.as_tensor(np.array(X[start:start + batch_size], dtype=np.float32),
                            device=sae.device)
        out = sae.encode(x)
        vals = out.top_acts.float().cpu().numpy()
        idx = out.top_indices.cpu().numpy()
        active = vals != 0
        # Inactive slots sort last; then the first nnz slots of each row are its codes.
        key = np.where(active, idx, np.iinfo(np.int64).max)
        order = np.argsort(key, axis=1, kind="stable")
        idx_s = np.take_along_axis(idx, order, 1)
        vals_s = np.take_along_axis(vals, order, 1)
        nnz = active.sum(1)
        keep = np.arange(idx.shape[1])[None, :] < nnz[:, None]
        indptr = np.concatenate([[0], np.cumsum(nnz)]).astype(np.int64)
        yield indptr, idx_s[keep].astype(np.int32), vals_s[keep].astype(np.float32)
        bar.update(len(x))
    bar.close()


def encode_csr(sae: SparseAutoencoder, X: Any, batch_size: int = 4096, progress: bool = False
               ) -> sp.csr_matrix:
    """Sparse codes of X [N, D] (raw inputs) as a float32 CSR matrix [N, M], zeros dropped."""
    indptrs, indices, values = [np.zeros(1, dtype=np.int64)], [], []
    offset = 0
    for indptr, idx, vals in iter_codes(sae, X, batch_size, progress):
        indptrs.append(indptr[1:] + offset)
        offset += int(indptr[-1])
        indices.append(idx)
        values.append(vals)
    n = X.shape[0]
    data = np.concatenate(values) if values else np.zeros(0, np.float32)
    ind = np.concatenate(indices) if indices else np.zeros(0, np.int32)
    return sp.csr_matrix((data, ind, np.concatenate(indptrs)), shape=(n, sae.num_latents))


def decode_csr(sae: SparseAutoencoder, codes: sp.spmatrix, batch_size: int = 4096) -> np.ndarray:
    """Reconstructions [N, D] from CSR codes [N, M] (inverse of `encode_csr`)."""
    codes = sp.csr_matrix(codes, dtype=np.float32)
    if codes.shape[1] != sae.num_latents:
        raise InputError(f"codes have {codes.shape[1]} columns, the SAE has {sae.num_latents} latents")
    out = np.empty((codes.shape[0], sae.d_in), dtype=np.float32)
    W = sae.W_dec.detach().float().cpu().numpy()
    b = sae.b_dec.detach().float().cpu().numpy()
    for start in range(0, codes.shape[0], batch_size):
        y = codes[start:start + batch_size] @ W + b
        out[start:start + batch_size] = sae.arch.output(torch.as_tensor(y)).numpy()
    return out


def write_codes_parquet(sae: SparseAutoencoder, X: Any, path: str | Path, ids: Any = None,
                        batch_size: int = 4096, progress: bool = True, source: str = "input"
                        ) -> int:
    """Write `id`, `sae_idx` list<int32>, `sae_val` list<float32> per row (atomically).

    Returns the number of rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saescope.io import atomic_path

    schema = pa.schema([("id", _id_type(ids)), ("sae_idx", pa.list_(pa.int32())),
                        ("sae_val", pa.list_(pa.float32()))])
    n = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for indptr, idx, vals in iter_codes(sae, X, batch_size, progress, source):
            b = len(indptr) - 1
            offsets = pa.array(indptr.astype(np.int32))
            batch_ids = (np.arange(n, n + b) if ids is None else np.asarray(ids[n:n + b]))
            table = pa.table({
                "id": pa.array(batch_ids, type=schema.field("id").type),
                "sae_idx": pa.ListArray.from_arrays(offsets, pa.array(idx, pa.int32())),
                "sae_val": pa.ListArray.from_arrays(offsets, pa.array(vals, pa.float32())),
            }, schema=schema)
            writer.write_table(table)
            n += b
        if n == 0:
            writer.write_table(schema.empty_table())
    return n


def _id_type(ids: Any) -> Any:
    import pyarrow as pa

    if ids is None:
        return pa.int64()
    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        return pa.int64()
    return pa.string()
