"""Training data sources: in-memory/memory-mapped arrays and streams of batches.

A source yields the global batches of one epoch, deterministically from (seed, epoch), so a
resumed run sees exactly the batches an uninterrupted one would, and every data-parallel
process sees the same global batch and keeps its own slice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saescope.errors import InputError


def as_numpy(batch: Any, source: str = "data") -> np.ndarray:
    """A float32 [B, D] numpy view of a numpy array, memmap, tensor or list of rows."""
    if isinstance(batch, torch.Tensor):
        batch = batch.detach().cpu().float().numpy()
    arr = np.asarray(batch, dtype=np.float32)
    if arr.ndim != 2:
        raise InputError(f"{source}: expected a 2-D batch [N, D], got shape {arr.shape}")
    return arr


def check_finite_rows(X: Any, source: str, chunk: int = 65536) -> None:
    """InputError with the count and first index of rows holding NaN/Inf (read in chunks)."""
    count, first = 0, None
    for start in range(0, X.shape[0], chunk):
        ok = np.isfinite(np.asarray(X[start:start + chunk])).all(axis=1)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            count += len(bad)
            first = start + int(bad[0]) if first is None else first
    if count:
        raise InputError(f"{source}: {count} rows contain NaN or Inf (first at row {first}); "
                         "fix the input or drop those rows")


class ArraySource:
    """Shuffled batches drawn from a whole [N, D] array (numpy, memmap or tensor).

    Batches are `batch_size` rows of a per-epoch permutation (seed, epoch); the last partial
    batch is dropped (so every step has the same global batch) unless N < batch_size.
    """

    def __init__(self, X: Any, batch_size: int, seed: int, source: str = "data",
                 rows: np.ndarray | None = None) -> None:
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().float().numpy()
        if not hasattr(X, "shape") or len(X.shape) != 2:
            X = as_numpy(X, source)
        self.X = X
        self.rows = rows
        """Sorted subset of X's rows to train on (None: all); a memmap is never copied whole."""
        self.n = int(X.shape[0]) if rows is None else len(rows)
        self.d = int(X.shape[1])
        if self.n == 0:
            raise InputError(f"{source}: no training rows")
        self.batch_size = min(batch_size, self.n)
        self.seed = seed
        self.steps_per_epoch = self.n // self.batch_size

    def set_batch_size(self, batch_size: int) -> None:
        """Re-cut the epochs into batches of `batch_size` rows (capped at the row count)."""
        self.batch_size = min(batch_size, self.n)
        self.steps_per_epoch = self.n // self.batch_size

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(self.n)
        for i in range(skip, self.steps_per_epoch):
            yield self._take(np.sort(perm[i * self.batch_size:(i + 1) * self.batch_size]))

    def sample(self, n: int) -> np.ndarray:
        """A uniform sample of min(n, N) training rows without replacement (`sample_positions`)."""
        return self._take(sample_positions(self.n, n, self.seed))

    def sample_chunks(self, n: int, chunk: int = 65536) -> Iterator[np.ndarray]:
        """`sample(n)` in chunks of at most `chunk` rows (bounded memory for large n)."""
        pos = sample_positions(self.n, n, self.seed)
        for start in range(0, len(pos), chunk):
            yield self._take(pos[start:start + chunk])

    def _take(self, positions: np.ndarray) -> np.ndarray:
        rows = positions if self.rows is None else self.rows[positions]
        return np.array(self.X[rows], dtype=np.float32)


