"""`run_train(cfg)` and `run_encode(cfg)`: the SAE stages, as `saescope train` / `encode` run them.

Each returns its manifest: train's is `OUT/manifest.json` (with the validation metrics), encode's
is written beside its output as `<out>.manifest.json`. `train_sae` and `write_codes_parquet` are
the same work on arrays in memory.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from saescope.errors import ConfigError, InputError
from saescope.io import check_replaceable
from saescope.sae.config import EncodeConfig, TrainRunConfig
from saescope.sae.train import finished_manifest, train_sae


def run_train(cfg: TrainRunConfig, progress: bool = True) -> dict[str, Any]:
    """Train `cfg.train` on the vectors of `cfg.input` into the folder `cfg.out`.

    A `split` column in Parquet input (written by `saescope embed --val-fraction`) decides the
    validation rows; otherwise `cfg.train.val_fraction` of the rows are held out at random.
    Dropped non-finite rows and other notes are `UserWarning`s. Data-parallel under torchrun
    as `train_sae` (rank 0 owns the folder). Besides `train_sae`'s files, `cfg.out` gets a
    `manifest.json` like the other stages' (written before cfg.json, the completion mark);
    it is returned, with the validation metrics under `metrics` (`train_sae` returns the SAE).
    """
    from saescope.data.splits import rows_of_table_split
    from saescope.data.vectors import read_finite_vectors

    if not cfg.input or not cfg.out:
        raise ConfigError("run_train needs cfg.input and cfg.out")
    if cfg.overwrite:  # before reading anything: never replace a folder holding the input
        check_replaceable(cfg.out, [cfg.input])
    table, dropped = read_finite_vectors(cfg.input, cfg.column, cfg.drop_nonfinite)
    if dropped:
        warnings.warn(f"dropped {dropped} rows with NaN/Inf from {cfg.input}", UserWarning,
                      stacklevel=2)
    X, val = rows_of_table_split(table, str(cfg.input))
    man = train_manifest(cfg, len(X) + (0 if val is None else len(val)), dropped,
                         by_split_column=val is not None)
    result = train_sae(X, cfg.train, val_data=val, out_dir=cfg.out, resume=cfg.resume,
                       overwrite=cfg.overwrite, progress=progress, manifest=man)
    return finished_manifest(man, Path(cfg.out), result.metrics)


def train_manifest(cfg: TrainRunConfig, n_rows: int, dropped: int, by_split_column: bool) -> dict[str, Any]:
    """manifest.json of a training folder (`train_sae` adds `steps`, `samples` and `files`)."""
    from saescope import __version__

    # resume and overwrite say how the folder was handled, not what was trained: a resumed run
    # (exact resume) writes the same manifest as an uninterrupted one.
    config = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
              if f.name not in ("train", "resume", "overwrite")}
    return {
        "saescope_version": __version__,
        "stage": "train",
        "inputs": {"input": cfg.input, "column": cfg.column, "out": cfg.out},
        "config": config | {"train": cfg.train.to_dict()},
        "rows": {"used": n_rows, "dropped_nonfinite": dropped},
        "validation": "split column" if by_split_column else "val_fraction",
    }


def run_encode(cfg: EncodeConfig, progress: bool = True) -> dict[str, Any]:
    """Write the sparse codes of the vectors `cfg.input` under the SAE `cfg.sae` to `cfg.out`.

    A Parquet file of `id`, `sae_idx` list<int32>, `sae_val` list<float32> (never densified);
    with `cfg.execution.executor == "ray"`, a folder of parts, one per input file, resumable
    (`saescope.ray_exec.encode_files`). Returns the manifest (`rows`, `dropped_nonfinite`).
    One writer per `cfg.out` (`io.hold_output_files`).
    """
    from saescope.io import hold_output_files

    if not cfg.sae or not cfg.input or not cfg.out:
        raise ConfigError("run_encode needs cfg.sae, cfg.input and cfg.out")

    with hold_output_files(cfg.out):  # one writer per output file (or folder of parts)
        return _encode(cfg, progress)


def _encode(cfg: EncodeConfig, progress: bool) -> dict[str, Any]:
    from saescope.io import write_json
    from saescope.run_layout import manifest_path, stage_manifest

    inputs = {"sae": cfg.sae, "input": cfg.input}
    if cfg.execution.executor == "ray":
        from saescope.ray_exec import encode_files

        stats = encode_files(cfg.sae, cfg.input, cfg.out, column=cfg.column,
                             ray=cfg.execution.ray_config(batch_size=cfg.batch_size),
                             overwrite=cfg.overwrite, progress=progress,
                             drop_nonfinite=cfg.drop_nonfinite)
        man = stage_manifest("encode", cfg, inputs=inputs, rows=stats.get("rows"), outputs=[cfg.out],
                             ray=stats)
        write_json(manifest_path(cfg.out), man)
        return man
    from saescope.data.vectors import read_finite_vectors
    from saescope.device import resolve_device
    from saescope.sae.encode import write_codes_parquet
    from saescope.sae.model import SparseAutoencoder

    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise InputError(f"output {out} already exists (use --overwrite to replace it)")
    if out.is_dir():
        raise InputError(f"output {out} is a folder; give a .parquet file name")
    sae = SparseAutoencoder.load(cfg.sae, device=resolve_device(cfg.device))
    table, dropped = read_finite_vectors(cfg.input, cfg.column, cfg.drop_nonfinite)
    if table.X.shape[1] != sae.d_in:
        raise InputError(
            f"{cfg.input}: vectors have {table.X.shape[1]} dimensions, the SAE in {cfg.sae} "
            f"expects {sae.d_in} (d_in)"
        )
    if cfg.pool_tokens is not None:
        docs = _encode_pooled(cfg, sae, table, progress)
        man = stage_manifest("encode", cfg, inputs=inputs, rows=docs, token_rows=len(table.X),
                             dropped_nonfinite=dropped, num_latents=sae.num_latents,
                             outputs=[cfg.out])
        write_json(manifest_path(out), man)
        return man
    man = stage_manifest("encode", cfg, inputs=inputs, rows=len(table.X),
                         dropped_nonfinite=dropped, num_latents=sae.num_latents, outputs=[cfg.out])
    write_json(manifest_path(out), man)
    write_codes_parquet(sae, table.X, out, ids=table.ids, batch_size=cfg.batch_size,
                        progress=progress, source=str(cfg.input))
    return man


def _encode_pooled(cfg: EncodeConfig, sae: Any, table: Any, progress: bool) -> int:
    """Codes of a per-token store pooled per document (`saescope.sae.encode.pool_token_codes`);
    returns the number of documents written."""
    from saescope.sae.encode import (
        TokenPooling,
        encode_csr,
        pool_token_codes,
        pooled_codes_metadata,
        write_pooled_codes_parquet,
    )

    meta = table.meta
    if meta is None or "doc_id" not in meta.column_names:
        raise InputError(f"{cfg.input}: --pool-tokens needs a per-token store with a `doc_id` "
                         "column (saescope activations --per-token)")
    codes = encode_csr(sae, table.X, batch_size=cfg.batch_size, progress=progress)
    pooling = TokenPooling(how=str(cfg.pool_tokens), top_k=cfg.pool_top_k)
    pooled = pool_token_codes(codes, meta["doc_id"].to_numpy(zero_copy_only=False), pooling)
    cols = meta.column_names

    def column(name: str) -> Any:
        return meta[name].to_numpy(zero_copy_only=False) if name in cols else None

    token_level = {"id", "doc_id", "position", "token", "token_id", cfg.column or "embedding"}
    doc_cols = meta.select([c for c in cols if c not in token_level])
    return write_pooled_codes_parquet(pooled, cfg.out, tokens=column("token"),
                                      positions=column("position"), dense=cfg.dense,
                                      doc_columns=doc_cols if doc_cols.num_columns else None,
                                      origin=pooled_codes_metadata(cfg.sae, sae.num_latents, pooling))
