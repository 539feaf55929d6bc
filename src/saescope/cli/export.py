"""`saescope export`: an SAE or a run in the files SAELens, delphi or Neuronpedia read
(a thin layer over `saescope.interop.export.run_export`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from saescope.cli.options import Opt, build, command, values
from saescope.interop.export import COMPLETE, ExportConfig

__all__ = ["COMPLETE", "EXPORT_OPTIONS", "export", "register"]

EXPORT_OPTIONS = (
    Opt("src", "src", argument=True, type=Path, default=...),
    Opt("--format", "format", default=...),
    Opt("--out", "out", type=Path, default=...),
    Opt("--overwrite", "overwrite"),
    Opt("--model-id", "model_id"),
    Opt("--hook", "hook"),
    Opt("--layer", "layer"),
    Opt("--sae-set", "sae_set"),
    Opt("--sae", "sae", type=Path | None),
    Opt("--data", "data", type=Path | None),
)


def register(app: typer.Typer) -> None:
    app.command("export")(export)


@command(ExportConfig, EXPORT_OPTIONS)
def export(**opts: Any) -> None:
    """Write SRC as an SAELens SAE folder, delphi explanation files, or Neuronpedia dashboards.

    saelens: cfg.json + sae_weights.safetensors (topk, batchtopk/reward as jumprelu, relu as
    standard). delphi: explanations/{hook}_latent{i}.txt, scores/detection{,_hard}/ (when the
    interpretation ran --scorer detection), sparse_model/{hook}/ (when SRC has an SAE) and
    saescope_scores.jsonl. neuronpedia: batch-N.json + explanations.jsonl.
    saescope: any SAE saescope reads (e.g. an SAELens folder) as a saescope/sparsify folder.
    """
    from saescope.interop.export import run_export

    man = run_export(build(ExportConfig, values(opts, EXPORT_OPTIONS)))
    typer.echo(json.dumps(man["result"]))
