"""Read a matrix of vectors (+ ids and metadata) from .npy, .safetensors or Parquet.

This is the one reader every command uses for its vector input (`train`, `encode`,
`interpret --data`, `curate --seeds/--pool` when they are vectors). Parquet files (or a folder
of Parquet shards) hold one row per vector with a list or fixed-size-list float column:
`embedding` (what `saescope embed` and `saescope activations` write) or `emb` (Cohere's
wikipedia-22-12 layout), or any column named with `column=`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saescope.errors import InputError

VECTOR_COLUMNS = ("embedding", "emb")


@dataclass
class VectorTable:
    """Vectors with their ids and the other columns of the source."""

    X: np.ndarray
    """float32 [N, d] matrix."""
    ids: np.ndarray
    """[N] ids (strings or ints); row numbers when the source has none."""
    meta: pa.Table | None
    """The source's other columns (texts, labels...), aligned with `X`; None for .npy/.safetensors."""
    source: str
    """Where the vectors came from, for messages."""


def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet file, or the sorted `*.parquet` shards of a folder."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
        if not files:
            raise InputError(f"{path}: folder holds no .parquet files")
        return files
    if not path.exists():
        raise InputError(f"{path}: file not found")
    return [path]


def detect_vector_column(schema: pa.Schema, column: str | None, source: str) -> str:
    """Pick the vector column: `column` if given, else `embedding` or `emb`."""
    if column is not None:
        if column not in schema.names:
            raise InputError(f"{source}: no column {column!r} (columns: {', '.join(schema.names)})")
        return column
    for name in VECTOR_COLUMNS:
        if name in schema.names:
            return name
    raise InputError(
        f"{source}: no vector column found; expected one of {VECTOR_COLUMNS} or --column "
        f"(columns: {', '.join(schema.names)})"
    )


def list_column_to_numpy(col: pa.ChunkedArray | pa.Array, source: str, name: str) -> np.ndarray:
    """A list / fixed-size-list float column as a float32 [N, d] matrix (error on ragged rows)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    n = len(col)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if col.null_count:
        bad = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"{source}: column {name!r} is null at row {bad}")
    if pa.types.is_fixed_size_list(col.type):
        d = col.type.list_size
        flat = col.flatten().to_numpy(zero_copy_only=False)
        return np.ascontiguousarray(flat.reshape(n, d), dtype=np.float32)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        lengths = pc_list_lengths(col)
        d = int(lengths[0])
        if not np.all(lengths == d):
            bad = int(np.flatnonzero(lengths != d)[0])
            raise InputError(
                f"{source}: column {name!r} row {bad} has {lengths[bad]} values, row 0 has {d}"
            )
        flat = col.flatten().to_numpy(zero_copy_only=False)
        return np.ascontiguousarray(flat.reshape(n, d), dtype=np.float32)
    raise InputError(f"{source}: column {name!r} has type {col.type}, expected a list of floats")


def pc_list_lengths(col: pa.Array) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.list_value_length(col).to_numpy(zero_copy_only=False)


def read_vectors(
    path: str | Path,
    column: str | None = None,
    id_field: str = "id",
    limit: int | None = None,
) -> VectorTable:
    """Read vectors from `.npy`, `.safetensors` (one 2-D tensor, or the one named `column`) or Parquet."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            X = np.load(path, mmap_mode="r", allow_pickle=False)
            if X.ndim != 2:
                raise InputError(f"{path}: expected a 2-D array, got shape {X.shape}")
            X = np.asarray(X[:limit] if limit else X, dtype=np.float32)
            return VectorTable(X, np.arange(len(X)), None, str(path))
        if suffix == ".safetensors":
            from safetensors.numpy import load_file

            tensors = load_file(str(path))
            if column is not None:
                if column not in tensors:
                    raise InputError(f"{path}: no tensor {column!r} (tensors: {', '.join(tensors)})")
                X = tensors[column]
            else:
                two_d = {k: v for k, v in tensors.items() if v.ndim == 2}
                if len(two_d) != 1:
                    raise InputError(
                        f"{path}: expected exactly one 2-D tensor or --column (found {', '.join(tensors)})"
                    )
                X = next(iter(two_d.values()))
            X = np.asarray(X[:limit] if limit else X, dtype=np.float32)
            return VectorTable(X, np.arange(len(X)), None, str(path))
    except InputError:
        raise
    except Exception as exc:  # truncated or unreadable file
        raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    files = parquet_files(path)
    try:
        tables = [pq.read_table(f) for f in files]
    except Exception as exc:
        raise InputError(f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    if limit:
        table = table.slice(0, limit)
    name = detect_vector_column(table.schema, column, str(path))
    X = list_column_to_numpy(table[name], str(path), name)
    if id_field in table.schema.names:
        ids = table[id_field].to_numpy(zero_copy_only=False)
    else:
        ids = np.arange(len(X))
    meta = table.drop_columns([name])
    return VectorTable(X, ids, meta, str(path))


def check_finite(X: np.ndarray, source: str, drop: bool = False) -> np.ndarray:
    """Error on NaN/Inf rows (count and first row index), or drop them when `drop`.

    Returns the boolean mask of kept rows.
    """
    finite = np.isfinite(X).all(axis=1)
    if finite.all():
        return finite
    bad = np.flatnonzero(~finite)
    if not drop:
        raise InputError(
            f"{source}: {len(bad)} rows contain NaN or Inf (first at row {int(bad[0])}); "
            "fix the input or pass --drop-nonfinite"
        )
    return finite
