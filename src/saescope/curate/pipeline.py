"""The curation run: fit on the seeds, score every pool shard, select globally, write outputs.

Phases (as in DSIR, Xie et al. 2023): (1) fit the space on the seeds and a uniform pool sample
(`fit/`); (2) score each pool shard independently into `scores/part-XXXXX.parquet` (a finished
shard is skipped on rerun); (3) select globally from the sidecars, then read back only the
selected rows to write `selected.parquet` and compute the metrics. `manifest.json` is written
last: its presence means the run is complete.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from saescope.curate import executors
from saescope.curate.config import SAE_SPACES, CurateConfig
from saescope.curate.fitstate import (
    load_sae,
    load_space,
    sae_hash,
    save_space,
    saved_info,
    seed_hash,
)
from saescope.curate.metrics import SelectionMetrics, UnitSum
from saescope.curate.select import select
from saescope.curate.shards import PoolLayout, pool_layout, read_rows, sample_rows
from saescope.curate.spaces import FittedSpace, fit_space, unit_rows
from saescope.data.vectors import (
    VectorTable,
    check_finite,
    detect_vector_column,
    finite_parquet,
    parquet_files,
    read_vectors,
)
from saescope.errors import ConfigError, InputError
from saescope.io import atomic_path, write_json

OUTPUT_FILES = ("selected.parquet", "selected.jsonl", "projection.parquet", "manifest.json")
SCORE_COLUMNS = ("score", "centroid_sim", "max_sim", "nearest_seed", "cluster", "rank")


@dataclass
class Inputs:
    """Everything resolved once per run and shared by the main space and the baselines."""

    seeds: VectorTable | None
    pool_path: Path
    layout: PoolLayout
    sae: Any
    device: str
    features: list[int] | None
    feature_matches: list[dict[str, Any]] | None
    model: dict[str, Any]
    n_targets: int
    targets: set[str] | None


@dataclass
class SpaceRun:
    """The outcome of one space: the selected rows (in rank order) and their metrics."""

    space: FittedSpace
    selected: pa.Table
    """Pool columns (no vectors) + score columns + rank, in rank order."""
    metrics: dict[str, Any]
    n_candidates: int
    """Rows that passed the threshold (all scored rows without one)."""
    selected_units: np.ndarray
    """Unit input vectors of (up to `projection_sample`) selected rows, for the projection."""
    cluster_sizes: dict[int, int] | None
    timings: dict[str, float]


# ---------------------------------------------------------------------------- inputs
def _is_vector_source(path: Path) -> bool:
    if path.suffix.lower() in (".npy", ".safetensors"):
        return True
    if path.suffix.lower() == ".parquet" or path.is_dir():
        try:
            files = parquet_files(path)
        except InputError:
            return False
        try:
            schema = pq.read_schema(files[0])
        except Exception as exc:  # 0-byte, truncated or not Parquet at all
            raise InputError(f"{files[0]}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
        try:
            detect_vector_column(schema, None, str(path))
            return True
        except InputError:
            return False
    return False


def _warn(msg: str) -> None:
    import sys

    print(f"warning: {msg}", file=sys.stderr)


_MODELS: dict[tuple[Any, ...], Any] = {}


def _embed_corpus(path: Path, cfg: CurateConfig, out: Path, progress: bool) -> Path:
    """Embed a text corpus into the vector Parquet layout at `out` (resumable by shard).

    Sentence embeddings (`cfg.embedder`) or, with `cfg.activations_model`, the LLM's residual
    stream at `cfg.layer`, mean-pooled per document (`saescope.data.activations`). The model is
    loaded once per process and shared by the seeds and the pool.
    """
    from saescope.data.corpus import read_corpus

    table = read_corpus(path, text_field=cfg.text_field, on_error_flag=None)
    if table.num_rows == 0:
        raise InputError(f"{path}: no texts")
    if cfg.activations_model is not None:
        from saescope.data.activations import ActivationExtractor, extract_table

        key: tuple[Any, ...] = ("act", cfg.activations_model, cfg.layer, cfg.device)
        if key not in _MODELS:
            _MODELS[key] = ActivationExtractor(cfg.activations_model, layers=[cfg.layer],
                                               device=cfg.device)
        return extract_table(table, out, _MODELS[key], progress=progress)[cfg.layer]  # type: ignore[index]
    from saescope.data.embed import Embedder, embed_table

    key = ("st", cfg.embedder, cfg.device)
    if key not in _MODELS:
        _MODELS[key] = Embedder(cfg.embedder, device=cfg.device)
    return embed_table(table, out, embedder=_MODELS[key], progress=progress)


def _vectors_to_parquet(vt: VectorTable, out: Path) -> Path:
    from saescope.data.shards import vectors_to_arrow

    ids = pa.array([str(i) for i in vt.ids], type=pa.string())
    table = pa.table({"id": ids, "embedding": vectors_to_arrow(vt.X)})
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, row_group_size=65536)
    return out


def resolve_pool(cfg: CurateConfig, progress: bool) -> Path:
    """A vector Parquet file/folder for the pool (text and .npy pools are converted once)."""
    path = Path(cfg.pool)
    if not path.exists():
        raise InputError(f"{path}: pool not found")
    if _is_vector_source(path):
        if path.suffix.lower() in (".npy", ".safetensors"):
            out = cfg.out_path / "inputs" / "pool.parquet"
            return out if out.is_file() else _vectors_to_parquet(read_vectors(path), out)
        return path
    out = cfg.out_path / "inputs" / "pool.parquet"
    return out if out.is_file() else _embed_corpus(path, cfg, out, progress)


def load_seeds(cfg: CurateConfig, progress: bool) -> VectorTable | None:
    if cfg.seeds is None:
        return None
    path = Path(cfg.seeds)
    if not path.exists():
        raise InputError(f"{path}: seed set not found")
    if not _is_vector_source(path):
        out = cfg.out_path / "inputs" / "seeds.parquet"
        path = out if out.is_file() else _embed_corpus(path, cfg, out, progress)
    vt = read_vectors(path)
    if len(vt.X) == 0 or vt.X.size == 0:
        raise InputError(f"{cfg.seeds}: the seed set is empty")
    keep = check_finite(vt.X, f"{cfg.seeds} (seeds)", drop=cfg.drop_nonfinite)
    if not keep.all():
        _warn(f"{cfg.seeds}: dropped {int((~keep).sum())} seed rows with NaN or Inf")
        meta = vt.meta.filter(pa.array(keep)) if vt.meta is not None else None
        vt = VectorTable(vt.X[keep], vt.ids[keep], meta, vt.source)
    return vt


def match_features(interpretation: str | Path, query: str) -> list[dict[str, Any]]:
    """Latents whose explanation contains every word of `query` (case-insensitive)."""
    path = Path(interpretation) / "latents.parquet"
    if not path.is_file():
        raise InputError(f"{path}: not found (feature_query needs an interpret output)")
    table = pq.read_table(path)
    for col in ("latent", "explanation"):
        if col not in table.column_names:
            raise InputError(f"{path}: no column {col!r}")
    words = [w for w in query.lower().split() if w]
    if not words:
        raise ConfigError("feature_query: empty query")
    status = table["status"].to_pylist() if "status" in table.column_names else ["ok"] * table.num_rows
    out = []
    for lat, expl, st in zip(table["latent"].to_pylist(), table["explanation"].to_pylist(), status,
                             strict=True):
        text = (expl or "").lower()
        if st == "ok" and all(w in text for w in words):
            out.append({"latent": int(lat), "explanation": expl})
    if not out:
        raise ConfigError(f"feature_query {query!r}: no explained latent in {path} matches")
    return out


def resolve_inputs(cfg: CurateConfig, progress: bool = True) -> Inputs:
    """Read the seeds, lay out the pool, load the SAE, and check they agree."""
    from saescope.data.models import resolve_device

    device = resolve_device(cfg.device)
    seeds = load_seeds(cfg, progress)
    pool_path, dropped = finite_parquet(resolve_pool(cfg, progress), cfg.out_path / "inputs" / "pool-finite",
                                        drop=cfg.drop_nonfinite)
    if dropped:
        _warn(f"{cfg.pool}: dropped {dropped} pool rows with NaN or Inf (pool read from {pool_path})")
    layout = pool_layout(pool_path, cfg.shard_rows, whole_files=cfg.executor == "ray")
    if cfg.budget is not None and cfg.budget > layout.num_rows:
        raise InputError(f"budget {cfg.budget} is larger than the pool {cfg.pool} ({layout.num_rows} rows)")
    if seeds is not None and seeds.X.shape[1] != layout.dim:
        raise InputError(
            f"dimension mismatch: seeds {cfg.seeds} have {seeds.X.shape[1]}, pool {cfg.pool} has {layout.dim}"
        )
    sae = None
    if cfg.uses_sae or any(b in SAE_SPACES for b in cfg.baselines):
        sae = load_sae(cfg.sae, device)  # type: ignore[arg-type]
        if int(sae.d_in) != layout.dim:
            raise InputError(
                f"dimension mismatch: the SAE {cfg.sae} expects {sae.d_in}, pool {cfg.pool} has {layout.dim}"
            )
    features, matches = cfg.features, None
    if cfg.feature_query is not None:
        matches = match_features(cfg.interpretation, cfg.feature_query)  # type: ignore[arg-type]
        features = [m["latent"] for m in matches]
    targets, n_targets = None, 0
    if cfg.label_field is not None:
        if cfg.label_field not in layout.schema.names:
            raise InputError(f"{cfg.pool}: no label column {cfg.label_field!r} (columns: {', '.join(layout.schema.names)})")
        if cfg.target is not None:
            targets = {str(t) for t in cfg.target}
            for f in sorted({s.file for s in layout.shards}):
                col = pq.read_table(f, columns=[cfg.label_field])[cfg.label_field]
                n_targets += int(pc.sum(pc.is_in(col.cast(pa.string()),
                                                 value_set=pa.array(sorted(targets)))).as_py() or 0)
    model = {"embedder": cfg.embedder if cfg.activations_model is None else None,
             "activations_model": cfg.activations_model, "layer": cfg.layer}
    return Inputs(seeds, pool_path, layout, sae, device, features, matches, model, n_targets, targets)


# ---------------------------------------------------------------------------- one space
def run_space(cfg: CurateConfig, inp: Inputs, workdir: Path, progress: bool = True,
              keep_units: int = 0) -> SpaceRun:
    """Fit (or resume), score the pending shards, select, and read back the selection."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    fit_dir, scores_dir = workdir / "fit", workdir / "scores"
    info = {
        "key": cfg.scoring_key(),
        "features": inp.features,
        "seed_hash": seed_hash(inp.seeds.ids, inp.seeds.X) if inp.seeds is not None else None,
        "sae_hash": sae_hash(cfg.sae) if inp.sae is not None else None,
        "pool": inp.layout.fingerprint(),
        "executor": cfg.executor,
    }
    if saved_info(fit_dir) == _jsonable(info):
        space = load_space(fit_dir, cfg.sae, inp.device)
    else:
        shutil.rmtree(scores_dir, ignore_errors=True)
        shutil.rmtree(fit_dir, ignore_errors=True)
        sample = sample_rows(inp.layout, cfg.fit_sample, cfg.seed, [inp.layout.vector_column])
        from saescope.data.vectors import list_column_to_numpy

        Xs = list_column_to_numpy(sample[inp.layout.vector_column], cfg.pool, inp.layout.vector_column)
        space = fit_space(
            cfg.space, inp.seeds.X if inp.seeds is not None else None, Xs, sae=inp.sae,
            aggregate=cfg.aggregate, clusters=cfg.clusters, features=inp.features, seed=cfg.seed,
            device=inp.device,
        )
        save_space(fit_dir, space, info)
    timings["fit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if cfg.executor == "ray":
        executors.run_ray(inp.layout, space, scores_dir, cfg.chunk_size, sae_dir=cfg.sae,
                          address=cfg.ray_address, progress=progress)
    else:
        executors.run_local(inp.layout, space, scores_dir, cfg.chunk_size, workers=cfg.workers,
                            fit_dir=fit_dir, sae_dir=cfg.sae, progress=progress)
    timings["score_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores, shard_of = read_scores(inp.layout, scores_dir)
    ids = np.asarray(scores["id"].to_numpy(zero_copy_only=False), dtype=object)
    if len(set(ids.tolist())) != len(ids):
        dup = _first_duplicate(ids)
        raise InputError(f"{cfg.pool}: id {dup!r} occurs more than once (ids must be unique)")
    score = scores["score"].to_numpy()
    cluster = scores["cluster"].to_numpy() if cfg.clusters else None
    weights = None
    if cfg.clusters and cfg.quota == "seeds" and inp.seeds is not None:
        seed_cl = space.score(inp.seeds.X, inp.seeds.ids).cluster
        weights = np.bincount(seed_cl, minlength=cfg.clusters).astype(np.float64)

    def fetch_unit(idx: np.ndarray) -> np.ndarray:
        want = {str(i) for i in ids[idx]}
        rows = _read_selected(inp, shard_of[idx], want, [inp.layout.vector_column])
        pos = {k: i for i, k in enumerate(rows["id"].to_pylist())}
        from saescope.data.vectors import list_column_to_numpy

        X = list_column_to_numpy(rows[inp.layout.vector_column], cfg.pool, inp.layout.vector_column)
        return unit_rows(X, None)[[pos[str(i)] for i in ids[idx]]]

    threshold = cfg.threshold
    keep = np.isfinite(score) & (score >= threshold if threshold is not None else True)
    order = select(ids, score, cfg.budget, cluster, threshold, weights, cfg.dedup,
                   fetch_unit if cfg.dedup is not None else None)
    timings["select_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    selected, metrics, units = materialize(cfg, inp, space, scores, order, shard_of, keep_units,
                                           progress)
    timings["materialize_s"] = time.perf_counter() - t0
    sizes = None
    if cfg.clusters:
        sizes = {int(k): int(v) for k, v in zip(*np.unique(scores["cluster"].to_numpy(), return_counts=True), strict=True)}
    return SpaceRun(space, selected, metrics, int(keep.sum()), units, sizes, timings)


def read_scores(layout: PoolLayout, scores_dir: Path) -> tuple[pa.Table, np.ndarray]:
    """All sidecars in shard order, and the shard index of every row."""
    tables, shard_of = [], []
    for s in layout.shards:
        t = pq.read_table(executors.sidecar(scores_dir, s))
        tables.append(t)
        shard_of.append(np.full(t.num_rows, s.index, dtype=np.int32))
    return pa.concat_tables(tables), np.concatenate(shard_of)


def _first_duplicate(ids: np.ndarray) -> str:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            return str(i)
        seen.add(i)
    return ""


def _read_selected(inp: Inputs, shards: np.ndarray, want: set[str],
                   columns: list[str] | None) -> pa.Table:
    parts = [read_rows(inp.layout.shards[int(s)], inp.layout, want, columns)
             for s in np.unique(shards)]
    return pa.concat_tables(parts, promote_options="default")


def materialize(cfg: CurateConfig, inp: Inputs, space: FittedSpace, scores: pa.Table,
                order: np.ndarray, shard_of: np.ndarray, keep_units: int, progress: bool
                ) -> tuple[pa.Table, dict[str, Any], np.ndarray]:
    """Read back the selected rows shard by shard: output table, metrics, some unit vectors."""
    from saescope.data.vectors import list_column_to_numpy

    layout = inp.layout
    seeds_in = seeds_sp = None
    if inp.seeds is not None:
        seeds_in = UnitSum.zeros(layout.dim)
        seeds_in.add_rows(unit_rows(inp.seeds.X, None))
        seeds_sp = UnitSum.zeros(space.dim)
        seeds_sp.add_rows(space.seed_units)
    acc = SelectionMetrics(seeds_in, seeds_sp, layout.dim, space.dim, inp.targets, inp.n_targets)
    sel_scores = scores.take(pa.array(order, type=pa.int64()))
    rank = pa.array(np.arange(1, len(order) + 1, dtype=np.int64))
    sel_scores = sel_scores.append_column("rank", rank)
    parts, units = [], []
    n_units = 0
    sel_shards = shard_of[order]
    for s in tqdm(np.unique(sel_shards), desc="read selected", disable=not progress):
        shard = layout.shards[int(s)]
        want = set(sel_scores["id"].filter(pa.array(sel_shards == s)).to_pylist())
        rows = read_rows(shard, layout, want)
        X = list_column_to_numpy(rows[layout.vector_column], shard.file, layout.vector_column)
        U = unit_rows(X, None)
        acc.sel_input.add_rows(U)
        A, _ = space.encode(X)
        total, nonzero = space.unit_sum(A)
        acc.sel_space.add(total, len(X), nonzero)
        if cfg.label_field is not None:
            acc.add_labels(rows[cfg.label_field].to_pylist())
        if n_units < keep_units:
            units.append((rows["id"].to_pylist()[: keep_units - n_units], U[: keep_units - n_units]))
            n_units += len(units[-1][0])
        parts.append(rows.drop_columns([layout.vector_column]))
    if parts:
        table = pa.concat_tables(parts, promote_options="default")
    else:
        names = [n for n in layout.schema.names if n not in (layout.vector_column, layout.id_column)]
        table = pa.table({"id": pa.array([], pa.string())} | {
            n: pa.array([], layout.schema.field(n).type) for n in names})
    # join the scores (rank order) onto the pool columns
    pos = {k: i for i, k in enumerate(table["id"].to_pylist())}
    take = pa.array([pos[k] for k in sel_scores["id"].to_pylist()], type=pa.int64())
    table = table.take(take)
    for name in SCORE_COLUMNS:
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, sel_scores[name])
    metrics = acc.result()
    if units:
        unit_ids = [i for ids, _ in units for i in ids]
        U = np.concatenate([u for _, u in units])
        unit_table = (unit_ids, U)
    else:
        unit_table = ([], np.zeros((0, layout.dim), np.float32))
    return table, metrics, unit_table  # type: ignore[return-value]


# ---------------------------------------------------------------------------- the run
def run_curate(cfg: CurateConfig, progress: bool = True) -> dict[str, Any]:
    """Run a curation end to end and return the manifest (also written to `out/manifest.json`)."""
    out = cfg.out_path
    start = time.perf_counter()
    _prepare_out(out, cfg.overwrite)
    inp = resolve_inputs(cfg, progress)
    run = run_space(cfg, inp, out, progress, keep_units=cfg.projection_sample)
    baselines = compare_spaces(cfg, [b for b in cfg.baselines], inp=inp, progress=progress) if cfg.baselines else {}

    with atomic_path(out / "selected.parquet") as tmp:
        pq.write_table(run.selected, tmp)
    if cfg.write_jsonl:
        _write_jsonl(run.selected, out / "selected.jsonl")
    if cfg.projection_sample:
        write_projection(cfg, inp, run, out / "projection.parquet")
    manifest = build_manifest(cfg, inp, run, baselines, time.perf_counter() - start)
    write_json(out / "manifest.json", manifest)
    return manifest


def _prepare_out(out: Path, overwrite: bool) -> None:
    if (out / "manifest.json").is_file():
        if not overwrite:
            raise ConfigError(f"{out}: holds a finished curation (manifest.json); use --overwrite")
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
        for name in ("scores", "fit", "baselines", "inputs"):
            shutil.rmtree(out / name, ignore_errors=True)
    elif out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)


