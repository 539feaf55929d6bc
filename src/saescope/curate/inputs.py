"""Resolving a curation's inputs once per run: seeds, pool layout, SAE, labels, explanations.

Text inputs are embedded (or run through an LLM) into the vector Parquet layout under
`out/inputs/`; `.npy`/`.safetensors` pools are converted once. Everything is checked against
everything else here (dimensions, label values, budget), so a bad input fails before any
scoring, with a message naming the file, row or field.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from saescope.curate.config import CurateConfig
from saescope.curate.fitstate import load_sae
from saescope.curate.layout import PoolLayout, pool_layout
from saescope.data.vectors import (
    VectorTable,
    check_finite,
    detect_vector_column,
    finite_parquet,
    parquet_files,
    read_vectors,
)
from saescope.errors import ConfigError, InputError
from saescope.io import atomic_path

log = logging.getLogger(__name__)


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
    seed_texts: set[str] | None = None
    """Stripped seed texts (None when the seeds or the pool have no text column)."""
    explanations: dict[int, str] | None = None
    """latent -> explanation from `interpretation` (None without one)."""
    samples: dict[tuple, Any] = field(default_factory=dict)
    """Pool samples read so far, by (rows, seed, columns) (`pipeline.pool_sample`: the fit and the
    dominant-dimension check share one read of the pool)."""


# ---------------------------------------------------------------------------- vectors
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


def _refuse_sparse_codes(path: Path, what: str) -> None:
    """A clear error for codes written by `encode` without a vector column (else they would be
    read as a text corpus)."""
    if path.suffix.lower() != ".parquet" and not path.is_dir():
        return
    try:
        names = pq.read_schema(parquet_files(path)[0]).names
    except Exception:  # noqa: BLE001 - not Parquet codes; the corpus reader's error stands
        return
    if "sae_idx" in names and "sae_val" in names:
        raise InputError(f"{path}: the {what} holds sparse SAE codes (sae_idx/sae_val) without a "
                         "vector column: write them with `saescope encode ... --pool-tokens HOW "
                         "--dense` (adds the pooled code as `embedding`) to curate by them")


def _warn(msg: str) -> None:
    import sys

    print(f"warning: {msg}", file=sys.stderr)


_MODELS: dict[tuple[Any, ...], Any] = {}


def _embed_corpus(path: Path, cfg: CurateConfig, out: Path, progress: bool) -> Path:
    """Embed a text corpus into the vector Parquet layout at `out` (resumable by shard).

    Sentence embeddings (`inputs.embedder`) or, with `inputs.activations_model`, the LLM's
    residual stream at `inputs.layer`, mean-pooled per document (`saescope.data.activations`).
    The model is loaded once per process and shared by the seeds and the pool.
    """
    from saescope.data.corpus import read_corpus

    inp, device = cfg.inputs, cfg.execution.device
    table = read_corpus(path, text_field=inp.text_field, on_error_flag=None)
    if table.num_rows == 0:
        raise InputError(f"{path}: no texts")
    if inp.activations_model is not None:
        from saescope.data.activations import ActivationExtractor, extract_table

        key: tuple[Any, ...] = ("act", inp.activations_model, inp.layer, device)
        if key not in _MODELS:
            _MODELS[key] = ActivationExtractor(inp.activations_model, layers=[inp.layer], device=device)
        return extract_table(table, out, _MODELS[key], progress=progress)[inp.layer]  # type: ignore[index]
    from saescope.data.embed import Embedder, embed_table

    key = ("st", inp.embedder, device)
    if key not in _MODELS:
        _MODELS[key] = Embedder(inp.embedder, device=device)
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
    path = Path(cfg.inputs.pool)
    if not path.exists():
        raise InputError(f"{path}: pool not found")
    out = cfg.out_path / "inputs" / "pool.parquet"
    if _is_vector_source(path):
        if path.suffix.lower() in (".npy", ".safetensors"):
            return out if out.is_file() else _vectors_to_parquet(read_vectors(path), out)
        return path
    _refuse_sparse_codes(path, "pool")
    return out if out.is_file() else _embed_corpus(path, cfg, out, progress)


def load_seeds(cfg: CurateConfig, progress: bool) -> VectorTable | None:
    if cfg.inputs.seeds is None:
        return None
    path = Path(cfg.inputs.seeds)
    if not path.exists():
        raise InputError(f"{path}: seed set not found")
    if not _is_vector_source(path):
        _refuse_sparse_codes(path, "seed set")
        out = cfg.out_path / "inputs" / "seeds.parquet"
        path = out if out.is_file() else _embed_corpus(path, cfg, out, progress)
    vt = read_vectors(path)
    if len(vt.X) == 0 or vt.X.size == 0:
        raise InputError(f"{cfg.inputs.seeds}: the seed set is empty")
    keep = check_finite(vt.X, f"{cfg.inputs.seeds} (seeds)", drop=cfg.inputs.drop_nonfinite)
    if not keep.all():
        _warn(f"{cfg.inputs.seeds}: dropped {int((~keep).sum())} seed rows with NaN or Inf")
        meta = vt.meta.filter(pa.array(keep)) if vt.meta is not None else None
        vt = VectorTable(vt.X[keep], vt.ids[keep], meta, vt.source)
    return vt


# ---------------------------------------------------------------------------- latents
def read_explanations(interpretation: str | Path) -> tuple[dict[int, str], Path]:
    """latent -> explanation of the latents explained without error in an interpret folder."""
    path = Path(interpretation) / "latents.parquet"
    if not path.is_file():
        raise InputError(f"{path}: not found (needs an interpret output folder)")
    table = pq.read_table(path)
    for col in ("latent", "explanation"):
        if col not in table.column_names:
            raise InputError(f"{path}: no column {col!r}")
    status = table["status"].to_pylist() if "status" in table.column_names else ["ok"] * table.num_rows
    out = {int(lat): expl for lat, expl, st in zip(table["latent"].to_pylist(),
                                                   table["explanation"].to_pylist(), status, strict=True)
           if st == "ok" and expl}
    return out, path


def match_features(interpretation: str | Path, query: str) -> list[dict[str, Any]]:
    """Latents whose explanation contains every word of `query` (case-insensitive)."""
    explanations, path = read_explanations(interpretation)
    words = [w for w in query.lower().split() if w]
    if not words:
        raise ConfigError("feature_query: empty query")
    out = [{"latent": lat, "explanation": expl} for lat, expl in sorted(explanations.items())
           if all(w in expl.lower() for w in words)]
    if not out:
        raise ConfigError(f"feature_query {query!r}: no explained latent in {path} matches")
    return out


# ---------------------------------------------------------------------------- labels, texts
def count_targets(cfg: CurateConfig, layout: PoolLayout) -> tuple[set[str] | None, int]:
    """(target values, pool rows with a target label); a target absent from the pool is an error."""
    field = cfg.inputs.label_field
    if field is None:
        return None, 0
    if field not in layout.schema.names:
        raise InputError(f"{cfg.inputs.pool}: no label column {field!r} "
                         f"(columns: {', '.join(layout.schema.names)})")
    if cfg.inputs.target is None:
        return None, 0
    targets = {str(t) for t in cfg.inputs.target}
    counts: dict[str, int] = {}
    for f in sorted({s.file for s in layout.shards}):
        col = pq.read_table(f, columns=[field])[field].cast(pa.string())
        for row in pc.value_counts(col).to_pylist():
            if row["values"] is not None:
                counts[row["values"]] = counts.get(row["values"], 0) + int(row["counts"])
    missing = sorted(targets - set(counts))
    if missing:
        values = sorted(counts)
        shown = ", ".join(repr(v) for v in values[:50]) + (" ..." if len(values) > 50 else "")
        raise InputError(f"{cfg.inputs.pool}: target {', '.join(repr(m) for m in missing)} does not "
                         f"occur in column {field!r} (values: {shown})")
    return targets, sum(counts[t] for t in targets)


def seed_texts(cfg: CurateConfig, seeds: VectorTable | None, layout: PoolLayout) -> set[str] | None:
    """The seeds' texts (stripped), when both the seeds and the pool have the text column."""
    field = cfg.inputs.text_field
    if seeds is None or seeds.meta is None or field not in seeds.meta.column_names:
        return None
    if field not in layout.schema.names:
        return None
    return {str(t).strip() for t in seeds.meta[field].to_pylist() if t is not None}


