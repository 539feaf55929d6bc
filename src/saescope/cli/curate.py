"""`saescope curate`: seed-based selection from a pool (a thin layer over saescope.curate).

Every option's default and help come from the config dataclasses in `saescope.curate.config`
(through `cli/options.py`, like the other commands), so a default lives in one place;
tests/cli/test_curate_cli.py checks they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from saescope.cli import say
from saescope.cli.options import Opt, build, command, nested_options, split_list, values
from saescope.curate.config import CurateConfig

CURATE_OPTIONS = (
    Opt("--seeds", "inputs.seeds", type=Path | None),
    Opt("--pool", "inputs.pool", type=Path, default=...),
    Opt("--budget", "selection.budget"),
    Opt("--out", "output.out", type=Path, default=...),
    Opt("--sae", "inputs.sae", type=Path | None),
    Opt("--space", "selection.space"),
    Opt("--aggregate", "selection.aggregate"),
    Opt("--clusters", "selection.clusters"),
    Opt("--quota", "selection.quota"),
    Opt("--threshold", "selection.threshold"),
    Opt("--dedup", "selection.dedup"),
    Opt("--use-text/--no-use-text", "selection.use_text"),
    Opt("--text-max-terms", "selection.text_max_terms"),
    Opt("--features", "selection.features", type=str | None),
    Opt("--feature-query", "selection.feature_query"),
    Opt("--interpretation", "inputs.interpretation", type=Path | None),
    Opt("--explain-latents", "selection.explain_latents"),
    Opt("--label-field", "inputs.label_field"),
    Opt("--target", "inputs.target", type=str | None),
    Opt("--embedder", "inputs.embedder"),
    Opt("--activations-model", "inputs.activations_model"),
    Opt("--layer", "inputs.layer"),
    Opt("--text-field", "inputs.text_field"),
    Opt("--executor", "execution.executor"),
    Opt("--workers", "execution.workers"),
    Opt("--ray-address", "execution.ray_address"),
    Opt("--baselines", "output.baselines", type=str | None, default=None),
    Opt("--chunk-size", "execution.chunk_size"),
    Opt("--shard-rows", "execution.shard_rows"),
    Opt("--fit-sample", "execution.fit_sample"),
    Opt("--projection-sample", "output.projection_sample"),
    Opt("--device", "execution.device"),
    Opt("--seed", "selection.seed"),
    Opt("--jsonl", "output.write_jsonl"),
    Opt("--drop-nonfinite", "inputs.drop_nonfinite"),
    Opt("--overwrite", "output.overwrite"),
    *nested_options(CurateConfig, "selection.graph", "graph"),
    *nested_options(CurateConfig, "selection.pu", "pu"),
    *nested_options(CurateConfig, "selection.enrich", "enrich"),
    Opt("--progress/--no-progress", None, type=bool, default=True, help="Show progress bars."),
)
"""`saescope curate`'s options, fields dotted into CurateConfig's groups (list fields are
comma-separated strings on the command line; --baselines' empty list is None)."""

OPTION_FIELDS = {o.decl: o.field for o in CURATE_OPTIONS if o.field}
"""CLI option -> config field, dotted from CurateConfig (`selection.graph.k`)."""

_LISTS = {"selection.features": int, "inputs.target": str, "output.baselines": str}
"""List fields the CLI takes comma-separated, with their item type."""


def register(app: typer.Typer) -> None:
    app.command("curate")(curate)


def curate_config(opts: dict[str, Any]) -> CurateConfig:
    """The CurateConfig of the parsed options."""
    given = values(opts, CURATE_OPTIONS)
    flags = {o.field: o.decl for o in CURATE_OPTIONS}
    for name, cast in _LISTS.items():
        given[name] = split_list(given[name], flags[name], cast)
    given["output.baselines"] = given["output.baselines"] or []
    return build(CurateConfig, given)


@command(CurateConfig, CURATE_OPTIONS)
def curate(**opts: Any) -> None:
    """Select the pool rows most like a seed set, in SAE space or a baseline space.

    Writes OUT/selected.parquet (pool columns + score, centroid_sim, max_sim, nearest_seed (the
    seed's id), cluster, rank, and why each row was chosen: top_latents, top_contributions,
    top_explanations with --interpretation), OUT/manifest.json (config, hashes, metrics,
    baselines, the seed-enriched latents under space_info.seed_latents), OUT/projection.parquet
    and per-shard score sidecars under OUT/scores/.
    """
    from saescope.curate import run_curate

    man = run_curate(curate_config(opts), progress=opts["progress"])
    for line in summary_lines(man, Path(opts["out"])):
        say(line)


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
