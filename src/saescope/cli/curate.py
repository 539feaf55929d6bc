"""`saescope curate`: seed-based selection from a pool (a thin layer over saescope.curate)."""

from __future__ import annotations

from pathlib import Path

import typer

from saescope.errors import ConfigError


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
    seeds: Path | None = typer.Option(None, "--seeds", help="Seed set: vector Parquet/.npy/.safetensors or a text corpus."),
    pool: Path = typer.Option(..., "--pool", help="Pool: vector Parquet file or folder of shards, or a text corpus."),
    budget: int | None = typer.Option(None, "--budget", help="Rows to select (after --threshold)."),
    out: Path = typer.Option(..., "--out", help="Output folder (a partial one is resumed)."),
    sae: Path | None = typer.Option(None, "--sae", help="SAE folder (cfg.json + sae.safetensors)."),
    space: str = typer.Option("sae", "--space", help="sae | sae-idf | sae-centered | sae-enrich | embedding | embedding-centered | random."),
    aggregate: str = typer.Option("centroid", "--aggregate", help="centroid (cosine to the seed centroid) or max (nearest seed)."),
    clusters: int = typer.Option(0, "--clusters", help="k-means clusters (fitted on a pool sample) for per-cluster quotas."),
    quota: str = typer.Option("equal", "--quota", help="Per-cluster quotas: equal, or seeds (in proportion to the seeds)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Keep only rows with score >= T."),
    dedup: float | None = typer.Option(None, "--dedup", help="Drop rows with input-space cosine >= this to a better-ranked selected row."),
    features: str | None = typer.Option(None, "--features", help="Select by these latents (comma-separated): score = sum of activations."),
    feature_query: str | None = typer.Option(None, "--feature-query", help="Select by latents whose explanation contains TEXT."),
    interpretation: Path | None = typer.Option(None, "--interpretation", help="Interpret output folder (latents.parquet) for --feature-query."),
    label_field: str | None = typer.Option(None, "--label-field", help="Label column (label distribution, precision/recall)."),
    target: str | None = typer.Option(None, "--target", help="On-target label value(s), comma-separated."),
    embedder: str = typer.Option("minilm", "--embedder", help="Sentence model for text inputs: minilm | PATH | hub name."),
    activations_model: str | None = typer.Option(None, "--activations-model", help="Embed text inputs as LLM hidden states (smollm2 | PATH)."),
    layer: int | None = typer.Option(None, "--layer", help="Layer for --activations-model."),
    text_field: str = typer.Option("text", "--text-field", help="Text column of text-corpus inputs."),
    executor: str = typer.Option("local", "--executor", help="local or ray (Ray Data; pip install 'saescope[ray]')."),
    workers: int = typer.Option(1, "--workers", help="Local executor: processes scoring shards in parallel."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster address (default: start/join a local one)."),
    baselines: str | None = typer.Option(None, "--baselines", help="Also evaluate these spaces (comma-separated) into manifest baselines."),
    chunk_size: int = typer.Option(8192, "--chunk-size", help="Pool rows per matrix product (bounds memory)."),
    shard_rows: int = typer.Option(262144, "--shard-rows", help="Rows per scoring shard (whole row groups)."),
    fit_sample: int = typer.Option(50000, "--fit-sample", help="Pool rows sampled for pool statistics and k-means."),
    projection_sample: int = typer.Option(5000, "--projection-sample", help="Pool rows in projection.parquet (0: none)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    seed: int = typer.Option(0, "--seed", help="Random seed (samples, k-means, random space)."),
    jsonl: bool = typer.Option(False, "--jsonl", help="Also write selected.jsonl."),
    drop_nonfinite: bool = typer.Option(False, "--drop-nonfinite", help="Drop seed and pool rows with NaN/Inf instead of failing."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished output folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Select the pool rows most similar to a seed set, in SAE space or a baseline space.

    Writes OUT/selected.parquet (pool columns + score, centroid_sim, max_sim, nearest_seed,
    cluster, rank), OUT/manifest.json (config, hashes, metrics, baselines),
    OUT/projection.parquet and per-shard score sidecars under OUT/scores/.
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
        drop_nonfinite=drop_nonfinite,
    )  # fmt: skip
    man = run_curate(cfg, progress=progress)
    m = man["metrics"]
    parts = [f"selected {man['n_selected']} of {man['pool']['rows']} rows ({man['space']})"]
    for key in ("avg_similarity", "diversity", "precision", "recall", "f1"):
        if m.get(key) is not None:
            parts.append(f"{key}={m[key]:.4f}")
    typer.echo("; ".join(parts))
    for name, bm in (man.get("baselines") or {}).items():
        vals = [f"{k}={bm[k]:.4f}" for k in ("avg_similarity", "diversity", "precision", "f1")
                if bm.get(k) is not None]
        typer.echo(f"baseline {name}: " + "; ".join(vals))
    typer.echo(f"wrote {Path(out) / 'selected.parquet'} and {Path(out) / 'manifest.json'}")
