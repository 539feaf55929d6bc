"""Where the per-shard scoring runs: this process, a pool of processes, or Ray Data.

Every executor writes the same sidecars, `scores/part-XXXXX.parquet` (`id`, `score`,
`centroid_sim`, `max_sim`, `nearest_seed`, `cluster`, `text_hash`: `curate.text.text_hashes` of
the row's text when the seeds have texts, else 0, for the seed-duplicate rule) and a `_part-XXXXX.done` marker (JSON
with the row count) once the sidecar is complete; shards with a marker are skipped on rerun.
The underscore keeps `pyarrow.parquet.read_table("scores/")` reading the sidecars only.

The fitted space travels to workers as its state (`fit/state.safetensors` + `fit/space.json`)
plus the SAE folder, which workers load themselves.

Running on a Ray cluster (`saescope[ray]` installed on every node)::

    ray start --head                       # on the head node; `ray start --address=HEAD:6379` on workers
    saescope curate --executor ray --ray-address auto --seeds S --pool s3://... or /shared/pool \
        --sae /shared/sae --budget 100000 --out /shared/cur

`--ray-address` is passed to `ray.init(address=...)` (`auto` joins the cluster of this node,
`ray://HEAD:10001` connects through Ray Client). The pool files, the SAE folder and the
output folder must be on storage every node reads (NFS, or object storage that pyarrow can
open); the fitted space (seed vectors, centroid, pool mean, idf, k-means centres) is sent
to the actors by Ray. Each actor scores `--chunk-size` rows per batch; with CUDA, each actor
takes one GPU (`num_gpus=1`) and runs the SAE encoder and the products there.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from saescope.curate.layout import PoolLayout, Shard, iter_chunks
from saescope.curate.spaces import ChunkScores, FittedSpace
from saescope.io import atomic_path

SCORE_SCHEMA = pa.schema([
    ("id", pa.string()), ("score", pa.float32()), ("centroid_sim", pa.float32()),
    ("max_sim", pa.float32()), ("nearest_seed", pa.int32()), ("cluster", pa.int32()),
    ("text_hash", pa.uint64()),
])  # fmt: skip


def scores_table(ids: np.ndarray, s: ChunkScores, text_hash: np.ndarray | None = None) -> pa.Table:
    """The sidecar rows of one chunk (`text_hash` None: zeros)."""
    if text_hash is None:
        text_hash = np.zeros(len(ids), dtype=np.uint64)
    return pa.table(
        [pa.array(ids, type=pa.string()), pa.array(s.score, pa.float32()),
         pa.array(s.centroid_sim, pa.float32()), pa.array(s.max_sim, pa.float32()),
         pa.array(s.nearest_seed, pa.int32()), pa.array(s.cluster, pa.int32()),
         pa.array(text_hash, pa.uint64())],
        schema=SCORE_SCHEMA,
    )  # fmt: skip


def score_chunk(space: FittedSpace, ids: np.ndarray, X: np.ndarray, table: pa.Table,
                hash_field: str | None) -> pa.Table:
    """Sidecar rows of one chunk: its scores, and the hashes of its `hash_field` texts."""
    from saescope.curate.text import text_hashes

    field = space.text_field
    texts = table[field].to_pylist() if field else None
    hashes = None
    if hash_field:
        hashes = text_hashes(texts if hash_field == field else table[hash_field].to_pylist())
    return scores_table(ids, space.score(X, ids, texts), hashes)


def sidecar(scores_dir: Path, shard: Shard) -> Path:
    return scores_dir / f"{shard.name}.parquet"


def done_marker(scores_dir: Path, shard: Shard) -> Path:
    # a leading underscore hides markers from Arrow/Spark readers of the scores/ folder
    return scores_dir / f"_{shard.name}.done"


def pending_shards(layout: PoolLayout, scores_dir: Path) -> list[Shard]:
    """Shards without a completion marker (or whose sidecar went missing)."""
    return [s for s in layout.shards
            if not (done_marker(scores_dir, s).is_file() and sidecar(scores_dir, s).is_file())]


def write_sidecar(scores_dir: Path, shard: Shard, table: pa.Table) -> None:
    """Write the sidecar atomically, then the marker: a marker always means a complete file."""
    with atomic_path(sidecar(scores_dir, shard)) as tmp:
        pq.write_table(table, tmp)
    with atomic_path(done_marker(scores_dir, shard)) as tmp:
        tmp.write_text(json.dumps({"rows": table.num_rows}) + "\n")


def score_shard(shard: Shard, layout: PoolLayout, space: FittedSpace, scores_dir: Path,
                chunk_size: int, bar: Any = None, hash_field: str | None = None) -> int:
    """Score one shard chunk by chunk and write its sidecar; returns its row count."""
    parts = []
    extra = [f for f in (space.text_field, hash_field) if f]
    for ids, X, table in iter_chunks(shard, layout, chunk_size, extra or None):
        parts.append(score_chunk(space, ids, X, table, hash_field))
        if bar is not None:
            bar.update(len(ids))
    table = pa.concat_tables(parts) if parts else SCORE_SCHEMA.empty_table()
    write_sidecar(scores_dir, shard, table)
    return table.num_rows


# ---------------------------------------------------------------------------- local
_WORKER: dict[str, Any] = {}


def _init_worker(fit_dir: str, sae_dir: str | None, device: str, layout: dict[str, Any],
                 threads: int, hash_field: str | None) -> None:
    from threadpoolctl import threadpool_limits

    from saescope.curate.fitstate import load_space

    _WORKER["limits"] = threadpool_limits(threads)
    _WORKER["space"] = load_space(Path(fit_dir), sae_dir, device)
    _WORKER["layout"] = layout
    _WORKER["hash_field"] = hash_field


def _run_worker(shard: dict[str, Any], scores_dir: str, chunk_size: int) -> int:
    from saescope.curate.fitstate import layout_from_dict

    layout = layout_from_dict(_WORKER["layout"])
    return score_shard(Shard.from_dict(shard), layout, _WORKER["space"], Path(scores_dir), chunk_size,
                       hash_field=_WORKER["hash_field"])


def run_local(layout: PoolLayout, space: FittedSpace, scores_dir: Path, chunk_size: int,
              workers: int = 1, fit_dir: Path | None = None, sae_dir: str | None = None,
              progress: bool = True, hash_field: str | None = None) -> int:
    """Score the pending shards here (workers == 1) or in `workers` processes; returns shards done
    (`hash_field`: the text column whose hashes go to the sidecars, None: none)."""
    from saescope.curate.fitstate import layout_to_dict

    todo = pending_shards(layout, scores_dir)
    scores_dir.mkdir(parents=True, exist_ok=True)
    if not todo:
        return 0
    rows = sum(s.num_rows for s in todo)
    with tqdm(total=rows, unit="rows", desc="score", disable=not progress) as bar:
        if workers <= 1 or len(todo) == 1:
            for shard in todo:
                score_shard(shard, layout, space, scores_dir, chunk_size, bar, hash_field)
            return len(todo)
        import multiprocessing as mp

        assert fit_dir is not None
        threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker,
            initargs=(str(fit_dir), sae_dir, space.device, layout_to_dict(layout), threads, hash_field),
        ) as ex:
            futs = {ex.submit(_run_worker, s.to_dict(), str(scores_dir), chunk_size): s for s in todo}
            for fut in as_completed(futs):
                fut.result()
                bar.update(futs[fut].num_rows)
    return len(todo)


# ---------------------------------------------------------------------------- ray
class _RayScorer:
    """Ray Data actor: holds the fitted space (and its SAE) and scores pyarrow batches."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], sae_dir: str | None,
                 device: str, vector_column: str, id_column: str, parts: dict[str, int],
                 hash_field: str | None = None) -> None:
        from saescope.curate.fitstate import load_sae_for

        sae = load_sae_for(meta, sae_dir, device)
        self.space = FittedSpace.from_state(arrays, meta, sae=sae, device=device)
        self.vector_column, self.id_column, self.parts = vector_column, id_column, parts
        self.hash_field = hash_field

    def __call__(self, batch: pa.Table) -> pa.Table:
        from saescope.data.vectors import list_column_to_numpy
        from saescope.ray_exec import PART_COLUMN, part_array

        X = list_column_to_numpy(batch[self.vector_column], "ray batch", self.vector_column)
        ids = np.asarray(batch[self.id_column].cast(pa.string()).to_numpy(zero_copy_only=False),
                         dtype=object)
        table = score_chunk(self.space, ids, X, batch, self.hash_field)
        return table.append_column(PART_COLUMN, part_array(batch, self.parts))


