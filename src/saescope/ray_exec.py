"""Embed, encode and curate on a Ray cluster with Ray Data: the one place where stages meet Ray.

Each input file becomes one output part, `OUT/part-XXXXX.parquet` (XXXXX = the file's index in
the sorted input list), with a `_part-XXXXX.done` marker written once the part is complete, so
a rerun of the same command skips finished parts (resume by output part). Pending files are
processed in rounds of `files_per_round`: per round, `read_parquet`/`read_json` ->
`map_batches` over an actor pool (each actor holds the model, with `gpus_per_actor` GPUs) ->
`write_parquet` into a hidden folder partitioned by part, then each part is moved into place.
An interruption loses at most the round in progress. Row order within a part is the input
order (`preserve_order`), and the rows are computed by the same code as locally
(`Embedder.encode` + `vector_table`, `iter_codes`), so vectors and codes equal the local ones.
Curation's Ray executor (`curate.executors.run_ray`) runs its scoring actor through the same
`run_parts`: its shards are whole pool files, and its sidecars are these parts.

On a cluster (`saescope[ray]` on every node; input, model/SAE and output on storage every node
reads)::

    ray start --head --object-store-memory 20000000000      # on the head node
    ray start --address HEAD:6379                             # on each worker
    saescope embed /shared/corpus/ --executor ray --ray-address auto --gpus-per-actor 1 \
        --out /shared/emb/
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saescope.errors import ConfigError, InputError
from saescope.io import atomic_path

STATE_FILE = "_ray_state.json"
PART_COLUMN = "_part"
_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz")


@dataclass
class RayConfig:
    """Where and how wide the Ray Data job runs."""

    address: str | None = None
    """`ray.init(address=...)`: None starts (or joins) a local Ray; `auto` joins this node's
    cluster; `ray://HEAD:10001` connects through Ray Client."""
    actors: int | None = None
    """Actor pool size (copies of the model); None = one per free GPU, or per 2 free CPUs."""
    gpus_per_actor: float = 0.0
    """GPUs reserved by each actor (1 = one GPU per model copy; the model then runs on CUDA)."""
    batch_size: int = 1024
    """Rows per `map_batches` batch (what one actor call gets)."""
    files_per_round: int = 16
    """Input files per Ray Data job; an interruption loses at most one round."""

    def __post_init__(self) -> None:
        if self.actors is not None and self.actors < 1:
            raise ConfigError(f"actors must be >= 1, got {self.actors}")
        if self.gpus_per_actor < 0:
            raise ConfigError(f"gpus_per_actor must be >= 0, got {self.gpus_per_actor}")
        if self.batch_size < 1 or self.files_per_round < 1:
            raise ConfigError("batch_size and files_per_round must be >= 1")


# ---------------------------------------------------------------------------- actors
class _EmbedActor:
    """Holds one sentence model; turns text batches into the `embed` vector layout."""

    def __init__(self, model: str, device: str, batch_size: int, normalize: bool, text_field: str,
                 id_field: str, empty: str, parts: dict[str, int]) -> None:
        from saescope.data.embed import Embedder

        self.embedder = Embedder(model=model, device=device, batch_size=batch_size,
                                 normalize=normalize)
        self.text_field, self.id_field, self.parts = text_field, id_field, parts
        self.empty = empty

    def __call__(self, batch: pa.Table) -> pa.Table:
        from saescope.data.embed import vector_table

        texts = batch[self.text_field].to_pylist()
        blank = np.array([t is None or not str(t).strip() for t in texts], dtype=bool)
        if blank.any() and self.empty == "error":
            raise InputError(f"{batch['path'][int(np.argmax(blank))]}: empty text "
                             f"in field {self.text_field!r} (--empty drop|keep to go on)")
        if blank.any() and self.empty == "drop":  # as the local reader does by default
            batch = batch.filter(pa.array(~blank))
        part = part_array(batch, self.parts)
        batch = batch.drop_columns(["path"])
        if self.id_field != "id":
            batch = batch.drop_columns([c for c in ("id",) if c in batch.column_names])
            batch = batch.rename_columns(["id" if c == self.id_field else c
                                          for c in batch.column_names])
        texts = [t if t is not None else "" for t in batch[self.text_field].to_pylist()]
        out = vector_table(batch, self.embedder.encode(texts))
        return out.append_column(PART_COLUMN, part)


class _EncodeActor:
    """Holds one SAE; turns vector batches into (id, sae_idx, sae_val) rows."""

    def __init__(self, sae_dir: str, device: str, column: str, id_field: str,
                 drop_nonfinite: bool, parts: dict[str, int]) -> None:
        from saescope.sae.model import SparseAutoencoder

        self.sae = SparseAutoencoder.load(sae_dir, device=device)
        self.column, self.id_field, self.parts = column, id_field, parts
        self.drop_nonfinite = drop_nonfinite

    def __call__(self, batch: pa.Table) -> pa.Table:
        from saescope.data.vectors import check_finite, list_column_to_numpy
        from saescope.sae.encode import iter_codes

        source = f"{batch['path'][0]} (a batch of it)" if batch.num_rows else "ray batch"
        X = list_column_to_numpy(batch[self.column], source, self.column)
        keep = check_finite(X, source, drop=self.drop_nonfinite)  # as `encode` does locally
        if not keep.all():
            X, batch = X[keep], batch.filter(pa.array(keep))
        (indptr, idx, vals), = iter_codes(self.sae, X, batch_size=len(X) or 1)
        offsets = pa.array(indptr.astype(np.int32))
        ids = batch[self.id_field] if self.id_field in batch.column_names else None
        if ids is None:
            raise InputError(f"vector files have no id column {self.id_field!r}")
        ids = ids.cast(pa.string() if not pa.types.is_integer(ids.type) else pa.int64())
        return pa.table({
            "id": ids,
            "sae_idx": pa.ListArray.from_arrays(offsets, pa.array(idx, pa.int32())),
            "sae_val": pa.ListArray.from_arrays(offsets, pa.array(vals, pa.float32())),
            PART_COLUMN: part_array(batch, self.parts),
        })


def part_array(batch: pa.Table, parts: dict[str, int]) -> pa.Array:
    """The output part of each row, from the `path` column Ray Data adds (`include_paths`).

    An actor given to `run_parts` takes `parts` (file -> part, passed by `run_parts`) and returns
    its rows with this array as the `PART_COLUMN` column."""
    out = []
    for p in batch["path"].to_pylist():
        key = p if p in parts else Path(p).name
        if key not in parts:
            raise RuntimeError(f"Ray returned a row of an unknown file {p}")
        out.append(parts[key])
    return pa.array(out, pa.int32())


# ---------------------------------------------------------------------------- driver
def input_files(path: str | Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The input files of a file or folder, sorted (their index is the output part number)."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
                       and p.name.endswith(suffixes))
    else:
        raise InputError(f"{path}: not found")
    if not files:
        raise InputError(f"{path}: no input files ({', '.join(suffixes)})")
    return files


def part_path(out: Path, i: int) -> Path:
    return out / f"part-{i:05d}.parquet"


def done_marker(out: Path, i: int) -> Path:
    return out / f"_part-{i:05d}.done"


def _prepare(out: Path, fingerprint: str, overwrite: bool) -> None:
    """Check (or write) the fingerprint of the job that owns `out`."""
    from saescope.io import check_replaceable, write_marker

    state = out / STATE_FILE
    if overwrite and out.exists():
        check_replaceable(out)  # only a folder saescope marked as its output
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if state.is_file():
        old = json.loads(state.read_text()).get("fingerprint")
        if old != fingerprint:
            raise InputError(f"{out} holds parts of another job (inputs or settings differ); "
                             "use --overwrite or another --out")
    else:
        if any(p for p in out.iterdir() if not p.name.startswith(".")):
            raise InputError(f"output folder {out} exists and is not empty (use --overwrite)")
        write_marker(out, "parts")
        with atomic_path(state) as tmp:
            tmp.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")


def init_ray(address: str | None) -> Any:
    """`ray.init` once (a running local instance or cluster is reused)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'saescope[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True,
                 log_to_driver=False)
    # Ray Data resolves paths in threads that race to import fsspec's HTTP filesystem: import once.
    with contextlib.suppress(ImportError):
        import fsspec.implementations.http  # noqa: F401
    return ray


