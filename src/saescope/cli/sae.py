"""`saescope train` and `saescope encode` (thin layer over saescope.sae)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from saescope.cli.options import Opt, command, values
from saescope.errors import ConfigError, InputError
from saescope.sae.config import TrainConfig, TrainRunConfig

TRAIN_OPTIONS = (
    Opt("input", "input", argument=True, default=..., type=Path),
    Opt("--out", "out", default=..., type=Path),
    Opt("--arch", "train.sae.arch", default=None,
        help="topk | batchtopk | matryoshka | jumprelu | relu | reward."),
    Opt("--k", "train.sae.k", default=None, help="Active latents per sample (default {default})."),
    Opt("--expansion-factor", "train.sae.expansion_factor", default=None,
        help="Latents = expansion factor * d_in (default: 4 under 10k training rows, 8 under "
             "100k, else 16)."),
    Opt("--expansion", None, type=int | None, hidden=True,
        help="Deprecated name of --expansion-factor."),
    Opt("--latents", "train.sae.num_latents", default=None, help="Number of latents M."),
    Opt("--epochs", "train.epochs",
        help="Fixed passes over the data (default: until the validation FVU stops improving)."),
    Opt("--steps", "train.steps", help="Fixed optimiser steps (overrides epochs)."),
    Opt("--batch-size", "train.batch_size", help="Batch size (default: about rows/100, 64 to 1024)."),
    Opt("--max-samples", "train.max_samples", default=None,
        help="Early-stopping budget in samples (default {default:,})."),
    Opt("--patience", "train.patience", default=None,
        help="Validation passes without improvement before stopping (default {default})."),
    Opt("--lr", "train.lr", help="Learning rate (default 1.2e-3/sqrt(M/2^14))."),
    Opt("--seed", "train.seed", default=None, help="Random seed (default {default})."),
    Opt("--device", "train.device", default=None, help="auto | cpu | cuda | cuda:N."),
    Opt("--threads", "train.threads", help="CPU torch threads for training (default 1; 0: torch's own)."),
    Opt("--resume", "resume"),
    Opt("--config", None, type=Path | None,
        help="YAML/JSON TrainConfig (see docs); flags override it."),
    Opt("--overwrite", "overwrite"),
    Opt("--drop-nonfinite", "drop_nonfinite"),
    Opt("--column", "column"),
    Opt("--val-fraction", "train.val_fraction", default=None,
        help="Held-out fraction when the data has no `split` column (default {default})."),
    Opt("--tensorboard", "train.tensorboard", type=Path | None,
        help="Write TensorBoard logs to this folder."),
    Opt("--wandb", "train.wandb_project", help="Log to this Weights & Biases project."),
    Opt("--fast-topk", "train.fast_topk", default=None,
        help="Sparse TopK kernels: auto (= on) | on | off."),
    Opt("--quiet", None, type=bool, default=False, help="No progress bar."),
)
"""`saescope train`'s options; defaults are TrainRunConfig's (None: keep the --config file's)."""


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("encode")(encode)


@command(TrainRunConfig, TRAIN_OPTIONS)
def train(**opts: Any) -> None:
    """Train a sparse autoencoder on a matrix of vectors.

    Without --epochs/--steps it trains until the validation FVU stops improving and keeps the
    best weights. A `split` column in Parquet input (written by `saescope embed
    --val-fraction/--group-field`) decides the validation rows; otherwise --val-fraction of
    the rows are held out at random.

    Data-parallel: `torchrun --nproc_per_node N -m saescope.cli.main train ...` (the global
    batch is --batch-size, split over the processes; see saescope.sae.train).
    """
    import warnings

    from saescope.sae.run import run_train

    cfg = train_run_config(opts)
    main_rank = int(os.environ.get("RANK", "0")) == 0  # torchrun: rank 0 owns DIR and prints
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            result = run_train(cfg, progress=not opts["quiet"])
        finally:
            for w in caught if main_rank else ():
                typer.echo(f"warning: {w.message}", err=True)
    m = result.metrics
    if not main_rank:
        return
    typer.echo(
        f"{m['split']} fvu={m['fvu']:.4f} l0={m['l0']:.2f} dead={m['dead_fraction']:.3f} "
        f"steps={m['steps']} samples={m['samples']} stop={m['stop_reason']} "
        f"seconds={m['seconds']:.1f} -> {cfg.out}"
    )


def train_run_config(opts: dict[str, Any]) -> TrainRunConfig:
    """The TrainRunConfig of `saescope train`'s options: the --config file, the flags over it."""
    if opts["expansion"] is not None:
        typer.echo("--expansion is deprecated: use --expansion-factor", err=True)
        if opts["expansion_factor"] is None:
            opts["expansion_factor"] = opts["expansion"]
    if opts["expansion_factor"] is not None and opts["latents"] is not None:
        raise ConfigError("give --expansion-factor or --latents, not both")
    if opts["epochs"] is not None and opts["steps"] is not None:
        raise ConfigError("give --epochs or --steps, not both")
    given = values(opts, TRAIN_OPTIONS)
    base = TrainConfig.load(opts["config"]) if opts["config"] is not None else TrainConfig()
    train = base.override({key.removeprefix("train."): value for key, value in given.items()
                           if key.startswith("train.")})
    return TrainRunConfig(train=train, **{key: value for key, value in given.items()
                                          if not key.startswith("train.")})


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
    from saescope.data.vectors import read_finite_vectors
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
    table, dropped = read_finite_vectors(input, column, drop_nonfinite)
    if table.X.shape[1] != sae.d_in:
        raise InputError(
            f"{input}: vectors have {table.X.shape[1]} dimensions, the SAE in {sae_dir} "
            f"expects {sae.d_in} (d_in)"
        )
    n = write_codes_parquet(sae, table.X, out, ids=table.ids, batch_size=batch_size,
                            progress=not quiet, source=str(input))
    summary = {"rows": n, "dropped_nonfinite": dropped, "out": str(out)}
    typer.echo(json.dumps(summary))