def compare_spaces(cfg: CurateConfig, spaces: list[str], inp: Inputs | None = None,
                   progress: bool = True) -> dict[str, dict[str, Any]]:
    """Metrics of the same curation (seeds, budget, threshold, quotas) in each of `spaces`.

    Each space is scored into `out/baselines/<space>/` (resumable like the main run); only
    metrics are kept. With `clusters`, each space clusters in its own representation.
    """
    inp = inp or resolve_inputs(cfg, progress)
    out: dict[str, dict[str, Any]] = {}
    for name in spaces:
        sub = dataclasses.replace(cfg, space=name, features=None, feature_query=None,
                                  baselines=[], out=str(cfg.out_path / "baselines" / name))
        sub_inp = dataclasses.replace(inp, features=None)
        run = run_space(sub, sub_inp, sub.out_path, progress)
        out[name] = _clean(run.metrics)
    return out


def write_projection(cfg: CurateConfig, inp: Inputs, run: SpaceRun, path: Path) -> None:
    """2-D PCA of a pool sample, the seeds and (up to `projection_sample`) selected rows."""
    from sklearn.decomposition import PCA

    from saescope.data.vectors import list_column_to_numpy

    layout = inp.layout
    cols = [layout.vector_column] + ([cfg.label_field] if cfg.label_field else [])
    sample = sample_rows(layout, cfg.projection_sample, cfg.seed + 1, cols)
    Xp = unit_rows(list_column_to_numpy(sample[layout.vector_column], cfg.pool, layout.vector_column), None)
    sel_ids, sel_U = run.selected_units
    selected = set(run.selected["id"].to_pylist())
    ids = sample["id"].to_pylist()
    roles = ["selected" if i in selected else "pool" for i in ids]
    labels = [None if v is None else str(v) for v in sample[cfg.label_field].to_pylist()] if cfg.label_field else None
    in_sample = set(ids)
    extra = [k for k, i in enumerate(sel_ids) if i not in in_sample]
    blocks = [Xp, sel_U[extra]] if len(extra) else [Xp]
    ids += [sel_ids[k] for k in extra]
    roles += ["selected"] * len(extra)
    if labels is not None:
        lab = dict(zip(run.selected["id"].to_pylist(), run.selected[cfg.label_field].to_pylist(), strict=True))
        labels += [None if lab.get(sel_ids[k]) is None else str(lab[sel_ids[k]]) for k in extra]
    if inp.seeds is not None:
        blocks.append(unit_rows(inp.seeds.X, None))
        ids += [str(i) for i in inp.seeds.ids]
        roles += ["seed"] * len(inp.seeds.X)
        if labels is not None:
            meta = inp.seeds.meta
            if meta is not None and cfg.label_field in meta.column_names:
                labels += [None if v is None else str(v) for v in meta[cfg.label_field].to_pylist()]
            else:
                labels += [None] * len(inp.seeds.X)
    Z = np.concatenate(blocks)
    if len(Xp) >= 2 and Z.shape[1] >= 2:
        xy = PCA(n_components=2, random_state=cfg.seed).fit(Xp).transform(Z)
    else:
        xy = np.zeros((len(Z), 2))
    cols_out: dict[str, Any] = {"id": pa.array(ids, pa.string()), "role": pa.array(roles, pa.string())}
    if labels is not None:
        cols_out["label"] = pa.array(labels, pa.string())
    cols_out["x"] = pa.array(xy[:, 0].astype(np.float32))
    cols_out["y"] = pa.array(xy[:, 1].astype(np.float32))
    with atomic_path(path) as tmp:
        pq.write_table(pa.table(cols_out), tmp)


