"""`saescope train` and `saescope encode` (thin layer over saescope.sae)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from saescope.errors import ConfigError, InputError
from saescope.sae.config import TrainConfig

_D = TrainConfig()  # defaults are defined once, in TrainConfig / SAEConfig


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("encode")(encode)


def _read(input: Path, column: str | None, drop_nonfinite: bool):
    """Vectors of INPUT with non-finite rows refused (or dropped), and how many were dropped."""
    from saescope.data.vectors import check_finite, read_vectors

    table = read_vectors(input, column=column)
    if table.X.size == 0 or len(table.X) == 0:
        raise InputError(f"{input}: no vectors (empty input)")
    keep = check_finite(table.X, str(input), drop=drop_nonfinite)
    dropped = int((~keep).sum())
    if dropped:
        table.X, table.ids = table.X[keep], table.ids[keep]
        if table.meta is not None:
            import pyarrow as pa

            table.meta = table.meta.filter(pa.array(keep))
        if len(table.X) == 0:
            raise InputError(f"{input}: every row contains NaN or Inf")
    return table, dropped


def train(
    input: Path = typer.Argument(..., help="Vectors: .npy, .safetensors, or Parquet file/folder."),
    out: Path = typer.Option(..., "--out", help="Output folder (cfg.json, sae.safetensors, ...)."),
    arch: str | None = typer.Option(None, "--arch",
                                    help="topk | batchtopk | matryoshka | jumprelu | relu | reward."),
    k: int | None = typer.Option(None, "--k", help=f"Active latents per sample (default {_D.sae.k})."),
    expansion_factor: int | None = typer.Option(
        None, "--expansion-factor",
        help="Latents = expansion factor * d_in (default: 4 under 10k training rows, 8 under "
             "100k, else 16)."),
    expansion: int | None = typer.Option(None, "--expansion", hidden=True,
                                         help="Deprecated name of --expansion-factor."),
    latents: int | None = typer.Option(None, "--latents", help="Number of latents M."),
    epochs: int | None = typer.Option(
        None, "--epochs", help="Fixed passes over the data (default: until the validation FVU "
                               "stops improving)."),
    steps: int | None = typer.Option(None, "--steps", help="Fixed optimiser steps (overrides epochs)."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Batch size (default: about rows/100, 64 to 1024)."),
    max_samples: int | None = typer.Option(
        None, "--max-samples", help=f"Early-stopping budget in samples (default {_D.max_samples:,})."),
    patience: int | None = typer.Option(
        None, "--patience", help=f"Validation passes without improvement before stopping (default {_D.patience})."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default 1.2e-3/sqrt(M/2^14))."),
    seed: int | None = typer.Option(None, "--seed", help=f"Random seed (default {_D.seed})."),
    device: str | None = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N."),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU torch threads for training (default 1; 0: torch's own)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from DIR's last checkpoint."),
    config: Path | None = typer.Option(None, "--config",
                                       help="YAML/JSON TrainConfig (see docs); flags override it."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    drop_nonfinite: bool = typer.Option(False, "--drop-nonfinite",
                                        help="Drop rows with NaN/Inf instead of failing."),
    column: str | None = typer.Option(None, "--column",
                                      help="Parquet vector column (default: embedding or emb)."),
    val_fraction: float | None = typer.Option(
        None, "--val-fraction",
        help=f"Held-out fraction when the data has no `split` column (default {_D.val_fraction})."),
    tensorboard: Path | None = typer.Option(None, "--tensorboard",
                                            help="Write TensorBoard logs to this folder."),
    wandb: str | None = typer.Option(None, "--wandb", help="Log to this Weights & Biases project."),
    fast_topk: str | None = typer.Option(
        None, "--fast-topk", help="Sparse TopK kernels: auto (= on) | on | off."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a sparse autoencoder on a matrix of vectors.

    Without --epochs/--steps it trains until the validation FVU stops improving and keeps the
    best weights. A `split` column in Parquet input (written by `saescope embed
    --val-fraction/--group-field`) decides the validation rows; otherwise --val-fraction of
    the rows are held out at random.

    Data-parallel: `torchrun --nproc_per_node N -m saescope.cli.main train ...` (the global
    batch is --batch-size, split over the processes; see saescope.sae.train).
    """
    import warnings

    from saescope.io import check_output_dir
    from saescope.sae.train import train_sae

    if expansion is not None:
        typer.echo("--expansion is deprecated: use --expansion-factor", err=True)
        expansion_factor = expansion if expansion_factor is None else expansion_factor
    cfg = _train_config(config, arch, k, expansion_factor, latents, epochs, steps, {
        "batch_size": batch_size, "lr": lr, "seed": seed, "device": device,
        "val_fraction": val_fraction, "wandb_project": wandb, "fast_topk": fast_topk,
        "max_samples": max_samples, "patience": patience, "threads": threads,
        "tensorboard": str(tensorboard) if tensorboard is not None else None})
    main_rank = int(os.environ.get("RANK", "0")) == 0  # torchrun: rank 0 owns DIR and prints
    if not resume and main_rank:
        check_output_dir(out, overwrite)
    table, dropped = _read(input, column, drop_nonfinite)
    if dropped:
        typer.echo(f"dropped {dropped} rows with NaN/Inf from {input}", err=True)
    X, val = _split_rows(table, input)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = train_sae(X, cfg, val_data=val, out_dir=out, resume=resume,
                           overwrite=overwrite, progress=not quiet)
    for w in caught:
        if main_rank:
            typer.echo(f"warning: {w.message}", err=True)
    m = result.metrics
    if not main_rank:
        return
    typer.echo(
        f"{m['split']} fvu={m['fvu']:.4f} l0={m['l0']:.2f} dead={m['dead_fraction']:.3f} "
        f"steps={m['steps']} samples={m['samples']} stop={m['stop_reason']} "
        f"seconds={m['seconds']:.1f} -> {out}"
    )