def run_ray(layout: PoolLayout, space: FittedSpace, scores_dir: Path, chunk_size: int,
            sae_dir: str | None = None, address: str | None = None, concurrency: int | None = None,
            progress: bool = True, hash_field: str | None = None) -> int:
    """Score the pending shards (whole files) with Ray Data; returns shards done.

    `saescope.ray_exec.run_parts` does the Ray work (set-up, actor pool holding the space, one
    GPU per actor when the space runs on CUDA, one output part per file, resume by part): its
    parts and markers are the shards' sidecars (`part-XXXXX.parquet`, `_part-XXXXX.done`), so
    selection and resume are the same as locally. `concurrency`: actors (None: one per free GPU,
    or per two free CPUs).
    """
    from saescope.errors import InputError
    from saescope.ray_exec import RayConfig, part_path, run_parts

    if layout.id_column is None:
        raise InputError("the Ray executor needs an `id` column in the pool")
    files = [Path(s.file) for s in layout.shards]
    if len(set(files)) != len(files) or any(part_path(scores_dir, s.index) != sidecar(scores_dir, s)
                                            or s.index != i for i, s in enumerate(layout.shards)):
        raise ValueError("the Ray executor needs one shard per pool file (pool_layout(whole_files=True))")
    if not pending_shards(layout, scores_dir):
        scores_dir.mkdir(parents=True, exist_ok=True)
        return 0
    arrays, meta = space.state()
    cfg = RayConfig(address=address, actors=concurrency, batch_size=chunk_size,
                    gpus_per_actor=1.0 if space.device.startswith("cuda") else 0.0)
    kwargs = {"arrays": arrays, "meta": meta, "sae_dir": sae_dir, "device": space.device,
              "vector_column": layout.vector_column, "id_column": layout.id_column,
              "hash_field": hash_field}
    done = run_parts(files, scores_dir, _RayScorer, kwargs, cfg, fingerprint=None,
                     id_field=layout.id_column,
                     columns=list(dict.fromkeys([layout.vector_column, layout.id_column]
                                                + [f for f in (space.text_field, hash_field) if f])),
                     progress=progress, empty_schema=SCORE_SCHEMA)
    return done["done"]