def _write_jsonl(table: pa.Table, path: Path) -> None:
    import json

    with atomic_path(path) as tmp, open(tmp, "w") as f:
        for row in table.to_pylist():
            f.write(json.dumps(row, default=str) + "\n")


def build_manifest(cfg: CurateConfig, inp: Inputs, run: SpaceRun,
                   baselines: dict[str, dict[str, Any]], seconds: float) -> dict[str, Any]:
    from saescope import __version__

    sae_info = None
    if inp.sae is not None:
        sae_info = {"path": cfg.sae, "hash": sae_hash(cfg.sae), "d_in": int(inp.sae.d_in),
                    "num_latents": int(inp.sae.num_latents),
                    "arch": getattr(getattr(inp.sae, "cfg", None), "arch", None),
                    "k": getattr(getattr(inp.sae, "cfg", None), "k", None)}
    return _clean({
        "saescope_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": cfg.to_dict(),
        "seed_set_hash": seed_hash(inp.seeds.ids, inp.seeds.X) if inp.seeds is not None else None,
        "n_seeds": 0 if inp.seeds is None else len(inp.seeds.X),
        "pool": {"path": str(inp.pool_path), "rows": inp.layout.num_rows, "dim": inp.layout.dim,
                 "shards": len(inp.layout.shards)},
        "model": inp.model,
        "sae": sae_info,
        "space": cfg.space,
        "space_info": ({"top_latents": run.space.top_latents(20)}
                       if run.space.enrichment is not None else None),
        "aggregate": cfg.aggregate,
        "threshold": cfg.threshold,
        "budget": cfg.budget,
        "n_above_threshold": run.n_candidates,
        "n_selected": run.selected.num_rows,
        "features": inp.features,
        "feature_matches": inp.feature_matches,
        "clusters": {"k": cfg.clusters, "quota": cfg.quota, "sizes": run.cluster_sizes} if cfg.clusters else None,
        "device": inp.device,
        "executor": cfg.executor,
        "metrics": run.metrics,
        "baselines": baselines,
        "timings": {**{k: round(v, 3) for k, v in run.timings.items()}, "total_s": round(seconds, 3)},
        "files": {"selected": "selected.parquet", "scores": "scores/",
                  "projection": "projection.parquet" if cfg.projection_sample else None},
    })


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/Inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _jsonable(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, default=str))
