"""The curation run: fit on the seeds, score every pool shard, select globally, write outputs.

Phases (as in DSIR, Xie et al. 2023): (1) fit the space on the seeds and a uniform pool sample
(`fit/`); (2) score each pool shard independently into `scores/part-XXXXX.parquet` (a finished
shard is skipped on rerun); (3) select globally from the sidecars, then read back only the
selected rows to write `selected.parquet` and compute the metrics. `manifest.json` is written
last: its presence means the run is complete.
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from saescope.curate import executors
from saescope.curate.config import CurateConfig
from saescope.curate.explain import WHY_COLUMNS, seed_latents, why_columns
from saescope.curate.fitstate import load_space, sae_hash, save_space, saved_info, seed_hash
from saescope.curate.inputs import Inputs, resolve_inputs
from saescope.curate.layout import PoolLayout, read_rows, sample_rows
from saescope.curate.metrics import SelectionMetrics, UnitSum
from saescope.curate.select import TopRows, select
from saescope.curate.sidecars import Rules, iter_columns, read_scores, rows_at
from saescope.curate.spaces import GRAPH_SPACES, FittedSpace, fit_space
from saescope.curate.text import text_hashes
from saescope.data.vectors import check_unique_ids
from saescope.errors import InputError
from saescope.io import atomic_path, jsonable, open_output, write_json
from saescope.linalg import unit_rows

log = logging.getLogger(__name__)

OUTPUT_FILES = ("selected.parquet", "selected.jsonl", "projection.parquet", "manifest.json")
SCORE_COLUMNS = ("score", "centroid_sim", "max_sim", "nearest_seed", "cluster", "rank")


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


# ---------------------------------------------------------------------------- one space
def run_space(cfg: CurateConfig, inp: Inputs, workdir: Path, progress: bool = True,
              keep_units: int = 0) -> SpaceRun:
    """Fit (or resume), score the pending shards, select, and read back the selection."""
    timings: dict[str, float] = {}
    fit_dir, scores_dir = workdir / "fit", workdir / "scores"
    with _phase(timings, "fit"):
        space = fit_or_resume(cfg, inp, fit_dir, scores_dir, progress, timings)
    ex = cfg.execution
    hash_field = cfg.inputs.text_field if inp.seed_texts else None  # the seed-duplicate rule
    with _phase(timings, "score"):
        if ex.executor == "ray":
            executors.run_ray(inp.layout, space, scores_dir, ex.chunk_size, sae_dir=cfg.inputs.sae,
                              address=ex.ray_address, progress=progress, hash_field=hash_field)
        else:
            executors.run_local(inp.layout, space, scores_dir, ex.chunk_size, workers=ex.workers,
                                fit_dir=fit_dir, sae_dir=cfg.inputs.sae, progress=progress,
                                hash_field=hash_field)
    with _phase(timings, "select"):
        picked = select_rows(cfg, inp, space, scores_dir)
    with _phase(timings, "materialize"):
        selected, metrics, units = materialize(cfg, inp, space, picked, keep_units, progress)
    metrics.update(picked.counts)
    return SpaceRun(space, selected, metrics, int(picked.counts["n_candidates"]), units,
                    picked.cluster_sizes, timings)


@contextmanager
def _phase(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record `<name>_s` (wall), `<name>_cpu_s` (CPU seconds of this process and of its finished
    child processes, the local workers; Ray's workers are not counted) and `<name>_peak_mib`
    (this process's peak resident set so far, `VmHWM`; where /proc has it)."""
    def cpu() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    yield
    timings[f"{name}_s"] = time.perf_counter() - t0
    timings[f"{name}_cpu_s"] = cpu() - c0
    try:
        with open("/proc/self/status") as f:
            timings[f"{name}_peak_mib"] = next(int(x.split()[1]) for x in f if x.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        pass


def fit_or_resume(cfg: CurateConfig, inp: Inputs, fit_dir: Path, scores_dir: Path,
                  progress: bool = False, timings: dict[str, float] | None = None) -> FittedSpace:
    """The fitted space: read back from `fit/` when it was fitted on the same inputs, else fitted
    on the seeds and a pool sample (and old scores removed). `timings`: gets the phases of the
    fit (`sample`, `first_pass`; see `_phase`)."""
    from saescope.data.vectors import list_column_to_numpy

    share = cascade_share(cfg, inp)
    info = {
        "key": cfg.scoring_key(),
        "features": inp.features,
        "seed_hash": seed_hash(inp.seeds.ids, inp.seeds.X) if inp.seeds is not None else None,
        "sae_hash": sae_hash(cfg.inputs.sae) if inp.sae is not None else None,
        "pool": inp.layout.fingerprint(),
        "executor": cfg.execution.executor,
        "sidecar": 2,  # sidecars with `text_hash` (older ones are rescored)
        "cascade_share": share,  # the cut of the graph's two-stage scoring depends on the budget
    }
    if saved_info(fit_dir) == jsonable(info):
        return load_space(fit_dir, cfg.inputs.sae, inp.device)
    shutil.rmtree(scores_dir, ignore_errors=True)
    shutil.rmtree(fit_dir, ignore_errors=True)
    sel, vcol, tcol = cfg.selection, inp.layout.vector_column, cfg.inputs.text_field
    use_text = reads_texts(cfg, inp)
    timings = {} if timings is None else timings
    with _phase(timings, "sample"):
        sample = pool_sample(cfg, inp, [vcol] + [tcol] * use_text)
        Xs = list_column_to_numpy(sample[vcol], cfg.inputs.pool, vcol)
    with _phase(timings, "first_pass"):
        seeded = seeded_nodes(cfg, inp, Xs, tcol if use_text else None)
    space = fit_space(sel.space, inp.seeds.X if inp.seeds is not None else None, Xs, sae=inp.sae,
                      aggregate=sel.aggregate, clusters=sel.clusters, features=inp.features,
                      seed=sel.seed, device=inp.device,
                      seed_texts=seed_text_list(inp, tcol) if use_text else None,
                      pool_texts=sample[tcol].to_pylist() if use_text else None, text_field=tcol,
                      text_max_terms=sel.text_max_terms, graph=sel.graph, pu=sel.pu,
                      enrich=sel.enrich, pool_ids=np.asarray(sample["id"].to_pylist(), dtype=object),
                      progress=progress, seeded=seeded, cascade_share=share,
                      pool_rows=inp.layout.num_rows)
    save_space(fit_dir, space, info)
    return space


def reads_texts(cfg: CurateConfig, inp: Inputs) -> bool:
    """The space reads the rows' texts (`embedding-graph`'s lexical channel)."""
    sel = cfg.selection
    return sel.space in GRAPH_SPACES and sel.use_text and inp.seed_texts is not None


def pool_sample(cfg: CurateConfig, inp: Inputs, columns: list[str]) -> pa.Table:
    """The fit's uniform pool sample (`fit_sample` rows, `selection.seed`) with `columns`, read
    once per run: a sample read for fewer columns is served from one read for more (the pool's
    row groups are read whole, so each read costs a pass over the pool)."""
    n, seed = cfg.execution.fit_sample, cfg.selection.seed
    for (n0, seed0, cols), table in inp.samples.items():
        if (n0, seed0) == (n, seed) and set(columns) <= set(cols):
            return table.select(["id", *dict.fromkeys(columns)])
    table = sample_rows(inp.layout, n, seed, columns)
    inp.samples[(n, seed, tuple(columns))] = table
    return table


def cascade_share(cfg: CurateConfig, inp: Inputs) -> float | None:
    """The budget's share of the pool when `embedding-graph`'s two-stage scoring may serve the
    selection (`GraphConfig.cascade` auto, `spaces.cascade`), else None: only a plain top-budget
    selection (no threshold, quotas or dedup, which read scores below the budget's) of a pool
    larger than the graph's node sample (a pool whose rows are all nodes, the demo's, is scored
    in full, as it skips the first pass)."""
    sel = cfg.selection
    if (sel.space not in GRAPH_SPACES or sel.graph.cascade != "auto" or inp.seeds is None
            or sel.budget is None or sel.threshold is not None or sel.clusters or sel.dedup is not None):
        return None
    if inp.layout.num_rows <= min(cfg.execution.fit_sample, sel.graph.nodes):
        return None
    return sel.budget / inp.layout.num_rows


def seeded_nodes(cfg: CurateConfig, inp: Inputs, sample_X: np.ndarray,
                 text_field: str | None) -> tuple | None:
    """`embedding-graph` with `graph.node_sample` seeded or a `graph.second_pass`: the first pass
    over the whole pool (each seed's `graph.first_pass_depth` nearest rows by centred cosine,
    `spaces.graph.seeded_rows`, one shard at a time) and those rows' (raw inputs, texts, ids,
    best rank); None for any other space or without a first pass."""
    from saescope.curate.layout import rows_at
    from saescope.curate.spaces.graph import first_pass_depth, seeded_rows
    from saescope.data.vectors import list_column_to_numpy
    from saescope.linalg import unit_rows

    sel = cfg.selection
    depth = first_pass_depth(sel.graph)
    if sel.space not in GRAPH_SPACES or depth == 0 or inp.seeds is None:
        return None
    if inp.layout.num_rows <= min(cfg.execution.fit_sample, sel.graph.nodes):
        return None  # every pool row is a node already: the first pass would add none
    vcol, lay = inp.layout.vector_column, inp.layout
    mean = sample_X.astype(np.float64).mean(axis=0).astype(np.float32)
    batches = (list_column_to_numpy(b.column(0), cfg.inputs.pool, vcol)  # memory: a batch, not a shard
               for sh in lay.shards
               for b in pq.ParquetFile(sh.file).iter_batches(cfg.execution.chunk_size, list(sh.row_groups), [vcol]))
    pos, rank, X = seeded_rows(unit_rows(inp.seeds.X, mean), batches, mean, depth, inp.device, ranks=True,
                               keep_rows=True)
    table = rows_at(lay, pos, [text_field] if text_field else [])  # ids and texts: no vectors read again
    return (X, table[text_field].to_pylist() if text_field else None,
            np.asarray(table["id"].to_pylist(), dtype=object), rank)


def seed_text_list(inp: Inputs, field: str) -> list[str | None]:
    """The seeds' texts in seed order (column `field` of the seed file)."""
    assert inp.seeds is not None and inp.seeds.meta is not None
    return inp.seeds.meta[field].to_pylist()


def warn_dominant_dimensions(cfg: CurateConfig, inp: Inputs) -> None:
    """Log one warning per curation when a few pool dimensions hold most of the variance of a
    pool sample (`saescope.data.activations.dominant_dimensions`): cosines and SAEs then mostly
    see them. Called once by `run_curate` (not once per space and baseline)."""
    from saescope.data.activations import dominant_dimensions
    from saescope.data.vectors import list_column_to_numpy

    vcol = inp.layout.vector_column
    # the columns of the fit's sample, so that the fit reads the pool no second time for it
    sample = pool_sample(cfg, inp, [vcol] + [cfg.inputs.text_field] * reads_texts(cfg, inp))
    flag = (inp.layout.schema.metadata or {}).get(b"saescope.first_token_excluded")
    msg = dominant_dimensions(list_column_to_numpy(sample[vcol], cfg.inputs.pool, vcol),
                              first_token_excluded=None if flag is None else flag == b"True")
    if msg:
        log.warning("%s: %s", cfg.inputs.pool, msg)


@dataclass
class Picked:
    """The selection, before its rows are read back from the pool."""

    scores: pa.Table
    """Sidecar rows of the selected rows (id, score columns), in rank order."""
    shards: np.ndarray
    """int32 shard index of each selected row."""
    counts: dict[str, Any]
    """Candidates and the rows left out (manifest metrics)."""
    n_targets: int
    """Recall denominator: target rows that could be chosen (seed duplicates left out)."""
    cluster_sizes: dict[int, int] | None = None
    """Pool rows per k-means cluster (with clusters)."""


def select_rows(cfg: CurateConfig, inp: Inputs, space: FittedSpace, scores_dir: Path) -> Picked:
    """The selected rows (rank order) from the sidecars, and counts of what was left out.

    Not candidates (`sidecars.Rules`): rows whose text is exactly a seed's (the seed itself under
    another id), and, in feature selection, rows where none of the chosen latents fires (no
    evidence). Ties in score are broken by a keyed hash of the id (random, fixed by the seed).
    With a budget and neither quotas nor dedup, the selection streams over the shards
    (`select.TopRows`, memory bounded by a shard plus the kept rows, ids read for those only);
    otherwise the whole pool's scores and ids are read (quotas and dedup need the full order).
    """
    sel = cfg.selection
    seed_hashes = None
    if inp.seed_texts:
        seed_hashes = np.unique(text_hashes(sorted(inp.seed_texts)))
    rules = Rules(seed_hashes, cfg.by_features, sel.threshold)
    if sel.budget is not None and not sel.clusters and sel.dedup is None:
        top = TopRows(sel.budget)
        id_hashes, filled = np.empty(inp.layout.num_rows, dtype=np.int64), 0  # 8 bytes a row, once
        floor, n_full = _cascade_floor(space), 0
        for shard, t in iter_columns(inp.layout, scores_dir, ["score", "text_hash", "id"]):
            raw = t["score"].to_numpy()
            if floor is not None:
                n_full += int(np.count_nonzero(raw >= floor))
            s = rules.apply(shard.start, raw, t["text_hash"].to_numpy())
            keep = np.flatnonzero(np.isfinite(s))
            top.add(shard.start + keep, s[keep])
            id_hashes[filled:filled + t.num_rows] = _id_hashes(t["id"])
            filled += t.num_rows
        _check_unique_streamed(id_hashes[:filled], inp, scores_dir, cfg.inputs.pool)

        def fetch_ids(pos: np.ndarray) -> np.ndarray:
            return np.asarray(rows_at(inp.layout, scores_dir, pos, ["id"])[0]["id"].to_pylist(), dtype=object)

        order = top.order(fetch_ids, tie_seed=sel.seed)
        table, shards = rows_at(inp.layout, scores_dir, order)
        check_unique_ids(table["id"], cfg.inputs.pool)
        picked = _picked(cfg, inp, scores_dir, rules, table, shards, None)
        if floor is not None:
            picked.counts["n_full_scores"] = n_full
            if n_full < sel.budget:
                log.warning("the graph's cascade scored %d rows in full, fewer than the budget %d: the "
                            "last selected rows are in the order of its proxy", n_full, sel.budget)
        return picked
    return _select_in_memory(cfg, inp, space, scores_dir, rules)


def _cascade_floor(space: FittedSpace | None) -> float | None:
    """The score under which a sidecar row was ruled out by the graph's cascade (None: no cascade)."""
    cas = getattr(getattr(space, "method", None), "cascade", None)
    return cas.floor if cas is not None and cas.active else None


def _select_in_memory(cfg: CurateConfig, inp: Inputs, space: FittedSpace, scores_dir: Path,
                      rules: Rules) -> Picked:
    """`select_rows` with the whole pool's scores and ids in memory (quotas, dedup, no budget)."""
    sel = cfg.selection
    scores, shard_of = read_scores(inp.layout, scores_dir)
    check_unique_ids(scores["id"], cfg.inputs.pool)
    ids = np.asarray(scores["id"].to_numpy(zero_copy_only=False), dtype=object)
    parts, lo = [], 0
    hashes = scores["text_hash"].to_numpy()
    raw = scores["score"].to_numpy()
    for shard in inp.layout.shards:
        hi = lo + shard.num_rows
        parts.append(rules.apply(shard.start, raw[lo:hi], hashes[lo:hi]))
        lo = hi
    score = np.concatenate(parts) if parts else np.zeros(0)
    cluster = scores["cluster"].to_numpy() if sel.clusters else None
    weights = None
    if sel.clusters and sel.quota == "seeds" and inp.seeds is not None:
        texts = seed_text_list(inp, space.text_field) if space.text_field else None
        seed_cl = space.score(inp.seeds.X, inp.seeds.ids, texts).cluster
        weights = np.bincount(seed_cl, minlength=sel.clusters).astype(np.float64)

    def fetch_unit(idx: np.ndarray) -> np.ndarray:
        from saescope.data.vectors import list_column_to_numpy

        vcol = inp.layout.vector_column
        rows = _read_selected(inp, shard_of[idx], {str(i) for i in ids[idx]}, [vcol])
        pos = {k: i for i, k in enumerate(rows["id"].to_pylist())}
        X = list_column_to_numpy(rows[vcol], cfg.inputs.pool, vcol)
        return unit_rows(X, None)[[pos[str(i)] for i in ids[idx]]]

    order = select(ids, score, sel.budget, cluster, sel.threshold, weights, sel.dedup,
                   fetch_unit if sel.dedup is not None else None, tie_seed=sel.seed)
    sizes = None
    if sel.clusters:
        cl, n = np.unique(scores["cluster"].to_numpy(), return_counts=True)
        sizes = {int(k): int(v) for k, v in zip(cl, n, strict=True)}
    table = scores.drop_columns(["text_hash"]).take(pa.array(order, type=pa.int64()))
    return _picked(cfg, inp, scores_dir, rules, table, shard_of[order], sizes)


def _picked(cfg: CurateConfig, inp: Inputs, scores_dir: Path, rules: Rules, table: pa.Table,
            shards: np.ndarray, sizes: dict[int, int] | None) -> Picked:
    """The `Picked` of a selection: its counts, and the recall denominator without the seed
    duplicates (rows that could not be chosen)."""
    counts: dict[str, Any] = {"n_candidates": rules.n_candidates}
    if cfg.by_features:
        counts["n_without_evidence"] = rules.n_without_evidence
    n_targets = inp.n_targets
    dup = rules.duplicates
    if len(dup):
        dup_table, dup_shards = rows_at(inp.layout, scores_dir, dup, ["id"])
        dup_ids = sorted(dup_table["id"].to_pylist())
        counts["n_seed_duplicates_excluded"] = rules.n_seed_duplicates
        counts["seed_duplicate_ids"] = dup_ids[:100]
        if inp.targets is not None and cfg.inputs.label_field is not None:
            rows = _read_selected(inp, dup_shards, set(dup_ids), [cfg.inputs.label_field])
            labels = rows[cfg.inputs.label_field].to_pylist()
            n_targets -= sum(v is not None and str(v) in inp.targets for v in labels)
    keep = [c for c in table.column_names if c != "text_hash"]
    return Picked(table.select(keep), shards, counts, n_targets, sizes)


def _id_hashes(ids: pa.ChunkedArray) -> np.ndarray:
    """int64 hash of each id (Python's string hash: equal ids, equal hashes within a process)."""
    return np.fromiter((hash(x) for x in ids.to_pylist()), dtype=np.int64, count=len(ids))


def _check_unique_streamed(hashes: np.ndarray, inp: Inputs, scores_dir: Path, pool: str) -> None:
    """InputError naming an id that occurs twice in the pool, from one int64 hash a row (8 bytes a
    row, not the ids themselves; `hashes` is sorted in place, no copy); rows whose hashes collide
    are read back to tell a repeated id from a hash collision."""
    h = hashes
    h.sort()
    clash = np.unique(h[1:][h[1:] == h[:-1]])
    if not len(clash):
        return
    seen: set[str] = set()
    for _, t in iter_columns(inp.layout, scores_dir, ["id"]):
        ids = t["id"]
        for i in np.flatnonzero(np.isin(_id_hashes(ids), clash)):
            x = ids[int(i)].as_py()
            if x in seen:
                raise InputError(f"{pool}: id {x!r} occurs more than once (ids must be unique)")
            seen.add(x)


def _read_selected(inp: Inputs, shards: np.ndarray, want: set[str],
                   columns: list[str] | None) -> pa.Table:
    parts = [read_rows(inp.layout.shards[int(s)], inp.layout, want, columns)
             for s in np.unique(shards)]
    return pa.concat_tables(parts, promote_options="default")


def _seed_metric_sums(inp: Inputs, space: FittedSpace) -> tuple[UnitSum | None, UnitSum | None]:
    if inp.seeds is None:
        return None, None
    seeds_in = UnitSum.zeros(inp.layout.dim)
    seeds_in.add_rows(unit_rows(inp.seeds.X, None))
    seeds_sp = UnitSum.zeros(space.dim)
    seeds_sp.add_rows(space.seed_units)
    return seeds_in, seeds_sp


def materialize(cfg: CurateConfig, inp: Inputs, space: FittedSpace, picked: Picked,
                keep_units: int, progress: bool
                ) -> tuple[pa.Table, dict[str, Any], tuple[list[str], np.ndarray]]:
    """Read back the selected rows shard by shard: output table, metrics, some unit vectors."""
    from saescope.data.vectors import list_column_to_numpy

    layout = inp.layout
    acc = SelectionMetrics(*_seed_metric_sums(inp, space), layout.dim, space.dim, inp.targets,
                           picked.n_targets)
    n = picked.scores.num_rows
    sel_scores = picked.scores.append_column("rank", pa.array(np.arange(1, n + 1, dtype=np.int64)))
    parts, unit_ids, unit_rows_ = [], [], []
    sel_shards = picked.shards
    for s in tqdm(np.unique(sel_shards), desc="read selected", disable=not progress):
        shard = layout.shards[int(s)]
        want = set(sel_scores["id"].filter(pa.array(sel_shards == s)).to_pylist())
        rows = read_rows(shard, layout, want)
        if rows.num_rows != len(want):  # an id of the selection occurs twice in the pool
            check_unique_ids(rows["id"], cfg.inputs.pool)
        X = list_column_to_numpy(rows[layout.vector_column], shard.file, layout.vector_column)
        U = unit_rows(X, None)
        acc.sel_input.add_rows(U)
        A, codes = space.encode(X, explain=True)
        total, nonzero = space.unit_sum(A)
        acc.sel_space.add(total, len(X), nonzero)
        if cfg.inputs.label_field is not None:
            acc.add_labels(rows[cfg.inputs.label_field].to_pylist())
        room = keep_units - len(unit_ids)
        if room > 0:
            unit_ids += rows["id"].to_pylist()[:room]
            unit_rows_.append(U[:room])
        rows = rows.drop_columns([layout.vector_column])
        for name, col in why_columns(space, codes, cfg.selection.explain_latents, inp.explanations,
                                     rows).items():
            rows = rows.append_column(name, col)
        parts.append(rows)
    table = _join_scores(_concat_or_empty(parts, layout), sel_scores, inp, cfg.selection.clusters > 0)
    units = np.concatenate(unit_rows_) if unit_rows_ else np.zeros((0, layout.dim), np.float32)
    return table, acc.result(), (unit_ids, units)


def _concat_or_empty(parts: list[pa.Table], layout: PoolLayout) -> pa.Table:
    if parts:
        return pa.concat_tables(parts, promote_options="default")
    names = [n for n in layout.schema.names if n not in (layout.vector_column, layout.id_column)]
    return pa.table({"id": pa.array([], pa.string())}
                    | {n: pa.array([], layout.schema.field(n).type) for n in names})


def _join_scores(table: pa.Table, sel_scores: pa.Table, inp: Inputs, clustered: bool = True) -> pa.Table:
    """Pool columns in rank order, then the score columns; `nearest_seed` as the seed's id;
    `cluster` only when the selection clustered (else it would be -1 in every row)."""
    pos = {k: i for i, k in enumerate(table["id"].to_pylist())}
    table = table.take(pa.array([pos[k] for k in sel_scores["id"].to_pylist()], type=pa.int64()))
    why = [n for n in WHY_COLUMNS if n in table.column_names]
    why_cols = {n: table[n] for n in why}
    table = table.drop_columns(why + [n for n in SCORE_COLUMNS if n in table.column_names])
    for name in SCORE_COLUMNS:
        if name == "cluster" and not clustered:
            continue
        col = sel_scores[name]
        if name == "nearest_seed":
            col = _seed_ids(col, inp)
        table = table.append_column(name, col)
    for name, col in why_cols.items():
        table = table.append_column(name, col)
    return table


def _seed_ids(nearest: pa.ChunkedArray, inp: Inputs) -> pa.Array:
    """Seed row numbers -> seed ids (null where there is no nearest seed)."""
    idx = nearest.to_numpy()
    if inp.seeds is None:
        return pa.array([None] * len(idx), pa.string())
    seed_ids = np.asarray([str(i) for i in inp.seeds.ids], dtype=object)
    return pa.array([seed_ids[i] if i >= 0 else None for i in idx], pa.string())


# ---------------------------------------------------------------------------- the run
def run_curate(cfg: CurateConfig, progress: bool = True) -> dict[str, Any]:
    """Run a curation end to end and return the manifest (also written to `out/manifest.json`)."""
    start = time.perf_counter()
    given = [cfg.inputs.seeds, cfg.inputs.pool, cfg.inputs.sae, cfg.inputs.interpretation]
    # Shards resume by their own sidecars (`layout.py`), so no fingerprint to match here.
    with open_output(cfg.out_path, cfg.output.overwrite, what="curation", inputs=given) as job:
        # The stage writes into job.work (beside the old output under --overwrite).
        work = cfg.replace(out=str(job.work))
        inp = resolve_inputs(work, progress)
        warn_dominant_dimensions(work, inp)
        out = job.work
        run = run_space(work, inp, out, progress, keep_units=cfg.output.projection_sample)
        baselines = compare_spaces(work, list(cfg.output.baselines), inp=inp,
                                   progress=progress) if cfg.output.baselines else {}
        with atomic_path(out / "selected.parquet") as tmp:
            pq.write_table(run.selected, tmp)
        if cfg.output.write_jsonl:
            _write_jsonl(run.selected, out / "selected.jsonl")
        if cfg.output.projection_sample:
            write_projection(work, inp, run, out / "projection.parquet")
        manifest = build_manifest(cfg, inp, run, baselines, time.perf_counter() - start)
        pool = manifest["pool"]
        if str(pool["path"]).startswith(str(job.work)):  # a pool converted into the output
            pool["path"] = str(cfg.out_path) + str(pool["path"])[len(str(job.work)):]
        write_json(out / "manifest.json", manifest)
    return manifest


def compare_spaces(cfg: CurateConfig, spaces: list[str], inp: Inputs | None = None,
                   progress: bool = True) -> dict[str, dict[str, Any]]:
    """Metrics of the same curation (seeds, budget, threshold, quotas) in each of `spaces`.

    Each space is scored into `out/baselines/<space>/` (resumable like the main run); only
    metrics are kept. With `clusters`, each space clusters in its own representation.
    """
    inp = inp or resolve_inputs(cfg, progress)
    out: dict[str, dict[str, Any]] = {}
    for name in spaces:
        sub = cfg.replace(space=name, features=None, feature_query=None, baselines=[],
                          out=str(cfg.out_path / "baselines" / name))
        sub_inp = dataclasses.replace(inp, features=None)
        run = run_space(sub, sub_inp, sub.out_path, progress)
        out[name] = _clean(run.metrics)
    return out


def write_projection(cfg: CurateConfig, inp: Inputs, run: SpaceRun, path: Path) -> None:
    """2-D PCA of a pool sample, the seeds and (up to `projection_sample`) selected rows."""
    from sklearn.decomposition import PCA

    from saescope.data.vectors import list_column_to_numpy

    layout = inp.layout
    cols = [layout.vector_column] + ([cfg.inputs.label_field] if cfg.inputs.label_field else [])
    sample = sample_rows(layout, cfg.output.projection_sample, cfg.selection.seed + 1, cols)
    Xp = unit_rows(list_column_to_numpy(sample[layout.vector_column], cfg.inputs.pool, layout.vector_column), None)
    sel_ids, sel_U = run.selected_units
    selected = set(run.selected["id"].to_pylist())
    ids = sample["id"].to_pylist()
    roles = ["selected" if i in selected else "pool" for i in ids]
    labels = [None if v is None else str(v) for v in sample[cfg.inputs.label_field].to_pylist()] if cfg.inputs.label_field else None
    in_sample = set(ids)
    extra = [k for k, i in enumerate(sel_ids) if i not in in_sample]
    blocks = [Xp, sel_U[extra]] if len(extra) else [Xp]
    ids += [sel_ids[k] for k in extra]
    roles += ["selected"] * len(extra)
    if labels is not None:
        lab = dict(zip(run.selected["id"].to_pylist(), run.selected[cfg.inputs.label_field].to_pylist(), strict=True))
        labels += [None if lab.get(sel_ids[k]) is None else str(lab[sel_ids[k]]) for k in extra]
    if inp.seeds is not None:
        blocks.append(unit_rows(inp.seeds.X, None))
        ids += [str(i) for i in inp.seeds.ids]
        roles += ["seed"] * len(inp.seeds.X)
        if labels is not None:
            meta = inp.seeds.meta
            if meta is not None and cfg.inputs.label_field in meta.column_names:
                labels += [None if v is None else str(v) for v in meta[cfg.inputs.label_field].to_pylist()]
            else:
                labels += [None] * len(inp.seeds.X)
    Z = np.concatenate(blocks)
    if len(Xp) >= 2 and Z.shape[1] >= 2:
        xy = PCA(n_components=2, random_state=cfg.selection.seed).fit(Xp).transform(Z)
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
        sae_info = {"path": cfg.inputs.sae, "hash": sae_hash(cfg.inputs.sae), "d_in": int(inp.sae.d_in),
                    "num_latents": int(inp.sae.num_latents),
                    "arch": getattr(getattr(inp.sae, "cfg", None), "arch", None),
                    "k": getattr(getattr(inp.sae, "cfg", None), "k", None),
                    "pool_rows_are_codes": bool(getattr(inp.sae, "codes_are_inputs", False))}
    return _clean({
        "saescope_version": __version__,
        "stage": "curate",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": cfg.to_dict(),
        "seed_set_hash": seed_hash(inp.seeds.ids, inp.seeds.X) if inp.seeds is not None else None,
        "n_seeds": 0 if inp.seeds is None else len(inp.seeds.X),
        "pool": {"path": str(inp.pool_path), "rows": inp.layout.num_rows, "dim": inp.layout.dim,
                 "shards": len(inp.layout.shards)},
        "model": inp.model,
        "sae": sae_info,
        "space": cfg.selection.space,
        "space_info": _space_info(cfg, inp, run),
        "text_column": run.space.text_field,
        "aggregate": cfg.selection.aggregate,
        "threshold": cfg.selection.threshold,
        "budget": cfg.selection.budget,
        "n_above_threshold": run.n_candidates,
        "n_selected": run.selected.num_rows,
        "features": inp.features,
        "feature_matches": inp.feature_matches,
        "clusters": {"k": cfg.selection.clusters, "quota": cfg.selection.quota, "sizes": run.cluster_sizes} if cfg.selection.clusters else None,
        "device": inp.device,
        "executor": cfg.execution.executor,
        "metrics": run.metrics,
        "cascade": _cascade_info(run),
        "baselines": baselines,
        "timings": {**{k: round(v, 3) for k, v in run.timings.items()}, "total_s": round(seconds, 3)},
        "files": {"selected": "selected.parquet", "scores": "scores/",
                  "projection": "projection.parquet" if cfg.output.projection_sample else None},
    })


def _cascade_info(run: SpaceRun) -> dict[str, Any] | None:
    """The graph's two-stage scoring (`spaces.cascade`): its calibration, the score under which a
    row was ruled out by the proxy (`floor`) and how many rows were scored in full; None: none."""
    cas = getattr(run.space.method, "cascade", None)
    if cas is None:
        return None
    return {**cas.info, "active": cas.active, "cut": cas.cut if cas.active else None, "floor": cas.floor,
            "n_full_scores": run.metrics.get("n_full_scores")}


def _space_info(cfg: CurateConfig, inp: Inputs, run: SpaceRun) -> dict[str, Any] | None:
    """What the space learnt from the seeds: the latents that set them apart from the pool,
    with explanations when an interpretation folder was given, and the why-columns' names."""
    if not run.space.sparse and run.space.latent_weights is None:
        return None
    top = seed_latents(run.space, 20, inp.explanations)
    return {
        "seed_latents": top,
        "top_latents": [{"latent": r["latent"], "weight": r["weight"]} for r in top],
        "latent_weight": {"sae-enrich": "log-odds of the seeds' activation-mass share against the pool's",
                          "embedding-graph": "log-odds of the seeds' activation-mass share against the "
                                             "pool's; the rows are ranked by the graph",
                          "sae-pu": "PU logistic-regression weight on the unit SAE code"}.get(
            cfg.selection.space, "entry of the unit seed centroid"),
        "why_columns": [n for n in WHY_COLUMNS if n in run.selected.column_names],
        "explanations": cfg.inputs.interpretation,
    }


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