# ---------------------------------------------------------------------------- embedding hints
def vector_origin(path: str | Path) -> dict[str, str]:
    """What `saescope activations` (or `encode --pool-tokens`) recorded in a vector Parquet
    file's metadata (`model`, `layer`, `pooling`, ...; empty for other files, e.g. `saescope
    embed` output)."""
    from saescope.sae.encode import file_origin

    return file_origin(path)


def _seed_embedding_hint(cfg: CurateConfig, pool_path: Path) -> str:
    """Which flags embed text seeds as the pool was: the pool's model and layer from its metadata."""
    inp = cfg.inputs
    origin = vector_origin(pool_path)
    if inp.seeds is None or _is_vector_source(Path(inp.seeds)) or "layer" not in origin:
        return ""
    model, layer, pooling = origin.get("model", "?"), origin["layer"], origin.get("pooling", "mean")
    used = f"--activations-model {inp.activations_model} --layer {inp.layer}" if inp.activations_model \
        else f"--embedder {inp.embedder}"
    hint = (f". The pool holds activations of {model} at layer {layer} (pooling {pooling}) and the text "
            f"seeds were embedded with {used}: add `--activations-model {model} --layer {layer}` to embed "
            "the seeds the same way")
    if pooling != "mean":  # curate embeds text with the extractor's defaults (mean pooling)
        hint += (f"; the pool's pooling is {pooling}, so embed them yourself: `saescope activations "
                 f"{inp.seeds} --model {model} --layer {layer} --pooling {pooling} --out seeds-acts` "
                 "and pass its layer file as --seeds")
    return hint