def _train_config(config: Path | None, arch: str | None, k: int | None,
                  expansion_factor: int | None, latents: int | None, epochs: int | None,
                  steps: int | None, fields: dict):
    """The TrainConfig of `saescope train`: the --config file, then the flags over it."""
    if expansion_factor is not None and latents is not None:
        raise ConfigError("give --expansion-factor or --latents, not both")
    if epochs is not None and steps is not None:
        raise ConfigError("give --epochs or --steps, not both")
    cfg = TrainConfig.load(config) if config is not None else TrainConfig()
    d = cfg.to_dict()
    if arch is not None and arch != cfg.sae.arch:
        # Options of another architecture (and its decoder-norm default) do not carry over.
        keep = ("k", "expansion_factor", "num_latents", "init_b_dec")
        d["sae"] = {key: d["sae"][key] for key in keep}
    sae = d["sae"]
    for key, value in (("arch", arch), ("k", k)):
        if value is not None:
            sae[key] = value
    if expansion_factor is not None:
        sae["expansion_factor"], sae["num_latents"] = expansion_factor, 0
    if latents is not None:
        sae["num_latents"] = latents
    if steps is not None:
        d["steps"] = steps
    if epochs is not None:
        d["epochs"], d["steps"] = epochs, None
    d.update({key: value for key, value in fields.items() if value is not None})
    return TrainConfig.from_dict(d)


def _split_rows(table, input: Path):
    """(X_train, X_val or None): the rows the data's own `split` column assigns, if it has one."""
    from saescope.data.splits import rows_of_split_column

    if table.meta is None or "split" not in table.meta.column_names:
        return table.X, None
    train_idx, val_idx = rows_of_split_column(table.meta["split"], str(input))
    if len(val_idx) == 0:
        typer.echo(f"{input}: the split column marks no row 'val'; holding out rows at random",
                   err=True)
        return table.X[train_idx], None
    if len(train_idx) == 0:
        raise InputError(f"{input}: the split column marks every row 'val'")
    return table.X[train_idx], table.X[val_idx]


def encode(
    sae_dir: Path = typer.Argument(..., help="SAE folder (cfg.json + sae.safetensors)."),
    input: Path = typer.Argument(..., help="Vectors: .npy, .safetensors, or Parquet file/folder."),
    out: Path = typer.Option(..., "--out", help="Output Parquet: id, sae_idx, sae_val per row."),
    batch_size: int = typer.Option(4096, "--batch-size", help="Rows per batch."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    column: str | None = typer.Option(None, "--column", help="Parquet vector column."),
    drop_nonfinite: bool = typer.Option(False, "--drop-nonfinite",
                                        help="Skip rows with NaN/Inf instead of failing."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    executor: str = typer.Option("local", "--executor",
                                 help="local | ray (Ray Data: --out is a folder, one part per input file)."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="ray.init(address=...), e.g. auto."),
    actors: int | None = typer.Option(None, "--actors", help="Ray: SAE copies (default: per GPU or 2 CPUs)."),
    gpus_per_actor: float = typer.Option(0.0, "--gpus-per-actor", help="Ray: GPUs per actor (1 = CUDA)."),
) -> None:
    """Write the sparse codes of INPUT under the SAE to a Parquet file (never densified)."""
    if executor == "ray":  # saescope.ray_exec: one output part per input file, resumable
        from saescope.ray_exec import RayConfig, encode_files

        cfg = RayConfig(address=ray_address, actors=actors, gpus_per_actor=gpus_per_actor,
                        batch_size=batch_size)
        stats = encode_files(sae_dir, input, out, column=column, ray=cfg, overwrite=overwrite,
                             progress=not quiet, drop_nonfinite=drop_nonfinite)
        typer.echo(json.dumps({**stats, "out": str(out)}))
        return
    if executor != "local":
        raise ConfigError(f"--executor must be local or ray, got {executor!r}")
    from saescope.device import resolve_device
    from saescope.sae.encode import write_codes_parquet
    from saescope.sae.model import SparseAutoencoder

    if out.exists() and not overwrite:
        raise InputError(f"output {out} already exists (use --overwrite to replace it)")
    if out.is_dir():
        raise InputError(f"output {out} is a folder; give a .parquet file name")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    sae = SparseAutoencoder.load(sae_dir, device=resolve_device(device))
    table, dropped = _read(input, column, drop_nonfinite)
    if table.X.shape[1] != sae.d_in:
        raise InputError(
            f"{input}: vectors have {table.X.shape[1]} dimensions, the SAE in {sae_dir} "
            f"expects {sae.d_in} (d_in)"
        )
    n = write_codes_parquet(sae, table.X, out, ids=table.ids, batch_size=batch_size,
                            progress=not quiet, source=str(input))
    summary = {"rows": n, "dropped_nonfinite": dropped, "out": str(out)}
    typer.echo(json.dumps(summary))
