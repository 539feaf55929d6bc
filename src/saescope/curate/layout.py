"""Pool layout: the shards (units of scoring work) of a vector Parquet pool (whole row groups).

A shard is a run of consecutive row groups of one Parquet file, holding at most `shard_rows`
rows (a larger row group is a shard of its own). Shards are numbered in file order; shard `i`
writes its scores to `scores/part-{i:05d}.parquet` and, once complete, `_part-{i:05d}.done`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from saescope.data.vectors import detect_vector_column, list_column_to_numpy, parquet_files
from saescope.errors import InputError


@dataclass(frozen=True)
class Shard:
    """A run of row groups of one Parquet file."""

    index: int
    """Position in the pool's shard list (names the sidecar)."""
    file: str
    """Parquet file."""
    row_groups: tuple[int, ...]
    """Row groups of `file` in this shard."""
    start: int
    """Global row number of the shard's first row (ids of pools without an id column)."""
    num_rows: int
    """Rows in the shard."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["row_groups"] = list(self.row_groups)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Shard:
        return Shard(int(d["index"]), str(d["file"]), tuple(int(g) for g in d["row_groups"]),
                     int(d["start"]), int(d["num_rows"]))

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


@dataclass(frozen=True)
class PoolLayout:
    """The pool's files, its vector and id columns, and its shards."""

    shards: tuple[Shard, ...]
    vector_column: str
    id_column: str | None
    """None when the pool has no `id` column (ids are then `row-<global row number>`)."""
    schema: pa.Schema
    num_rows: int
    dim: int

    def fingerprint(self) -> list[dict[str, Any]]:
        """File names, sizes and shard boundaries: a resume is valid only on the same layout."""
        files = sorted({s.file for s in self.shards})
        stats = [Path(f).stat() for f in files]
        return [{"file": f, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
                for f, st in zip(files, stats, strict=True)] + [
            {"shards": [[s.file, list(s.row_groups)] for s in self.shards]}
        ]


def pool_layout(path: str | Path, shard_rows: int, whole_files: bool = False,
                vector_column: str | None = None, id_field: str = "id") -> PoolLayout:
    """Shards of a Parquet file or folder (`whole_files`: one shard per file, as Ray reads them)."""
    files = parquet_files(path)
    shards: list[Shard] = []
    schema: pa.Schema | None = None
    start = 0
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:
            raise InputError(f"{f}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
        if schema is None:
            schema = pf.schema_arrow
        elif pf.schema_arrow.names != schema.names:
            raise InputError(f"{f}: columns {pf.schema_arrow.names} differ from {files[0]}: {schema.names}")
        md = pf.metadata
        groups: list[int] = []
        rows = 0
        for g in range(md.num_row_groups):
            n = md.row_group(g).num_rows
            if groups and not whole_files and rows + n > shard_rows:
                shards.append(Shard(len(shards), str(f), tuple(groups), start, rows))
                start += rows
                groups, rows = [], 0
            groups.append(g)
            rows += n
        if groups:
            shards.append(Shard(len(shards), str(f), tuple(groups), start, rows))
            start += rows
    assert schema is not None
    vec = detect_vector_column(schema, vector_column, str(path))
    id_col = id_field if id_field in schema.names else None
    if start == 0:
        raise InputError(f"{path}: the pool is empty")
    t = schema.field(vec).type
    if pa.types.is_fixed_size_list(t):
        dim = t.list_size
    else:
        first = pq.ParquetFile(shards[0].file).read_row_group(shards[0].row_groups[0], columns=[vec])
        dim = list_column_to_numpy(first[vec].slice(0, 1), str(path), vec).shape[1]
    return PoolLayout(tuple(shards), vec, id_col, schema, start, dim)


def shard_ids(table: pa.Table, layout: PoolLayout, offset: int) -> np.ndarray:
    """String ids of a slice of the pool that starts at global row `offset`."""
    if layout.id_column is None:
        return np.array([f"row-{offset + i}" for i in range(table.num_rows)], dtype=object)
    col = table[layout.id_column]
    if col.null_count:
        raise InputError(f"pool column {layout.id_column!r} has a null id near global row {offset}")
    return np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def iter_chunks(shard: Shard, layout: PoolLayout, chunk_size: int,
                extra: list[str] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, pa.Table]]:
    """(ids, X float32 [n, d], the chunk's `extra` columns) over a shard, chunk by chunk."""
    cols = [layout.vector_column] + ([layout.id_column] if layout.id_column else []) + (extra or [])
    pf = pq.ParquetFile(shard.file)
    offset = shard.start
    for batch in pf.iter_batches(batch_size=chunk_size, row_groups=list(shard.row_groups),
                                 columns=list(dict.fromkeys(cols))):
        table = pa.Table.from_batches([batch])
        X = list_column_to_numpy(table[layout.vector_column], shard.file, layout.vector_column)
        if X.shape[1] != layout.dim and len(X):
            raise InputError(f"{shard.file}: vectors of dimension {X.shape[1]}, expected {layout.dim}")
        yield shard_ids(table, layout, offset), X, table
        offset += table.num_rows


def read_rows(shard: Shard, layout: PoolLayout, ids: set[str] | None = None,
              columns: list[str] | None = None) -> pa.Table:
    """The shard's rows whose id is in `ids` (all rows when None), with an `id` string column;
    with `ids`, read and filtered row group by row group (memory: a row group, not the shard)."""
    if columns is not None and layout.id_column is not None:
        columns = list(dict.fromkeys([*columns, layout.id_column]))
    pf = pq.ParquetFile(shard.file)
    if ids is None:
        return _shard_table(pf.read_row_groups(list(shard.row_groups), columns=columns), layout, shard.start)
    want = pa.array(sorted(ids), type=pa.string())
    parts, offset = [], shard.start
    for g in shard.row_groups:
        table = _shard_table(pf.read_row_group(g, columns=columns), layout, offset)
        offset += table.num_rows
        parts.append(table.filter(pc.is_in(table["id"], value_set=want)))
    return pa.concat_tables(parts)


def _shard_table(table: pa.Table, layout: PoolLayout, offset: int) -> pa.Table:
    """Consecutive pool rows from global row `offset`, with their ids as a first `id` string column."""
    sid = pa.array(shard_ids(table, layout, offset), type=pa.string())
    if layout.id_column is not None and layout.id_column in table.column_names:
        table = table.drop_columns([layout.id_column])
    return table.add_column(0, "id", sid)


def sample_rows(layout: PoolLayout, n: int, seed: int, columns: list[str]) -> pa.Table:
    """A uniform sample of min(n, N) pool rows (sorted by position), with `id` and `columns`."""
    rng = np.random.default_rng(seed)
    total = layout.num_rows
    take = np.arange(total) if n >= total else np.sort(rng.choice(total, size=n, replace=False))
    return rows_at(layout, take, columns)


def rows_at(layout: PoolLayout, take: np.ndarray, columns: list[str]) -> pa.Table:
    """The pool rows at sorted positions `take`, with `id` and `columns`, read row group by row
    group (memory: one row group plus the rows taken, not a shard)."""
    cols = list(dict.fromkeys([*columns, *([layout.id_column] if layout.id_column else [])]))
    parts = []
    for shard in layout.shards:
        lo, hi = np.searchsorted(take, [shard.start, shard.start + shard.num_rows])
        if hi <= lo:
            continue
        pf = pq.ParquetFile(shard.file)
        offset = shard.start
        for g in shard.row_groups:
            n = pf.metadata.row_group(g).num_rows
            a, b = np.searchsorted(take, [offset, offset + n])
            if b > a:
                table = pf.read_row_group(g, columns=cols).take(pa.array(take[a:b] - offset))
                parts.append(_with_ids(table, layout, take[a:b]))
            offset += n
    return pa.concat_tables(parts)


def _with_ids(table: pa.Table, layout: PoolLayout, positions: np.ndarray) -> pa.Table:
    """`table` (pool rows at global `positions`) with its ids as a first `id` string column."""
    if layout.id_column is None:
        sid = pa.array([f"row-{int(p)}" for p in positions], type=pa.string())
    else:
        col = table[layout.id_column]
        if col.null_count:
            raise InputError(f"pool column {layout.id_column!r} has a null id near global row {int(positions[0])}")
        sid = col.cast(pa.string())
        table = table.drop_columns([layout.id_column])
    return table.add_column(0, "id", sid)
