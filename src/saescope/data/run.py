"""`run_embed(cfg)` and `run_activations(cfg)`: the data stages (a corpus -> vectors on disk).

Each returns its manifest, also written beside the output as `<out>.manifest.json` (before the
output is published, so a finished output always has one). `embed_table` / `extract_table` are
the same work on a table already in memory.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa

from saescope.data.config import ActivationsConfig, CorpusConfig, EmbedConfig
from saescope.errors import ConfigError, InputError
from saescope.io import hold_output_files, write_json
from saescope.run_layout import manifest_path, stage_manifest


def load_corpus(input: str, corpus: CorpusConfig) -> pa.Table:
    """A corpus file/folder or a built-in name -> table (id, text, metadata[, split]).

    Notes on the rows read (malformed rows skipped, empty texts dropped) are `UserWarning`s.
    """
    from saescope.data.builtin import DATASETS, load_builtin
    from saescope.data.corpus import read_corpus_with_report
    from saescope.data.splits import split_column

    c = corpus
    path = Path(input)
    if path.exists():
        table, report = read_corpus_with_report(
            path, text_field=c.text_field, id_field=c.id_field or None, on_error=c.on_error,
            empty=c.empty, limit=c.limit,
        )
        for msg in report.messages():
            warnings.warn(msg, UserWarning, stacklevel=2)
    elif input in DATASETS:
        table = load_builtin(input)
        if c.limit is not None:
            table = table.slice(0, c.limit)
    else:
        raise InputError(
            f"{input}: file not found (and not a built-in data set: {', '.join(DATASETS)})"
        )
    if table.num_rows == 0:
        raise InputError(f"{input}: no rows with text")
    if c.val_fraction > 0:
        if "split" in table.column_names:
            raise InputError(f"{input}: already has a `split` column; drop --val-fraction")
        table = table.append_column("split", split_column(table, c.val_fraction, c.seed, c.group_field))
    return table


def _check_io(cfg: EmbedConfig | ActivationsConfig, stage: str) -> None:
    if not cfg.input or not cfg.out:
        raise ConfigError(f"run_{stage} needs cfg.input and cfg.out")


def run_embed(cfg: EmbedConfig, progress: bool = True) -> dict[str, Any]:
    """Embed the corpus `cfg.input` into `cfg.out` (a .parquet file, or a folder of shards).

    Resumable shard by shard (rerun the same config after an interruption). With
    `cfg.execution.executor == "ray"`, Ray Data embeds the input files, one output part per
    file (`saescope.ray_exec.embed_files`). One writer per `cfg.out` (`io.hold_output_files`).
    Returns the manifest (`rows`, `dim`, `outputs`).
    """
    _check_io(cfg, "embed")
    with hold_output_files(cfg.out):
        if cfg.execution.executor == "ray":
            return _embed_ray(cfg, progress)
        return _embed_local(cfg, progress)


def _embed_local(cfg: EmbedConfig, progress: bool) -> dict[str, Any]:
    from saescope.data.embed import Embedder, embed_table

    table = load_corpus(cfg.input, cfg.corpus)
    embedder = Embedder(model=cfg.model, device=cfg.device, batch_size=cfg.batch_size,
                        normalize=cfg.normalize)
    man = stage_manifest("embed", cfg, inputs={"input": cfg.input}, rows=table.num_rows,
                         dim=embedder.dim, outputs=[cfg.out])
    _check_absent(Path(cfg.out), cfg.overwrite)
    write_json(manifest_path(cfg.out), man)
    embed_table(table, cfg.out, embedder=embedder, shard_size=cfg.shard_size, overwrite=cfg.overwrite, progress=progress)
    return man


def _embed_ray(cfg: EmbedConfig, progress: bool) -> dict[str, Any]:
    from saescope.ray_exec import embed_files

    c = cfg.corpus
    if c.limit is not None or c.val_fraction > 0 or c.id_field == "" or c.on_error != "raise":
        raise ConfigError("--executor ray takes files with an id field; --limit, "
                          "--val-fraction and --on-error skip are local-only")
    stats = embed_files(cfg.input, cfg.out, model=cfg.model, batch_size=cfg.batch_size,
                        normalize=cfg.normalize, text_field=c.text_field, id_field=c.id_field,
                        empty=c.empty, device=cfg.device, ray=cfg.execution.ray_config(),
                        overwrite=cfg.overwrite, progress=progress)
    man = stage_manifest("embed", cfg, inputs={"input": cfg.input}, rows=stats["rows"],
                         outputs=[cfg.out], ray=stats)
    write_json(manifest_path(cfg.out), man)
    return man


def _check_absent(out: Path, overwrite: bool) -> None:
    """Refuse a finished output before the manifest beside it is rewritten (as `ShardedWriter`)."""
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"output {out} already exists (use --overwrite to replace it)")


def run_activations(cfg: ActivationsConfig, progress: bool = True) -> dict[str, Any]:
    """LLM hidden states after the blocks `cfg.layers` of the corpus `cfg.input`, into `cfg.out`.

    One output per layer (`-layerL` added for several, `layer_output_paths`); pooled per
    document in the `embed` layout, or one row per token (`cfg.per_token`). Resumable by
    shard. One writer per output (`io.hold_output_files`, on `cfg.out` and each layer's output).
    Returns the manifest (`rows`, `hidden_size`, `layers`, `outputs`).
    """
    from saescope.data.activations import layer_output_paths

    _check_io(cfg, "activations")
    # Default layers are known once the model is read: cfg.out's lock (the manifest's) covers them.
    outs = layer_output_paths(cfg.out, list(cfg.layers)).values() if cfg.layers else ()
    with hold_output_files(cfg.out, *outs):
        return _activations(cfg, progress)


def _activations(cfg: ActivationsConfig, progress: bool) -> dict[str, Any]:
    from saescope.data.activations import ActivationExtractor, extract_table, layer_output_paths

    table = load_corpus(cfg.input, cfg.corpus)
    extractor = ActivationExtractor(
        model=cfg.model, layers=list(cfg.layers) or None, pooling=cfg.pooling, top_k=cfg.top_k,
        max_tokens=cfg.max_tokens, batch_size=cfg.batch_size, device=cfg.device,
        skip_first=not cfg.keep_first_token, dtype=cfg.dtype,
    )
    outs = layer_output_paths(cfg.out, extractor.layers)
    man = stage_manifest("activations", cfg, inputs={"input": cfg.input}, rows=table.num_rows,
                         hidden_size=extractor.hidden_size, layers=extractor.layers,
                         outputs={str(k): str(v) for k, v in outs.items()})
    for path in outs.values():
        _check_absent(path, cfg.overwrite)
    write_json(manifest_path(cfg.out), man)
    extract_table(table, cfg.out, extractor, per_token=cfg.per_token, shard_size=cfg.shard_size, overwrite=cfg.overwrite,
                  progress=progress)
    return man
