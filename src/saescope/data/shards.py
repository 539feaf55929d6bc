"""Shard-by-shard Parquet output that resumes after an interruption.

The input table is cut into fixed-size row shards. Each finished shard is written atomically
to `.<out>.parts/part-XXXXX.parquet` beside the output; a `manifest.json` there records what
the parts were computed from (a fingerprint of the model/options and of the input ids and
texts), so a rerun skips finished shards only when they belong to the same job. When every
shard is done the parts become the output: one Parquet file (`out` ends with `.parquet`) or a
folder of shards (any other `out`).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from saescope.errors import ConfigError, SaescopeError
from saescope.io import (
    atomic_path,
    check_replaceable,
    read_json,
    replace_dir,
    write_json,
    write_marker,
)

log = logging.getLogger(__name__)


def vectors_to_arrow(X: np.ndarray) -> pa.FixedSizeListArray:
    """A float32 [N, d] matrix as a fixed_size_list<float32>[d] array (no copy when contiguous)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {X.shape}")
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1), pa.float32()), X.shape[1])


def table_fingerprint(table: pa.Table, columns: Sequence[str]) -> str:
    """sha256 over the row count and the values of `columns` (used to recognise the same input)."""
    h = hashlib.sha256(str(table.num_rows).encode())
    for name in columns:
        h.update(b"\x00column\x00" + name.encode())
        # Values, not buffers: a sliced column shares (and would hash) its parent's buffers.
        for batch in table.select([name]).to_batches(max_chunksize=65_536):
            for value in batch.column(0).cast(pa.string()).to_pylist():
                h.update(b"\x01" if value is None else value.encode() + b"\x00")
    return h.hexdigest()


class ShardedWriter:
    """Compute output tables shard by shard, resumably, and publish them atomically.

    `outputs` maps a name to an output path; `compute` returns one table per name for each
    input shard (several outputs come from one pass, e.g. activations at several layers).
    A plain path is the single output named `""`.
    """

    def __init__(
        self,
        outputs: str | Path | Mapping[str, str | Path],
        shard_size: int = 4096,
        overwrite: bool = False,
    ):
        if shard_size < 1:
            raise ConfigError(f"shard_size must be >= 1, got {shard_size}")
        if isinstance(outputs, (str, Path)):
            outputs = {"": outputs}
        self.outs = {k: Path(v) for k, v in outputs.items()}
        self.shard_size = shard_size
        self.overwrite = overwrite
        self.parts = {k: p.parent / f".{p.name}.parts" for k, p in self.outs.items()}

    def _check_outputs(self) -> None:
        if self.overwrite:
            for out in self.outs.values():
                check_replaceable(out)  # a folder output: only one saescope marked as its own
            return
        for out in self.outs.values():
            if not out.exists() or (out.is_dir() and not any(out.iterdir())):
                continue
            raise SaescopeError(f"output {out} already exists (use --overwrite to replace it)")

    def run(
        self,
        table: pa.Table,
        compute: Callable[[pa.Table], pa.Table | Mapping[str, pa.Table]],
        fingerprint: str,
        id_columns: Sequence[str] = ("id",),
        progress: bool = True,
        desc: str = "shards",
        on_skip: Callable[[pa.Table], None] | None = None,
    ) -> Path | dict[str, Path]:
        """Apply `compute` to each row shard of `table`; return the output path(s).
        `on_skip` is called with each shard that an earlier run already finished."""
        self._check_outputs()
        n = table.num_rows
        num_shards = max(1, -(-n // self.shard_size))
        manifest = {
            "fingerprint": fingerprint,
            "input": table_fingerprint(table, [c for c in id_columns if c in table.column_names]),
            "rows": n,
            "shard_size": self.shard_size,
            "shards": num_shards,
        }
        for key in self.outs:
            self._prepare_parts(key, manifest)
        done = [i for i in range(num_shards) if self._shard_done(i)]
        if done:
            log.info("resuming: %d of %d shards already done", len(done), num_shards)
        bar = tqdm(total=n, desc=desc, unit="row", disable=not progress)
        bar.update(min(n, len(done) * self.shard_size))
        for i in range(num_shards):
            shard = table.slice(i * self.shard_size, self.shard_size)
            if self._shard_done(i):
                if on_skip is not None:
                    on_skip(shard)
                continue
            result = compute(shard)
            results = result if isinstance(result, Mapping) else {"": result}
            if set(results) != set(self.outs):
                raise ValueError(f"compute returned outputs {sorted(results)}, expected {sorted(self.outs)}")
            for key, res in results.items():
                with atomic_path(self._part(key, i)) as tmp:
                    pq.write_table(res, tmp)
            bar.update(shard.num_rows)
        bar.close()
        for key in self.outs:
            self._publish(key, num_shards)
        if set(self.outs) == {""}:
            return self.outs[""]
        return dict(self.outs)

    def _part(self, key: str, i: int) -> Path:
        return self.parts[key] / f"part-{i:05d}.parquet"

    def _shard_done(self, i: int) -> bool:
        return all(self._part(key, i).is_file() for key in self.outs)

    def _prepare_parts(self, key: str, manifest: dict) -> None:
        parts = self.parts[key]
        manifest_path = parts / "manifest.json"
        if parts.is_dir():
            old = read_json(manifest_path) if manifest_path.is_file() else None
            if old == manifest:
                return
            log.warning("discarding unfinished parts in %s: they belong to another job", parts)
            shutil.rmtree(parts)
        parts.mkdir(parents=True)
        write_json(manifest_path, manifest)

    def _publish(self, key: str, num_shards: int) -> None:
        out, parts_dir = self.outs[key], self.parts[key]
        parts = [self._part(key, i) for i in range(num_shards)]
        if out.suffix.lower() == ".parquet":
            schema = pq.read_schema(parts[0])
            if out.is_dir():  # --overwrite of an earlier folder output of the same name
                shutil.rmtree(out)
            with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    writer.write_table(pq.read_table(part, schema=schema))
            shutil.rmtree(parts_dir, ignore_errors=True)
            return
        (parts_dir / "manifest.json").unlink()
        write_marker(parts_dir, "vectors", sorted(p.name for p in parts_dir.iterdir()))
        replace_dir(parts_dir, out)
