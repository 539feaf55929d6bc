"""Read a matrix of vectors (+ ids and metadata) from .npy, .safetensors or Parquet.

This is the one reader every command uses for its vector input (`train`, `encode`,
`interpret --data`, `curate --seeds/--pool` when they are vectors). Parquet files (or a folder
of Parquet shards) hold one row per vector with a list or fixed-size-list float column:
`embedding` (what `saescope embed` and `saescope activations` write) or `emb` (Cohere's
wikipedia-22-12 layout), or any column named with `column=`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    corpus = "; a text column and no vectors: a corpus, run `saescope embed` on it first" \
        if "text" in schema.names else ""
    raise InputError(
        f"{source}: no vector column found; expected one of {VECTOR_COLUMNS} or --column "
        f"(columns: {', '.join(schema.names)}){corpus}"
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
    if _is_text_corpus_name(path):
        raise InputError(f"{path}: this is a text corpus, not vectors: run `saescope embed {path} --out "
                         "emb.parquet` (or `saescope activations`) first and give that file")
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


_CORPUS_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".txt")


def _is_text_corpus_name(path: Path) -> bool:
    """A JSONL/CSV/text file (plain or compressed), which Parquet readers fail on with `magic bytes`."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst", ".zstd", ".bz2", ".xz"):
        suffixes = suffixes[:-1]
    return path.is_file() and bool(suffixes) and suffixes[-1] in _CORPUS_SUFFIXES


def check_finite(X: np.ndarray, source: str, drop: bool | None = None) -> np.ndarray:
    """Error on NaN/Inf rows (count and first row index), or drop them when `drop`.

    Returns the boolean mask of kept rows. `drop=None` is for commands without a
    `--drop-nonfinite` option: the message then does not suggest it.
    """
    finite = np.isfinite(X).all(axis=1) if X.size else np.ones(len(X), dtype=bool)
    if finite.all():
        return finite
    bad = np.flatnonzero(~finite)
    if not drop:
        hint = "; fix the input or pass --drop-nonfinite" if drop is False else ""
        raise InputError(
            f"{source}: {len(bad)} rows contain NaN or Inf (first at row {int(bad[0])}){hint}"
        )
    return finite


def read_finite_vectors(path: str | Path, column: str | None = None,
                        drop_nonfinite: bool | None = False, limit: int | None = None
                        ) -> tuple[VectorTable, int]:
    """`read_vectors`, refusing an empty input and rows with NaN/Inf (or dropping them with
    `drop_nonfinite`; None: a command without --drop-nonfinite, see `check_finite`); returns
    the table and the number of rows dropped."""
    table = read_vectors(path, column=column, limit=limit)
    if table.X.size == 0 or len(table.X) == 0:
        raise InputError(f"{path}: no vectors (empty input)")
    check_unique_ids(table.ids, str(path))
    keep = check_finite(table.X, str(path), drop=drop_nonfinite)
    dropped = int((~keep).sum())
    if dropped:
        table.X, table.ids = table.X[keep], table.ids[keep]
        if table.meta is not None:
            table.meta = table.meta.filter(pa.array(keep))
        if len(table.X) == 0:
            raise InputError(f"{path}: every row contains NaN or Inf")
    return table, dropped


def check_unique_ids(ids: Any, source: str) -> None:
    """InputError naming an id that occurs more than once: ids key every output row (codes,
    examples, selections), so a repeated one would silently mix two rows."""
    import pyarrow.compute as pc

    arr = pa.array(np.asarray(ids).tolist()) if not isinstance(ids, (pa.Array, pa.ChunkedArray)) else ids
    if pc.count_distinct(arr).as_py() == len(arr):
        return
    counts = pc.value_counts(arr)
    twice = counts.filter(pc.greater(counts.field("counts"), 1))
    raise InputError(f"{source}: id {twice[0]['values'].as_py()!r} occurs more than once "
                     "(ids must be unique)")