def _pool_size(ray: Any, cfg: RayConfig) -> int:
    if cfg.actors is not None:
        return cfg.actors
    free = ray.available_resources()
    if cfg.gpus_per_actor > 0:
        return max(1, int(free.get("GPU", 1) // cfg.gpus_per_actor))
    return max(1, int(free.get("CPU", 2) // 2))


def run_parts(files: list[Path], out: Path, actor: type, actor_kwargs: dict[str, Any],
              cfg: RayConfig, fingerprint: str | None, id_field: str = "id", overwrite: bool = False,
              columns: list[str] | None = None, progress: bool = True,
              on_part: Callable[[int, int], None] | None = None,
              empty_schema: pa.Schema | None = None) -> dict[str, int]:
    """Map every pending input file to its output part; returns {"parts", "done", "rows"}.

    `fingerprint` None: the caller owns `out` and checks what it holds (curation's scores/).
    `empty_schema`: the schema of the part of an input file without rows (default: `id` only).
    """
    ray = init_ray(cfg.address)
    if fingerprint is None:
        out.mkdir(parents=True, exist_ok=True)
    else:
        _prepare(out, fingerprint, overwrite)
    todo = [i for i in range(len(files))
            if not (done_marker(out, i).is_file() and part_path(out, i).is_file())]
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.execution_options.preserve_order = True
    size = _pool_size(ray, cfg)
    rows = 0
    for r in range(0, len(todo), cfg.files_per_round):
        group = todo[r:r + cfg.files_per_round]
        parts = {}
        for i in group:
            parts[str(files[i])] = parts[str(files[i].resolve())] = i
            parts[str(files[i].resolve()).lstrip("/")] = parts[files[i].name] = i
        paths = [str(files[i]) for i in group]
        if all(p.endswith(_JSON_SUFFIXES) for p in paths):
            ds = ray.data.read_json(paths, include_paths=True, lines=True)
        else:
            ds = ray.data.read_parquet(paths, include_paths=True)
            if columns:
                ds = ds.select_columns([*columns, "path"])
        ds = ds.map_batches(
            actor, fn_constructor_kwargs={**actor_kwargs, "parts": parts},
            batch_size=cfg.batch_size, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=size),
            num_gpus=cfg.gpus_per_actor or None,
        )  # fmt: skip
        tmp = out / f".round-{r:05d}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            try:
                ds.write_parquet(str(tmp), partition_cols=[PART_COLUMN])
            except Exception as exc:  # an actor's InputError arrives as text in Ray's error
                raise _user_error(exc) or exc from None
            for i in group:
                rows += _commit_part(out, tmp, i, files[i], id_field, empty_schema)
                if on_part is not None:
                    on_part(i, len(files))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"parts": len(files), "done": len(todo), "rows": rows}


def _user_error(exc: BaseException) -> InputError | None:
    """The saescope error an actor raised (Ray passes on only its traceback text), if any."""
    import re

    m = re.search(r"saescope\.errors\.(?:InputError|ConfigError|SaescopeError): ([^\n]+)", str(exc))
    return InputError(m.group(1)) if m else None


def _commit_part(out: Path, tmp: Path, i: int, source: Path, id_field: str,
                 empty_schema: pa.Schema | None = None) -> int:
    """Move part i from the round's partitioned folder into `part-XXXXX.parquet` + marker."""
    folder = tmp / f"{PART_COLUMN}={i}"
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(f) for f in files]
    table = pa.concat_tables(tables) if tables else None
    if table is not None and PART_COLUMN in table.column_names:
        table = table.drop_columns([PART_COLUMN])
    if table is not None:
        table = _input_order(table, source, id_field)
    n = 0 if table is None else table.num_rows
    with atomic_path(part_path(out, i)) as t:
        if table is None:  # an input file without rows: an empty part, for the marker's sake
            empty = empty_schema.empty_table() if empty_schema is not None else \
                pa.table({"id": pa.array([], pa.string())})
            pq.write_table(empty, t)
        else:
            pq.write_table(table, t)
    with atomic_path(done_marker(out, i)) as t:
        t.write_text(json.dumps({"rows": n}) + "\n")
    return n


def _input_order(table: pa.Table, source: Path, id_field: str) -> pa.Table:
    """Rows in the order of the input file (Ray's partitioned write may reorder blocks).

    Matched by id; when the file's ids are not unique the rows keep the order Ray gave.
    """
    if str(source).endswith(_JSON_SUFFIXES):
        import pyarrow.json as pj

        ids_in = pj.read_json(pa.input_stream(str(source), compression="detect"))[id_field]
    else:
        ids_in = pq.read_table(source, columns=[id_field])[id_field]
    ids_in = [str(x) for x in ids_in.to_pylist()]
    pos = {x: k for k, x in enumerate(ids_in)}
    if len(pos) != len(ids_in):
        return table
    keys = [pos.get(str(x), len(pos)) for x in table["id"].to_pylist()]
    return table.take(pa.array(np.argsort(np.asarray(keys), kind="stable")))


def _fingerprint(kind: str, files: list[Path], settings: dict[str, Any]) -> str:
    h = hashlib.sha256(kind.encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------- stages
def embed_files(input: str | Path, out: str | Path, model: str = "minilm", batch_size: int = 64,
                normalize: bool = True, text_field: str = "text", id_field: str = "id",
                empty: str = "drop", device: str = "auto", ray: RayConfig | None = None,
                overwrite: bool = False, progress: bool = True) -> dict[str, int]:
    """Sentence embeddings of Parquet/JSONL corpus files, one output part per file (Ray Data).

    Output parts have the `saescope embed` layout: `id` (string), `embedding`
    (fixed_size_list<float32>[d]), then the other input columns. Empty texts (missing, empty
    or whitespace only) are dropped (`empty="drop"`, as locally), embedded as "" (`keep`) or
    refused (`error`).
    """
    if empty not in ("drop", "keep", "error"):
        raise ConfigError(f"empty must be 'drop', 'keep' or 'error', got {empty!r}")
    cfg = ray or RayConfig()
    files = input_files(input, (".parquet", *_JSON_SUFFIXES))
    kinds = {str(f).endswith(_JSON_SUFFIXES) for f in files}
    if len(kinds) > 1:
        raise InputError(f"{input}: mixes Parquet and JSONL files; give one kind per run")
    from saescope.data.models import resolve_sentence_model

    source = resolve_sentence_model(model)
    dev = "cuda" if cfg.gpus_per_actor > 0 else ("cpu" if device == "auto" else device)
    kwargs = {"model": model, "device": dev, "batch_size": batch_size, "normalize": normalize,
              "text_field": text_field, "id_field": id_field, "empty": empty}
    fp = _fingerprint("embed", files, {**kwargs, "source": str(source), "device": None})
    return run_parts(files, Path(out), _EmbedActor, kwargs, cfg, fp, id_field, overwrite,
                     progress=progress)


def encode_files(sae_dir: str | Path, input: str | Path, out: str | Path, column: str | None = None,
                 id_field: str = "id", device: str = "auto", ray: RayConfig | None = None,
                 overwrite: bool = False, progress: bool = True, drop_nonfinite: bool = False
                 ) -> dict[str, int]:
    """Sparse codes of Parquet vector files under an SAE, one output part per file (Ray Data).

    Output parts have the `saescope encode` layout: `id`, `sae_idx` list<int32>,
    `sae_val` list<float32>. Rows with NaN/Inf are refused, or skipped with `drop_nonfinite`.
    """
    from saescope.data.vectors import detect_vector_column

    cfg = ray or RayConfig()
    files = input_files(input, (".parquet",))
    schema = pq.read_schema(files[0])
    col = detect_vector_column(schema, column, str(files[0]))
    if id_field not in schema.names:
        raise InputError(f"{files[0]}: no id column {id_field!r} (columns: {', '.join(schema.names)})")
    from saescope.sae.model import SparseAutoencoder

    sae = SparseAutoencoder.load(sae_dir)  # a bad folder fails here, not in every actor
    d = schema.field(col).type
    if pa.types.is_fixed_size_list(d) and d.list_size != sae.d_in:
        raise InputError(f"{files[0]}: vectors have {d.list_size} dimensions, the SAE in "
                         f"{sae_dir} expects {sae.d_in} (d_in)")
    sae_dir = str(Path(sae_dir).resolve())
    dev = "cuda" if cfg.gpus_per_actor > 0 else ("cpu" if device == "auto" else device)
    kwargs = {"sae_dir": sae_dir, "device": dev, "column": col, "id_field": id_field,
              "drop_nonfinite": drop_nonfinite}
    w = Path(sae_dir) / "sae.safetensors"
    if not w.is_file():
        w = Path(sae_dir) / "sae_weights.safetensors"
    sae_stamp = f"{w.stat().st_size}:{int(w.stat().st_mtime)}" if w.is_file() else sae_dir
    fp = _fingerprint("encode", files, {**kwargs, "device": None, "sae": sae_stamp})
    return run_parts(files, Path(out), _EncodeActor, kwargs, cfg, fp, id_field, overwrite,
                     columns=[col, id_field], progress=progress)

