"""`run_export(cfg)`: an SAE or a run written in the files SAELens, delphi or Neuronpedia read.

The export stage, as `saescope export` runs it. It returns its manifest, also written beside
the output folder as `<out>.manifest.json` (the folder itself holds only what the other tool
reads). `export_saelens`, `export_delphi` and `export_neuronpedia` are the three formats alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saescope.errors import ConfigError, InputError
from saescope.interop import FORMATS

COMPLETE = {"saelens": "cfg.json", "saescope": "cfg.json", "delphi": "saescope_export.json",
            "neuronpedia": "explanations.jsonl"}
"""Format -> the file whose presence marks a finished export (for `io.open_output`)."""


@dataclass
class ExportConfig:
    """One run of the export stage (`saescope.interop.export.run_export`, `saescope export`)."""

    src: str = ""
    """SAE folder (saelens, saescope) or run / interpret folder (delphi, neuronpedia)."""
    format: str = ""
    """saelens | delphi | neuronpedia | saescope."""
    out: str = ""
    """Output folder."""
    overwrite: bool = False
    """Replace an existing output folder."""
    model_id: str = "saescope"
    """Model the SAE reads (SAELens metadata.model_name, Neuronpedia model id)."""
    hook: str = "embedding"
    """SAELens metadata.hook_name; delphi module/hookpoint name."""
    layer: int = 0
    """neuronpedia: layer number."""
    sae_set: str = "saescope"
    """neuronpedia: source set name."""
    sae: str | None = None
    """neuronpedia, delphi's latent cache: SAE folder (default: RUN/sae)."""
    data: str | None = None
    """neuronpedia: vectors (default: RUN/data/embeddings.parquet); delphi: a per-token store
    (`activations --per-token`) gets delphi's latent cache in OUT/latents/HOOK/."""

    def __post_init__(self) -> None:
        if self.format and self.format not in FORMATS:
            raise ConfigError(f"--format must be saelens, delphi, neuronpedia or saescope, "
                              f"got {self.format!r}")


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


def run_export(cfg: ExportConfig, progress: bool = True) -> dict[str, Any]:
    """Write `cfg.src` in `cfg.format` into the folder `cfg.out`; return the manifest.

    saelens: cfg.json + sae_weights.safetensors (topk, batchtopk/reward as jumprelu, relu as
    standard). delphi: explanations/{hook}_latent{i}.txt, scores/detection{,_hard}/ (when the
    interpretation ran the detection scorer), sparse_model/{hook}/ (when SRC has an SAE) and
    saescope_scores.jsonl. neuronpedia: batch-N.json + explanations.jsonl. saescope: any SAE
    saescope reads (e.g. an SAELens folder) as a saescope/sparsify folder. The manifest's
    `result` is what the format's writer reported. `progress` is unused (exports are quick).
    """
    from saescope.io import open_output, write_json
    from saescope.run_layout import manifest_path, stage_manifest

    if cfg.format not in COMPLETE or not cfg.src or not cfg.out:
        raise ConfigError("run_export needs cfg.src, cfg.format (saelens, delphi, neuronpedia "
                          "or saescope) and cfg.out")
    src, out = Path(cfg.src), Path(cfg.out)
    if cfg.format == "delphi":
        from saescope.interop.delphi import check_module_name

        check_module_name(cfg.hook)  # a file and folder name under OUT: never a path out of it
    # SRC's SAE or interpret folder, found before the output folder is touched (neuronpedia
    # reads the whole run itself)
    found = src if cfg.format == "neuronpedia" else \
        _stage(src, "sae" if cfg.format in ("saelens", "saescope") else "interpret")
    # The one output-folder policy; an interrupted export of the same SRC and format is redone.
    with open_output(out, cfg.overwrite, fingerprint={"src": str(src), "format": cfg.format},
                     complete=COMPLETE[cfg.format], what=f"{cfg.format} export",
                     inputs=[src, found, cfg.sae, cfg.data]) as job:
        result = _write(cfg, src, found, job.work)  # beside the old output under --overwrite
    result["out"] = str(out)
    if "sparse_model" in result:
        result["sparse_model"] = str(out / "sparse_model")
    man = stage_manifest("export", cfg, inputs={"src": cfg.src}, outputs=[cfg.out], result=result)
    write_json(manifest_path(out), man)
    return man


def _is_token_store(path: Path) -> bool:
    """Whether `path` (a Parquet file or folder) is a per-token store (`activations --per-token`)."""
    import pyarrow.parquet as pq

    from saescope.data.vectors import parquet_files

    if path.suffix.lower() not in (".parquet", "") or not path.exists():
        return False
    names = set(pq.read_schema(parquet_files(path)[0]).names)
    return {"doc_id", "token_id", "position"} <= names


def _write(cfg: ExportConfig, src: Path, found: Path, out: Path) -> dict[str, Any]:
    """The format's files in `out` (the work folder of the `open_output` job); what the writer
    reports."""
    if cfg.format in ("saelens", "saescope"):
        from saescope.interop.saelens import export_saelens
        from saescope.sae.model import SparseAutoencoder

        model = SparseAutoencoder.load(found)
        if cfg.format == "saelens":
            export_saelens(model, out, metadata={"model_name": cfg.model_id, "hook_name": cfg.hook})
        else:
            model.save(out)
        return {"format": cfg.format, "arch": model.cfg.arch, "out": str(out)}
    if cfg.format == "delphi":
        from saescope.interop.delphi import export_delphi, sparse_model_folder
        from saescope.run_layout import RunLayout

        # overwrite=True: `out` is the job's work folder, written in place (`io.atomic_dir`).
        result = export_delphi(found, out, module=cfg.hook, overwrite=True)
        sae_dir = RunLayout.detect(src).sae
        if sae_dir is not None:
            result["sparse_model"] = str(sparse_model_folder(sae_dir, out / "sparse_model", cfg.hook).parent)
        data = Path(cfg.data) if cfg.data else RunLayout.detect(src).data
        sae_for_cache = Path(cfg.sae) if cfg.sae else sae_dir
        if data is not None and sae_for_cache is not None and _is_token_store(data):
            from saescope.interop.delphi import write_latent_cache

            result["latent_cache"] = write_latent_cache(data, sae_for_cache, out / "latents",
                                                        cfg.hook, model_name=cfg.model_id)
        return result
    from saescope.interop.neuronpedia import NeuronpediaConfig, export_neuronpedia

    npc = NeuronpediaConfig(model_id=cfg.model_id, layer=cfg.layer, sae_set=cfg.sae_set,
                            dataset=cfg.data or "")
    return export_neuronpedia(src, out, npc, sae_dir=cfg.sae and Path(cfg.sae),
                              data=cfg.data and Path(cfg.data), overwrite=True)
