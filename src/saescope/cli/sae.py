"""`saescope train` and `saescope encode` (thin layer over saescope.sae)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from saescope.errors import ConfigError, InputError


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
        if len(table.X) == 0:
            raise InputError(f"{input}: every row contains NaN or Inf")
    return table, dropped


def train(
    input: Path = typer.Argument(..., help="Vectors: .npy, .safetensors, or Parquet file/folder."),
    out: Path = typer.Option(..., "--out", help="Output folder (cfg.json, sae.safetensors, ...)."),
    arch: str | None = typer.Option(None, "--arch", help="topk | batchtopk | relu | reward."),
    k: int | None = typer.Option(None, "--k", help="Active latents per sample (default 32)."),
    expansion: int | None = typer.Option(None, "--expansion",
                                         help="Latents = expansion * d_in (default 32)."),
    latents: int | None = typer.Option(None, "--latents", help="Number of latents M."),
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the data (default 10)."),
    steps: int | None = typer.Option(None, "--steps", help="Optimiser steps (overrides epochs)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Batch size (default 1024)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default 2e-4/sqrt(M/2^14))."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default 0)."),
    device: str | None = typer.Option(None, "--device", help="auto | cpu | cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue from DIR's last checkpoint."),
    config: Path | None = typer.Option(None, "--config",
                                       help="YAML/JSON TrainConfig (see docs); flags override it."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    drop_nonfinite: bool = typer.Option(False, "--drop-nonfinite",
                                        help="Drop rows with NaN/Inf instead of failing."),
    column: str | None = typer.Option(None, "--column",
                                      help="Parquet vector column (default: embedding or emb)."),
    val_fraction: float | None = typer.Option(None, "--val-fraction",
                                              help="Held-out fraction for metrics (default 0.1)."),
    tensorboard: Path | None = typer.Option(None, "--tensorboard",
                                            help="Write TensorBoard logs to this folder."),
    wandb: str | None = typer.Option(None, "--wandb", help="Log to this Weights & Biases project."),
    fast_topk: str | None = typer.Option(
        None, "--fast-topk", help="Sparse TopK kernels: auto (on CUDA) | on | off."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a sparse autoencoder on a matrix of vectors.

    Data-parallel: `torchrun --nproc_per_node N -m saescope.cli.main train ...` (the global
    batch is --batch-size, split over the processes; see saescope.sae.train).
    """
    from saescope.io import check_output_dir
    from saescope.sae.config import TrainConfig
    from saescope.sae.train import train_sae

    if expansion is not None and latents is not None:
        raise ConfigError("give --expansion or --latents, not both")
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
    if expansion is not None:
        sae["expansion_factor"], sae["num_latents"] = expansion, 0
    if latents is not None:
        sae["num_latents"] = latents
    if steps is not None:
        d["steps"] = steps
    if epochs is not None:
        d["epochs"], d["steps"] = epochs, None
    for key, value in (("batch_size", batch_size), ("lr", lr), ("seed", seed),
                       ("device", device), ("val_fraction", val_fraction),
                       ("wandb_project", wandb), ("fast_topk", fast_topk)):
        if value is not None:
            d[key] = value
    if tensorboard is not None:
        d["tensorboard"] = str(tensorboard)
    cfg = TrainConfig.from_dict(d)
    if not resume and int(os.environ.get("RANK", "0")) == 0:  # torchrun: rank 0 owns DIR
        check_output_dir(out, overwrite)
    table, dropped = _read(input, column, drop_nonfinite)
    if dropped:
        typer.echo(f"dropped {dropped} rows with NaN/Inf from {input}", err=True)
    result = train_sae(table.X, cfg, out_dir=out, resume=resume, overwrite=overwrite,
                       progress=not quiet)
    m = result.metrics
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: one summary line, from rank 0
        return
    typer.echo(
        f"{m['split']} fvu={m['fvu']:.4f} l0={m['l0']:.2f} dead={m['dead_fraction']:.3f} "
        f"steps={m['steps']} samples={m['samples']} seconds={m['seconds']:.1f} -> {out}"
    )


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
    from saescope.sae.encode import write_codes_parquet
    from saescope.sae.model import SparseAutoencoder
    from saescope.sae.train import resolve_device

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
