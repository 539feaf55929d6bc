"""Out-of-core activation store: shuffled float32 batches from Parquet or `.npy` shards.

Training data larger than memory is read a chunk at a time: `.npy` shards are memory-mapped
and cut into `chunk_rows` slices, Parquet shards are read one row group at a time (streamed in
`chunk_rows` record batches). Each epoch visits the chunks in a fresh random order and pours
them into a shuffle buffer of `buffer_size` rows; when the buffer is full it is permuted and
emptied into batches (the few rows short of a full batch stay for the next fill). Rows far
apart on disk only mix within the buffer span, so a larger buffer shuffles better at the cost
of memory (`buffer_size * d * 4` bytes). Every row is yielded exactly once per epoch.

`train_sae` accepts the store directly: it is an iterable of float32 [B, d] batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from saescope.data.vectors import detect_vector_column, list_column_to_numpy
from saescope.errors import ConfigError, InputError


@dataclass(frozen=True)
class _Chunk:
    file: int
    """Index into the store's file list."""
    start: int
    """First row (npy) or row group (Parquet)."""
    stop: int
    """One past the last row (npy); unused for Parquet."""


def _expand(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.suffix.lower() in (".npy", ".parquet")
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise InputError(f"{p}: folder holds no .npy or .parquet shards")
            files.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in (".npy", ".parquet"):
                raise InputError(f"{p}: the activation store reads .npy or .parquet shards")
            files.append(p)
        else:
            raise InputError(f"{p}: file not found")
    return files


class ActivationStore:
    """Iterable of shuffled float32 [batch_size, d] batches over on-disk vector shards."""

    def __init__(
        self,
        paths: str | Path | Sequence[str | Path],
        batch_size: int = 4096,
        buffer_size: int = 262_144,
        shuffle: bool = True,
        epochs: int = 1,
        seed: int = 0,
        column: str | None = None,
        chunk_rows: int = 16_384,
        drop_last: bool = False,
        as_torch: bool = False,
        check_finite: bool = True,
    ) -> None:
        if batch_size < 1 or epochs < 1 or chunk_rows < 1:
            raise ConfigError("batch_size, epochs and chunk_rows must be >= 1")
        if buffer_size < batch_size:
            raise ConfigError(f"buffer_size ({buffer_size}) must be >= batch_size ({batch_size})")
        self.files = _expand(paths)
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.shuffle = shuffle
        self.epochs = epochs
        self.seed = seed
        self.chunk_rows = chunk_rows
        self.drop_last = drop_last
        self.as_torch = as_torch
        self.check_finite = check_finite
        self._columns: dict[int, str] = {}
        self._chunks: list[_Chunk] = []
        self.dim: int | None = None
        self.num_rows = 0
        for i, f in enumerate(self.files):
            n, d = self._inspect(i, f, column)
            if n == 0:
                continue
            if self.dim is None:
                self.dim = d
            elif d != self.dim:
                raise InputError(f"{f}: vectors have {d} dimensions, {self.files[0]} has {self.dim}")
            self.num_rows += n
        if self.num_rows == 0:
            raise InputError(f"{', '.join(map(str, self.files))}: no vectors")

    def _inspect(self, i: int, f: Path, column: str | None) -> tuple[int, int]:
        try:
            if f.suffix.lower() == ".npy":
                X = np.load(f, mmap_mode="r", allow_pickle=False)
                if X.ndim != 2:
                    raise InputError(f"{f}: expected a 2-D array, got shape {X.shape}")
                n = X.shape[0]
                self._chunks += [_Chunk(i, s, min(n, s + self.chunk_rows)) for s in range(0, n, self.chunk_rows)]
                return n, X.shape[1]
            meta = pq.ParquetFile(f)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{f}: cannot read ({type(exc).__name__}: {exc})") from None
        schema = meta.schema_arrow
        name = detect_vector_column(schema, column, str(f))
        self._columns[i] = name
        typ = schema.field(name).type
        if hasattr(typ, "list_size") and typ.list_size > 0:
            d = typ.list_size
        else:
            first = meta.read_row_group(0, columns=[name]).slice(0, 1) if meta.num_row_groups else None
            d = list_column_to_numpy(first[name], str(f), name).shape[1] if first is not None and first.num_rows else 0
        self._chunks += [
            _Chunk(i, g, -1) for g in range(meta.num_row_groups) if meta.metadata.row_group(g).num_rows
        ]
        return meta.metadata.num_rows, d

    def __len__(self) -> int:
        """Number of batches over all epochs."""
        per_epoch = self.num_rows // self.batch_size if self.drop_last else -(-self.num_rows // self.batch_size)
        return per_epoch * self.epochs

    def _read_chunk(self, chunk: _Chunk, handles: dict[int, Any]) -> Iterator[np.ndarray]:
        f = self.files[chunk.file]
        if chunk.stop >= 0:
            X = handles.get(chunk.file)
            if X is None:
                X = handles[chunk.file] = np.load(f, mmap_mode="r", allow_pickle=False)
            parts = [np.asarray(X[chunk.start : chunk.stop], dtype=np.float32)]
            offsets = [chunk.start]
        else:
            pf = handles.get(chunk.file)
            if pf is None:
                pf = handles[chunk.file] = pq.ParquetFile(f)
            name = self._columns[chunk.file]
            parts, offsets = [], []
            row = sum(pf.metadata.row_group(g).num_rows for g in range(chunk.start))
            for batch in pf.iter_batches(batch_size=self.chunk_rows, row_groups=[chunk.start], columns=[name]):
                parts.append(list_column_to_numpy(batch.column(0), str(f), name))
                offsets.append(row)
                row += batch.num_rows
        for part, offset in zip(parts, offsets, strict=True):
            if self.check_finite and not np.isfinite(part).all():
                bad = offset + int(np.flatnonzero(~np.isfinite(part).all(axis=1))[0])
                raise InputError(f"{f}: row {bad} contains NaN or Inf")
            yield part

    def _emit(self, X: np.ndarray) -> Any:
        if self.as_torch:
            import torch

            return torch.from_numpy(X)
        return X

    def __iter__(self) -> Iterator[Any]:
        rng = np.random.default_rng(self.seed)
        d = int(self.dim or 0)
        for _ in range(self.epochs):
            order = rng.permutation(len(self._chunks)) if self.shuffle else np.arange(len(self._chunks))
            handles: dict[int, Any] = {}
            buf = np.empty((self.buffer_size + self.chunk_rows, d), dtype=np.float32)
            fill = 0
            for c in order:
                for part in self._read_chunk(self._chunks[c], handles):
                    start = 0
                    while start < len(part):
                        take = min(len(part) - start, len(buf) - fill)
                        buf[fill : fill + take] = part[start : start + take]
                        fill += take
                        start += take
                        if fill >= self.buffer_size:
                            fill = yield from self._drain(buf, fill, rng, final=False)
            yield from self._drain(buf, fill, rng, final=True)

    def _drain(self, buf: np.ndarray, fill: int, rng: np.random.Generator, final: bool):
        """Yield full batches of the buffer (shuffled); return how many rows are left in it."""
        B = self.batch_size
        if self.shuffle:
            perm = rng.permutation(fill)
        else:
            perm = np.arange(fill)
        n_full = fill // B
        for b in range(n_full):
            yield self._emit(buf[perm[b * B : (b + 1) * B]])
        rest = perm[n_full * B :]
        if final:
            if len(rest) and not self.drop_last:
                yield self._emit(buf[rest])
            return 0
        buf[: len(rest)] = buf[rest]
        return len(rest)


def write_npy_shards(X: np.ndarray, folder: str | Path, shard_rows: int = 65_536) -> list[Path]:
    """Write `X` as `part-XXXXX.npy` float32 shards of `shard_rows` rows (atomically, each)."""
    from saescope.io import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, s in enumerate(range(0, len(X), shard_rows)):
        path = folder / f"part-{i:05d}.npy"
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(X[s : s + shard_rows], dtype=np.float32))
        paths.append(path)
    return paths