def check_vectors(X: np.ndarray, source: str, dim: int | None = None, expected_by: str = "",
                  drop: bool | None = None) -> np.ndarray:
    """The input checks every command makes: rows present, dimension `dim`, finite values.

    `expected_by` names what fixes `dim` ("the SAE in DIR"). Returns the mask of kept rows
    (see `check_finite`).
    """
    if len(X) == 0:
        raise InputError(f"{source}: no rows (the file holds no vectors)")
    if dim is not None and X.shape[1] != dim:
        by = f", {expected_by} expects {dim}" if expected_by else f", expected {dim}"
        raise InputError(f"{source}: vectors have dimension {X.shape[1]}{by}")
    return check_finite(X, source, drop)


def nonfinite_parquet_rows(path: str | Path, column: str | None = None,
                           batch_rows: int = 65536) -> dict[Path, np.ndarray]:
    """Row numbers (within each file) of the vectors with NaN or Inf, per Parquet file.

    Streams the vector column batch by batch, so memory stays bounded for any pool size.
    Files without such rows are left out of the result.
    """
    out: dict[Path, np.ndarray] = {}
    for f in parquet_files(path):
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:
            raise InputError(f"{f}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
        name = detect_vector_column(pf.schema_arrow, column, str(f))
        bad, offset = [], 0
        for batch in pf.iter_batches(batch_size=batch_rows, columns=[name]):
            X = list_column_to_numpy(batch.column(0), str(f), name)
            if X.size:
                bad.append(offset + np.flatnonzero(~np.isfinite(X).all(axis=1)))
            offset += batch.num_rows
        rows = np.concatenate(bad) if bad else np.zeros(0, np.int64)
        if len(rows):
            out[f] = rows
    return out


def finite_parquet(path: str | Path, out: str | Path, drop: bool | None = None,
                   column: str | None = None, id_field: str = "id") -> tuple[Path, int]:
    """A Parquet vector source without NaN/Inf rows: `path` itself, or a filtered copy at `out`.

    Without `drop`, a non-finite row raises `InputError` naming the file and its first bad row
    (as `check_finite` does for in-memory inputs). With `drop`, the rows are left out of a copy
    written to the folder `out` (one file per input file, same row groups; a source without
    an `id_field` column gets one holding its `row-<global row>` ids, so ids do not shift). A
    copy already at `out` is reused when it was made from the same files (names, sizes,
    modification times). Returns the path to read and the rows dropped.
    """
    from saescope.io import atomic_dir

    path, out = Path(path), Path(out)
    bad = nonfinite_parquet_rows(path, column)
    if not bad:
        return path, 0
    n_bad = sum(len(v) for v in bad.values())
    if not drop:
        f, rows = next(iter(bad.items()))
        hint = "; fix the input or pass --drop-nonfinite" if drop is False else ""
        raise InputError(f"{f}: {n_bad} rows contain NaN or Inf (first at row {int(rows[0])}){hint}")
    files = parquet_files(path)
    source = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    stamp = out / "_source.json"  # what the copy was made from (not a .parquet: readers skip it)
    if stamp.is_file() and json.loads(stamp.read_text()) == source:
        return out, n_bad
    base = path if path.is_dir() else path.parent
    with atomic_dir(out, overwrite=True, owned=True) as tmp:
        (tmp / stamp.name).write_text(json.dumps(source))
        start = 0
        for f in files:
            pf = pq.ParquetFile(f)
            target = tmp / f.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            drop_rows = bad.get(f, np.zeros(0, np.int64))
            with pq.ParquetWriter(target, _with_id(pf.schema_arrow, id_field)) as writer:
                offset = 0
                for g in range(pf.metadata.num_row_groups):
                    table = pf.read_row_group(g)
                    n = table.num_rows
                    if id_field not in table.column_names:
                        ids = [f"row-{start + offset + i}" for i in range(n)]
                        table = table.add_column(0, id_field, pa.array(ids, pa.string()))
                    keep = np.ones(n, dtype=bool)
                    keep[drop_rows[(drop_rows >= offset) & (drop_rows < offset + n)] - offset] = False
                    writer.write_table(table.filter(pa.array(keep)))
                    offset += n
            start += offset
    return out, n_bad


def _with_id(schema: pa.Schema, id_field: str) -> pa.Schema:
    if id_field in schema.names:
        return schema
    return schema.insert(0, pa.field(id_field, pa.string()))
