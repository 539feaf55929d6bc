"""`saescope curate`: seed-based selection from a pool (a thin layer over saescope.curate).

Every option's default and help come from the config dataclasses in `saescope.curate.config`
(`_opt`), so a default lives in one place; tests/cli/test_curate_cli.py checks they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from saescope.curate.config import FIELD_GROUP, GROUPS, field_default, field_docs
from saescope.errors import ConfigError

_DOCS = {name: doc for cls in GROUPS.values() for name, doc in field_docs(cls).items()}

OPTION_FIELDS = {
    "--seeds": "seeds", "--pool": "pool", "--budget": "budget", "--out": "out", "--sae": "sae",
    "--space": "space", "--aggregate": "aggregate", "--clusters": "clusters", "--quota": "quota",
    "--threshold": "threshold", "--dedup": "dedup", "--features": "features",
    "--feature-query": "feature_query", "--interpretation": "interpretation",
    "--label-field": "label_field", "--target": "target", "--embedder": "embedder",
    "--activations-model": "activations_model", "--layer": "layer", "--text-field": "text_field",
    "--executor": "executor", "--workers": "workers", "--ray-address": "ray_address",
    "--baselines": "baselines", "--chunk-size": "chunk_size", "--shard-rows": "shard_rows",
    "--fit-sample": "fit_sample", "--projection-sample": "projection_sample", "--device": "device",
    "--seed": "seed", "--jsonl": "write_jsonl", "--overwrite": "overwrite",
    "--explain-latents": "explain_latents", "--drop-nonfinite": "drop_nonfinite",
}  # fmt: skip
"""CLI option -> config field (list fields are comma-separated strings on the command line)."""


def _opt(name: str, *, required: bool = False, **kw: Any) -> Any:
    """A typer option whose default and help are the config field's."""
    field = OPTION_FIELDS[name]
    default = field_default(GROUPS[FIELD_GROUP[field]], field)
    if isinstance(default, list):
        default = ",".join(map(str, default)) or None
    return typer.Option(... if required else default, name, help=_DOCS[field], **kw)


def register(app: typer.Typer) -> None:
    app.command("curate")(curate)


def _split(value: str | None, name: str, cast: type = str) -> list | None:
    if value is None:
        return None
    try:
        items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected a comma-separated list, got {value!r}") from None
    if not items:
        raise ConfigError(f"{name}: empty list")
    return items


def curate(
    seeds: Path | None = _opt("--seeds"),
    pool: Path = _opt("--pool", required=True),
    budget: int | None = _opt("--budget"),
    out: Path = _opt("--out", required=True),
    sae: Path | None = _opt("--sae"),
    space: str = _opt("--space"),
    aggregate: str = _opt("--aggregate"),
    clusters: int = _opt("--clusters"),
    quota: str = _opt("--quota"),
    threshold: float | None = _opt("--threshold"),
    dedup: float | None = _opt("--dedup"),
    features: str | None = _opt("--features"),
    feature_query: str | None = _opt("--feature-query"),
    interpretation: Path | None = _opt("--interpretation"),
    explain_latents: int = _opt("--explain-latents"),
    label_field: str | None = _opt("--label-field"),
    target: str | None = _opt("--target"),
    embedder: str = _opt("--embedder"),
    activations_model: str | None = _opt("--activations-model"),
    layer: int | None = _opt("--layer"),
    text_field: str = _opt("--text-field"),
    executor: str = _opt("--executor"),
    workers: int = _opt("--workers"),
    ray_address: str | None = _opt("--ray-address"),
    baselines: str | None = _opt("--baselines"),
    chunk_size: int = _opt("--chunk-size"),
    shard_rows: int = _opt("--shard-rows"),
    fit_sample: int = _opt("--fit-sample"),
    projection_sample: int = _opt("--projection-sample"),
    device: str = _opt("--device"),
    seed: int = _opt("--seed"),
    jsonl: bool = _opt("--jsonl"),
    drop_nonfinite: bool = _opt("--drop-nonfinite"),
    overwrite: bool = _opt("--overwrite"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Select the pool rows most like a seed set, in SAE space or a baseline space.

    Writes OUT/selected.parquet (pool columns + score, centroid_sim, max_sim, nearest_seed (the
    seed's id), cluster, rank, and why each row was chosen: top_latents, top_contributions,
    top_explanations with --interpretation), OUT/manifest.json (config, hashes, metrics,
    baselines, the seed-enriched latents under space_info.seed_latents), OUT/projection.parquet
    and per-shard score sidecars under OUT/scores/.
    """
    from saescope.curate import CurateConfig, run_curate

    cfg = CurateConfig(
        seeds=str(seeds) if seeds else None, pool=str(pool), out=str(out), budget=budget,
        space=space, aggregate=aggregate, sae=str(sae) if sae else None,
        features=_split(features, "--features", int), feature_query=feature_query,
        interpretation=str(interpretation) if interpretation else None, clusters=clusters,
        quota=quota, threshold=threshold, dedup=dedup, label_field=label_field,
        target=_split(target, "--target"), embedder=embedder, activations_model=activations_model,
        layer=layer, text_field=text_field, executor=executor, workers=workers,
        ray_address=ray_address, chunk_size=chunk_size, shard_rows=shard_rows,
        fit_sample=fit_sample, projection_sample=projection_sample, device=device, seed=seed,
        baselines=_split(baselines, "--baselines") or [], write_jsonl=jsonl, overwrite=overwrite,
        explain_latents=explain_latents, drop_nonfinite=drop_nonfinite,
    )  # fmt: skip
    man = run_curate(cfg, progress=progress)
    for line in summary_lines(man, Path(out)):
        typer.echo(line)


def summary_lines(man: dict[str, Any], out: Path, n_latents: int = 10) -> list[str]:
    """What the CLI prints: counts and metrics, baselines, the seed latents, the files."""
    m = man["metrics"]
    parts = [f"selected {man['n_selected']} of {man['pool']['rows']} rows ({man['space']})"]
    for key in ("avg_similarity", "diversity", "precision", "recall", "f1"):
        if m.get(key) is not None:
            parts.append(f"{key}={m[key]:.4f}")
    lines = ["; ".join(parts)]
    for key, what in (("n_seed_duplicates_excluded", "pool rows with a seed's exact text left out"),
                      ("n_without_evidence", "rows where no chosen latent fires left out")):
        if m.get(key):
            lines.append(f"{m[key]} {what}")
    for name, bm in (man.get("baselines") or {}).items():
        vals = [f"{k}={bm[k]:.4f}" for k in ("avg_similarity", "diversity", "precision", "f1")
                if bm.get(k) is not None]
        lines.append(f"baseline {name}: " + "; ".join(vals))
    info = man.get("space_info") or {}
    top = info.get("seed_latents") or []
    if top:
        lines.append(f"latents that set the seeds apart ({info.get('latent_weight')}):")
        for r in top[:n_latents]:
            expl = r.get("explanation")
            lines.append(f"  latent {r['latent']:>6}  {r['weight']:+.3f}" + (f"  {expl}" if expl else ""))
    lines.append(f"wrote {out / 'selected.parquet'} and {out / 'manifest.json'}")
    return lines