class StreamSource:
    """Batches re-cut to `batch_size` from an iterable of float batches (re-iterated per epoch).

    `data` is a re-iterable (a list of arrays, a dataset object) or a callable returning a
    fresh iterator. Rows are used in the order given; shuffle upstream if needed. One counting
    pass establishes the number of rows.
    """

    def __init__(self, data: Iterable[Any] | Callable[[], Iterable[Any]], batch_size: int,
                 source: str = "data", seed: int = 0) -> None:
        self._data = data
        self.source = source
        self.seed = seed
        self.batch_size = batch_size
        n, d = 0, None
        for b in self._iter():
            n += b.shape[0]
            if d is None:
                d = b.shape[1]
            elif b.shape[1] != d:
                raise InputError(f"{source}: batch with {b.shape[1]} columns after {d}")
        if n == 0 or d is None:
            raise InputError(f"{source}: no training rows")
        self.n, self.d = n, int(d)
        self.batch_size = min(batch_size, n)
        self.steps_per_epoch = n // self.batch_size

    def set_batch_size(self, batch_size: int) -> None:
        """Re-cut the stream into batches of `batch_size` rows (capped at the row count)."""
        self.batch_size = min(batch_size, self.n)
        self.steps_per_epoch = self.n // self.batch_size

    def _iter(self) -> Iterator[np.ndarray]:
        it = self._data() if callable(self._data) else self._data
        if isinstance(it, Iterator) and not callable(self._data) and getattr(self, "n", None):
            raise InputError(f"{self.source}: a one-shot iterator cannot be re-read; "
                             "pass a list, a re-iterable or a callable")
        for b in it:
            yield as_numpy(b, self.source)

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[np.ndarray]:
        buf: list[np.ndarray] = []
        have = 0
        i = 0
        for b in self._iter():
            buf.append(b)
            have += len(b)
            while have >= self.batch_size and i < self.steps_per_epoch:
                cat = np.concatenate(buf) if len(buf) > 1 else buf[0]
                batch, rest = cat[:self.batch_size], cat[self.batch_size:]
                buf, have = ([rest] if len(rest) else []), len(rest)
                if i >= skip:
                    yield batch
                i += 1

    def sample(self, n: int) -> np.ndarray:
        """A uniform sample of min(n, N) rows of the whole stream (one pass, `sample_positions`),
        not its first n rows: the input scale, the decoder-bias initialisation and the dead count
        must describe the data, not its head."""
        return np.concatenate(list(self.sample_chunks(n)))

    def sample_chunks(self, n: int, chunk: int = 65536) -> Iterator[np.ndarray]:
        """`sample(n)` in chunks of about `chunk` rows, in stream order (one pass)."""
        pos = sample_positions(self.n, n, self.seed)
        buf: list[np.ndarray] = []
        have, seen, i = 0, 0, 0
        for b in self._iter():
            j = np.searchsorted(pos, seen + len(b), side="left")
            if j > i:
                buf.append(b[pos[i:j] - seen])
                have += j - i
                i = j
            seen += len(b)
            if have >= chunk or (i == len(pos) and buf):
                yield np.concatenate(buf)
                buf, have = [], 0
            if i == len(pos):
                return


def sample_positions(n_rows: int, n: int, seed: int) -> np.ndarray:
    """Sorted positions of a uniform sample of min(n, n_rows) of n_rows rows, without
    replacement, fixed by `seed` (all rows when n >= n_rows)."""
    if n >= n_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng([seed, 1 << 30])
    return np.sort(rng.choice(n_rows, size=n, replace=False))


def parquet_batches(path: str | Path, column: str | None = None) -> Callable[[], Iterator[np.ndarray]]:
    """A re-iterable stream of float32 batches (one per Parquet row group) from a file or folder.

    For training on vectors larger than memory: `train_sae(parquet_batches("shards/"), cfg)`.
    """
    import pyarrow.parquet as pq

    from saescope.data.vectors import detect_vector_column, list_column_to_numpy, parquet_files

    files = parquet_files(path)

    def batches() -> Iterator[np.ndarray]:
        for f in files:
            pf = pq.ParquetFile(f)
            name = detect_vector_column(pf.schema_arrow, column, str(f))
            for i in range(pf.num_row_groups):
                col = pf.read_row_group(i, columns=[name])[name]
                X = list_column_to_numpy(col, str(f), name)
                if not np.isfinite(X).all():
                    bad = int(np.flatnonzero(~np.isfinite(X).all(1))[0])
                    raise InputError(f"{f}: row group {i} has NaN/Inf (row {bad} of the group)")
                yield X

    return batches


def make_source(data: Any, batch_size: int, seed: int) -> ArraySource | StreamSource:
    """Pick the source for what `train_sae` was given (array, tensor, or iterable)."""
    if isinstance(data, (np.ndarray, torch.Tensor)) or (
        hasattr(data, "shape") and hasattr(data, "__getitem__")
    ):
        return ArraySource(data, batch_size, seed)
    if isinstance(data, Iterable) or callable(data):
        return StreamSource(data, batch_size, seed=seed)
    raise InputError(f"cannot train on {type(data).__name__}: give an array or an iterable of batches")