# ---------------------------------------------------------------------------- pooled codes
def _load_sae_for_pool(cfg: CurateConfig, pool_path: Path, device: str) -> Any:
    """The SAE of `--sae`; wrapped as a `PooledCodesSAE` when the pool's rows are its pooled
    codes (`encode --pool-tokens --dense` on a per-token store): the SAE spaces then read the
    documents' pooled token codes instead of encoding the rows. Vector seeds must then be pooled
    codes of the same SAE."""
    from saescope.sae.encode import PooledCodesSAE, check_pooled_codes

    inp = cfg.inputs
    sae = load_sae(inp.sae, device)  # type: ignore[arg-type]
    if not check_pooled_codes(vector_origin(pool_path), inp.sae, str(inp.pool)):  # type: ignore[arg-type]
        return sae
    seeds = Path(inp.seeds) if inp.seeds is not None else None
    if seeds is not None and seeds.suffix.lower() not in (".npy", ".safetensors") and _is_vector_source(seeds):
        if not check_pooled_codes(vector_origin(seeds), inp.sae, str(seeds)):  # type: ignore[arg-type]
            raise InputError(f"{seeds}: the pool {inp.pool} holds pooled SAE codes, the seeds do not: "
                             "encode the seeds' per-token store the same way (saescope encode SAE "
                             "SEED_TOKENS --pool-tokens HOW --dense)")
    return PooledCodesSAE(sae)


# ---------------------------------------------------------------------------- all together
def resolve_inputs(cfg: CurateConfig, progress: bool = True) -> Inputs:
    """Read the seeds, lay out the pool, load the SAE, and check they agree."""
    from saescope.data.models import resolve_device

    inp, budget = cfg.inputs, cfg.selection.budget
    device = resolve_device(cfg.execution.device)
    seeds = load_seeds(cfg, progress)
    pool_path, dropped = finite_parquet(resolve_pool(cfg, progress),
                                        cfg.out_path / "inputs" / "pool-finite",
                                        drop=inp.drop_nonfinite)
    if dropped:
        _warn(f"{inp.pool}: dropped {dropped} pool rows with NaN or Inf (pool read from {pool_path})")
    layout = pool_layout(pool_path, cfg.execution.shard_rows,
                         whole_files=cfg.execution.executor == "ray")
    if budget is not None and budget > layout.num_rows:
        raise InputError(f"budget {budget} is larger than the pool {inp.pool} ({layout.num_rows} rows)")
    if seeds is not None and seeds.X.shape[1] != layout.dim:
        raise InputError(f"dimension mismatch: seeds {inp.seeds} have {seeds.X.shape[1]}, "
                         f"pool {inp.pool} has {layout.dim}{_seed_embedding_hint(cfg, pool_path)}")
    sae = None
    if cfg.loads_sae:
        sae = _load_sae_for_pool(cfg, pool_path, device)
        if int(sae.d_in) != layout.dim:
            raise InputError(f"dimension mismatch: the SAE {inp.sae} expects {sae.d_in}, "
                             f"pool {inp.pool} has {layout.dim}")
    features, matches = cfg.selection.features, None
    explanations = read_explanations(inp.interpretation)[0] if inp.interpretation else None
    if cfg.selection.feature_query is not None:
        matches = match_features(inp.interpretation, cfg.selection.feature_query)  # type: ignore[arg-type]
        features = [m["latent"] for m in matches]
    targets, n_targets = count_targets(cfg, layout)
    model = {"embedder": inp.embedder if inp.activations_model is None else None,
             "activations_model": inp.activations_model, "layer": inp.layer}
    return Inputs(seeds, pool_path, layout, sae, device, features, matches, model, n_targets,
                  targets, seed_texts(cfg, seeds, layout), explanations)
