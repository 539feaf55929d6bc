"""`saescope export`: an SAE or a run in the files SAELens, delphi or Neuronpedia read."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from saescope.errors import ConfigError, InputError

COMPLETE = {"saelens": "cfg.json", "saescope": "cfg.json", "delphi": "saescope_export.json",
            "neuronpedia": "explanations.jsonl"}
"""Format -> the file whose presence marks a finished export (for `io.prepare_output`)."""


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def _stage(src: Path, stage: str) -> Path:
    """The SAE or interpret folder of SRC (a run folder or the stage's own output)."""
    from saescope.interop.saelens import is_saelens_folder
    from saescope.run_layout import RunLayout

    if stage == "sae" and is_saelens_folder(src):
        return src
    found = getattr(RunLayout.detect(src), stage)
    if found is None:
        what = "SAE (cfg.json + sae.safetensors)" if stage == "sae" else \
            "interpret output (latents.parquet + summary.json)"
        raise InputError(f"{src}: contains no {what}")
    return found


def export(
    src: Path = typer.Argument(..., help="SAE folder (saelens) or run / interpret folder (delphi, neuronpedia)."),
    format: str = typer.Option(..., "--format", help="saelens | delphi | neuronpedia | saescope."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    model_id: str = typer.Option("saescope", "--model-id",
                                 help="Model the SAE reads (SAELens metadata.model_name, Neuronpedia model id)."),
    hook: str = typer.Option("embedding", "--hook",
                             help="SAELens metadata.hook_name; delphi module/hookpoint name."),
    layer: int = typer.Option(0, "--layer", help="neuronpedia: layer number."),
    sae_set: str = typer.Option("saescope", "--sae-set", help="neuronpedia: source set name."),
    sae: Path | None = typer.Option(None, "--sae", help="neuronpedia: SAE folder (default: RUN/sae)."),
    data: Path | None = typer.Option(None, "--data", help="neuronpedia: vectors (default: RUN/data/embeddings.parquet)."),
) -> None:
    """Write SRC as an SAELens SAE folder, delphi explanation files, or Neuronpedia dashboards.

    saelens: cfg.json + sae_weights.safetensors (topk, batchtopk/reward as jumprelu, relu as
    standard). delphi: explanations/{hook}_latent{i}.txt, scores/detection{,_hard}/ (when the
    interpretation ran --scorer detection), sparse_model/{hook}/ (when SRC has an SAE) and
    saescope_scores.jsonl. neuronpedia: batch-N.json + explanations.jsonl.
    saescope: any SAE saescope reads (e.g. an SAELens folder) as a saescope/sparsify folder.
    """
    from saescope.io import finish_output, prepare_output

    if format not in COMPLETE:
        raise ConfigError(f"--format must be saelens, delphi, neuronpedia or saescope, got {format!r}")
    # SRC's SAE or interpret folder, found before the output folder is touched (neuronpedia
    # reads the whole run itself)
    found = src if format == "neuronpedia" else \
        _stage(src, "sae" if format in ("saelens", "saescope") else "interpret")
    # The one output-folder policy; an interrupted export of the same SRC and format is redone.
    prepare_output(out, overwrite, fingerprint={"src": str(src), "format": format},
                   complete=COMPLETE[format], what=f"{format} export")
    if format in ("saelens", "saescope"):
        from saescope.interop.saelens import export_saelens
        from saescope.sae.model import SparseAutoencoder

        model = SparseAutoencoder.load(found)
        if format == "saelens":
            export_saelens(model, out, metadata={"model_name": model_id, "hook_name": hook})
        else:
            model.save(out)
        result = {"format": format, "arch": model.cfg.arch, "out": str(out)}
    elif format == "delphi":
        from saescope.interop.delphi import export_delphi, sparse_model_folder
        from saescope.run_layout import RunLayout

        # overwrite=True: the folder passed prepare_output; the new one replaces it when complete.
        result = export_delphi(found, out, module=hook, overwrite=True)
        sae_dir = RunLayout.detect(src).sae
        if sae_dir is not None:
            result["sparse_model"] = str(sparse_model_folder(sae_dir, out / "sparse_model", hook).parent)
    else:
        from saescope.interop.neuronpedia import NeuronpediaConfig, export_neuronpedia

        cfg = NeuronpediaConfig(model_id=model_id, layer=layer, sae_set=sae_set,
                                dataset=str(data) if data else "")
        result = export_neuronpedia(src, out, cfg, sae_dir=sae, data=data, overwrite=True)
    finish_output(out)
    typer.echo(json.dumps(result))
