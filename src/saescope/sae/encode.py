"""Sparse codes of many vectors: a scipy CSR matrix, or a Parquet file of (index, value) lists.

Codes are never densified: each batch's active (index, value) pairs go straight into the CSR
arrays or the Parquet list columns (except the optional dense `embedding` of pooled documents).

Per-token stores (`saescope activations --per-token`): `pool_token_codes` turns the codes of a
document's tokens into one code per document (`max`, `mean`, `topk`), which is how FineScope
describes a document with an SAE trained on token activations ("extract embeddings with the
trained SAE"; FineScope, 2025).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from saescope.errors import ConfigError, InputError
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
    """Sparse codes of X [N, D] (raw inputs) as a float32 CSR matrix [N, M], zeros dropped
    (X itself for a `PooledCodesSAE`, whose inputs are its codes)."""
    if getattr(sae, "codes_are_inputs", False):
        _check(sae, X, "input")  # type: ignore[arg-type]
        return codes_of_rows(X)
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


# --- documents by their tokens' codes -------------------------------------------------------

TOKEN_POOLINGS = ("max", "mean", "topk")


@dataclass
class TokenPooling:
    """How `encode` turns the codes of a per-token store into one code per document."""

    how: str = "max"
    """max | mean | topk: over a document's n tokens with codes z_t (non-negative), latent j gets
    max_t z_tj; (1/n) sum_t z_tj; or the mean of its min(K, n) largest z_tj (FineScope's top-K
    selection applied to codes: K=1 is max, K>=n is mean)."""
    top_k: int = 8
    """K of `topk`."""

    def __post_init__(self) -> None:
        if self.how not in TOKEN_POOLINGS:
            raise ConfigError(f"token pooling must be one of {', '.join(TOKEN_POOLINGS)}, "
                              f"got {self.how!r}")
        if self.top_k < 1:
            raise ConfigError(f"token pooling top_k must be >= 1, got {self.top_k}")


class PooledCodes(NamedTuple):
    """Per-document codes pooled from token codes."""

    doc_ids: np.ndarray
    """[D] document ids, in order of first appearance in the token rows."""
    codes: sp.csr_matrix
    """float32 [D, M] pooled codes, column indices sorted within each row."""
    n_tokens: np.ndarray
    """int64 [D] token rows per document."""
    top_row: np.ndarray
    """int64 [nnz] for each stored code (aligned with `codes.data`): the token row where that
    latent fired most in that document (the first such row on ties)."""
    first_row: np.ndarray
    """int64 [D] each document's first token row."""


def pool_token_codes(codes: sp.csr_matrix, doc_ids: Any, pooling: TokenPooling) -> PooledCodes:
    """Pool token codes [T, M] into document codes [D, M] by `doc_ids` [T] (see `TokenPooling`).

    A token where a latent does not fire counts as 0 (so `mean` divides by all n tokens)."""
    codes = sp.csr_matrix(codes, dtype=np.float32)
    doc_ids = np.asarray(doc_ids)
    if len(doc_ids) != codes.shape[0]:
        raise InputError(f"{len(doc_ids)} document ids for {codes.shape[0]} token rows")
    uniq, first, inv = np.unique(doc_ids, return_index=True, return_inverse=True)
    by_first = np.argsort(first, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[by_first] = np.arange(len(uniq))
    doc_of_row = rank[inv.reshape(-1)]
    n_docs, m = len(uniq), codes.shape[1]
    n_tokens = np.bincount(doc_of_row, minlength=n_docs).astype(np.int64)
    coo = codes.tocoo()
    keep = coo.data != 0
    row, lat, val = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), coo.data[keep]
    doc = doc_of_row[row]
    order = np.lexsort((row, -val, lat, doc))  # by document, latent, decreasing value
    row, lat, val, doc = row[order], lat[order], val[order], doc[order]
    key = doc * m + lat
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    n_doc = n_tokens[doc[starts]].astype(np.float64)
    if pooling.how == "max":
        pooled = val[starts].astype(np.float64)
    elif pooling.how == "mean":
        pooled = np.add.reduceat(val.astype(np.float64), starts) / n_doc if len(starts) else np.zeros(0)
    else:
        counts = np.diff(np.r_[starts, len(key)])
        within = np.arange(len(key)) - np.repeat(starts, counts)
        top = np.where(within < pooling.top_k, val, 0).astype(np.float64)
        pooled = (np.add.reduceat(top, starts) / np.minimum(pooling.top_k, n_doc)
                  if len(starts) else np.zeros(0))
    indptr = np.r_[0, np.cumsum(np.bincount(doc[starts], minlength=n_docs))].astype(np.int64)
    out = sp.csr_matrix((pooled.astype(np.float32), lat[starts].astype(np.int32), indptr),
                        shape=(n_docs, m))
    return PooledCodes(uniq[by_first], out, n_tokens, row[starts], first[by_first].astype(np.int64))


