"""Reading the per-shard score sidecars (`scores/part-XXXXX.parquet`) for the selection.

A row is addressed by its position in the pool (`Shard.start` + its row in the shard), so the
selection works on score arrays and positions and reads ids only for the rows it keeps
(`rows_at`). `Rules` applies what makes a scored row no candidate, one shard at a time: a seed's
text (the seed itself under another id, found by the text hash the scoring pass wrote), no
evidence in feature selection, a score under the threshold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saescope.curate.executors import sidecar
from saescope.curate.layout import PoolLayout, Shard


def read_scores(layout: PoolLayout, scores_dir: Path) -> tuple[pa.Table, np.ndarray]:
    """All sidecars in shard order, and the shard index of every row (the whole pool in memory:
    for quotas and dedup, which need the full order)."""
    tables, shard_of = [], []
    for s in layout.shards:
        t = pq.read_table(sidecar(scores_dir, s))
        tables.append(t)
        shard_of.append(np.full(t.num_rows, s.index, dtype=np.int32))
    return pa.concat_tables(tables), np.concatenate(shard_of)


def iter_columns(layout: PoolLayout, scores_dir: Path, columns: list[str]
                 ) -> Iterator[tuple[Shard, pa.Table]]:
    """(shard, its sidecar's `columns`) in shard order."""
    for s in layout.shards:
        yield s, pq.read_table(sidecar(scores_dir, s), columns=columns)


def rows_at(layout: PoolLayout, scores_dir: Path, positions: np.ndarray,
            columns: list[str] | None = None) -> tuple[pa.Table, np.ndarray]:
    """(sidecar rows at pool `positions`, in that order; their shard indices). Reads only the
    shards that hold one of them."""
    positions = np.asarray(positions, dtype=np.int64)
    starts = np.array([s.start for s in layout.shards], dtype=np.int64)
    sort = np.argsort(positions, kind="stable")
    sp = positions[sort]
    shard_idx = np.searchsorted(starts, sp, side="right") - 1
    parts = []
    for i in np.unique(shard_idx):
        s = layout.shards[int(i)]
        t = pq.read_table(sidecar(scores_dir, s), columns=columns)
        parts.append(t.take(pa.array(sp[shard_idx == i] - s.start, type=pa.int64())))
    schema = pq.read_schema(sidecar(scores_dir, layout.shards[0]))
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    inverse = np.empty_like(sort)
    inverse[sort] = np.arange(len(sort))
    shards = np.array([layout.shards[int(i)].index for i in shard_idx], dtype=np.int32)
    return table.take(pa.array(inverse, type=pa.int64())), shards[inverse]


@dataclass
class Rules:
    """What makes a scored row no candidate (applied shard by shard, counted as it goes)."""

    seed_hashes: np.ndarray | None
    """Sorted uint64 hashes of the seeds' stripped texts (`curate.text.text_hashes`; None: no texts)."""
    by_features: bool
    """Feature selection: rows where none of the chosen latents fires (score <= 0) are out."""
    threshold: float | None
    """Rows scoring under it are out."""
    n_without_evidence: int = 0
    n_seed_duplicates: int = 0
    n_candidates: int = 0
    duplicate_positions: list[np.ndarray] = field(default_factory=list)
    """Pool positions of the seed duplicates found."""

    def apply(self, start: int, score: np.ndarray, text_hash: np.ndarray | None) -> np.ndarray:
        """float64 scores of one shard's rows (first at pool position `start`), NaN where a row is
        no candidate."""
        score = np.asarray(score, dtype=np.float64).copy()
        if self.by_features:
            no_evidence = ~(score > 0)
            self.n_without_evidence += int(no_evidence.sum())
            score[no_evidence] = np.nan
        if self.seed_hashes is not None and text_hash is not None and len(self.seed_hashes):
            dup = np.isin(text_hash, self.seed_hashes) & (text_hash != 0)
            self.n_seed_duplicates += int(dup.sum())
            self.duplicate_positions.append(start + np.flatnonzero(dup))
            score[dup] = np.nan
        keep = np.isfinite(score)
        if self.threshold is not None:
            keep &= score >= self.threshold
        self.n_candidates += int(keep.sum())
        score[~keep] = np.nan
        return score

    @property
    def duplicates(self) -> np.ndarray:
        """Pool positions of all seed duplicates found."""
        return (np.concatenate(self.duplicate_positions) if self.duplicate_positions
                else np.zeros(0, dtype=np.int64))