def write_pooled_codes_parquet(pooled: PooledCodes, path: str | Path, tokens: Any = None,
                               positions: Any = None, dense: bool = False,
                               doc_columns: Any = None, origin: dict[str, str] | None = None) -> int:
    """Write one row per document (atomically): `id`, `sae_idx`, `sae_val`, `n_tokens`, and
    when the token rows carry them, `sae_token` / `sae_pos` (aligned with `sae_idx`: the token
    where each latent fired most, and its position). `dense`: also an `embedding` column with the
    full pooled code vector [M], so vector stages (`curate`) read the documents as vectors.
    `doc_columns` (a pyarrow Table aligned with the token rows): document-level columns (labels,
    `split`), taken from each document's first token row. `origin`: recorded in the file's
    schema metadata as `saescope.<key>` (`pooled_codes_metadata`: which SAE, which pooling), so
    `curate --sae` and `hypotheses` know the rows are that SAE's codes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saescope.data.shards import vectors_to_arrow
    from saescope.io import atomic_path

    codes = pooled.codes
    offsets = pa.array(codes.indptr.astype(np.int32))
    cols: dict[str, Any] = {
        "id": pa.array(pooled.doc_ids.tolist(), _id_type(pooled.doc_ids)),
        "sae_idx": pa.ListArray.from_arrays(offsets, pa.array(codes.indices, pa.int32())),
        "sae_val": pa.ListArray.from_arrays(offsets, pa.array(codes.data, pa.float32())),
        "n_tokens": pa.array(pooled.n_tokens, pa.int64()),
    }
    if tokens is not None:
        picked = pa.array(np.asarray(tokens, dtype=object)[pooled.top_row].tolist(), pa.string())
        cols["sae_token"] = pa.ListArray.from_arrays(offsets, picked)
    if positions is not None:
        pos = np.asarray(positions, dtype=np.int32)[pooled.top_row]
        cols["sae_pos"] = pa.ListArray.from_arrays(offsets, pa.array(pos, pa.int32()))
    if dense:
        cols["embedding"] = vectors_to_arrow(codes.toarray())
    if doc_columns is not None:
        take = pa.array(pooled.first_row)
        cols.update({name: doc_columns[name].take(take) for name in doc_columns.column_names
                     if name not in cols})
    table = pa.table(cols)
    if origin:
        table = table.replace_schema_metadata({f"saescope.{k}": str(v) for k, v in origin.items()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return codes.shape[0]


# --- pooled codes as a stage's input ---------------------------------------------------------

POOLED_CODES_KEY = "pooled_codes_of"
"""Schema-metadata key (after `saescope.`) of a pooled-codes file: the hash of the SAE's files."""


def sae_file_hash(folder: str | Path) -> str:
    """sha256 over an SAE folder's cfg.json and sae.safetensors (what identifies an SAE)."""
    import hashlib

    h = hashlib.sha256()
    for name in ("cfg.json", "sae.safetensors"):
        with open(Path(folder) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def pooled_codes_metadata(sae_folder: str | Path, num_latents: int, pooling: TokenPooling
                          ) -> dict[str, str]:
    """What `encode --pool-tokens` records about its output: the SAE (hash of its files), its
    number of latents, and the pooling."""
    how = pooling.how if pooling.how != "topk" else f"topk{pooling.top_k}"
    return {POOLED_CODES_KEY: sae_file_hash(sae_folder), "num_latents": str(num_latents),
            "token_pooling": how}


def check_pooled_codes(origin: dict[str, str], sae_folder: str | Path, source: str) -> bool:
    """True when `origin` (a vector file's `saescope.*` metadata, without the prefix) says the
    rows are pooled codes of the SAE in `sae_folder`; False when they are not pooled codes at all;
    an InputError when they are pooled codes of another SAE."""
    if POOLED_CODES_KEY not in origin:
        return False
    if origin[POOLED_CODES_KEY] != sae_file_hash(sae_folder):
        raise InputError(f"{source}: holds pooled codes of another SAE than {sae_folder} "
                         "(encode the per-token store with this SAE: saescope encode SAE TOKENS "
                         "--pool-tokens max --dense)")
    return True


def file_origin(path: str | Path) -> dict[str, str]:
    """A Parquet vector file's `saescope.*` schema metadata without the prefix ({} for any
    other file, or one that cannot be read)."""
    import pyarrow.parquet as pq

    from saescope.data.vectors import parquet_files

    p = Path(path)
    if p.suffix.lower() != ".parquet" and not p.is_dir():
        return {}
    try:
        meta = pq.read_schema(parquet_files(p)[0]).metadata or {}
    except Exception:  # noqa: BLE001 - no origin to tell; the reader's own error comes later
        return {}
    return {k.decode()[len("saescope."):]: v.decode() for k, v in meta.items()
            if k.startswith(b"saescope.")}


class PooledCodesSAE:
    """An SAE seen through documents whose rows are already its (pooled) codes: its inputs are
    its codes, so `d_in` is its number of latents and encoding a row returns the row. Stages that
    encode vectors with an SAE (curate's SAE spaces, `hypotheses`) take it in place of the SAE."""

    codes_are_inputs = True

    def __init__(self, sae: SparseAutoencoder) -> None:
        self.sae = sae
        """The SAE whose codes the rows are."""
        self.cfg = sae.cfg
        self.num_latents = int(sae.num_latents)
        self.d_in = self.num_latents
        self.device = sae.device

    def eval(self) -> PooledCodesSAE:
        return self


def codes_of_rows(X: Any) -> sp.csr_matrix:
    """Rows that are already codes, as float32 CSR with zeros dropped."""
    codes = sp.csr_matrix(np.asarray(X, dtype=np.float32))
    codes.eliminate_zeros()
    return codes


def latent_tokens(latents: list[list[int]], sae_idx: list[list[int] | None],
                  sae_token: list[list[str | None] | None]) -> list[list[str | None]]:
    """Per row, the token recorded for each of its `latents` (None where the row has no token
    for that latent)."""
    out = []
    for lats, idx, toks in zip(latents, sae_idx, sae_token, strict=True):
        where = dict(zip(idx or [], toks or [], strict=False))
        out.append([where.get(j) for j in lats])
    return out
