"""`saescope train` and `saescope encode` (thin layer over saescope.sae)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from saescope.cli.options import Opt, build, command, ray_options, values
from saescope.errors import ConfigError
from saescope.sae.config import EncodeConfig, TrainConfig, TrainRunConfig

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
    Opt("--input-standardize", "train.input_standardize", default=None,
        help="Standardise each input dimension (LLM activations with massive dimensions); "
             "folded into the saved weights, FVU on standardised inputs."),
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

    def show(message: Any, *_: Any, **__: Any) -> None:  # notes (dropped rows, a short run)
        if main_rank:
            typer.echo(f"warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show
        man = run_train(cfg, progress=not opts["quiet"])
    m = man["metrics"]
    if not main_rank:
        return
    typer.echo(
        f"{m['split']} fvu={m['fvu']:.4f} train fvu={m['train_fvu']:.4f} l0={m['l0']:.2f} "
        f"dead={m['dead_fraction']:.3f} "
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
    if opts["latents"] is not None and opts["latents"] < 1:  # 0 in cfg.json means "not set"
        raise ConfigError(f"--latents must be >= 1, got {opts['latents']} (leave it out for "
                          "--expansion-factor x the input dimension)")
    if opts["epochs"] is not None and opts["steps"] is not None:
        raise ConfigError("give --epochs or --steps, not both")
    given = values(opts, TRAIN_OPTIONS)
    base = TrainConfig.load(opts["config"]) if opts["config"] is not None else TrainConfig()
    train = base.override({key.removeprefix("train."): value for key, value in given.items()
                           if key.startswith("train.")})
    return TrainRunConfig(train=train, **{key: value for key, value in given.items()
                                          if not key.startswith("train.")})


ENCODE_OPTIONS = (
    Opt("sae_dir", "sae", argument=True, default=..., type=Path),
    Opt("input", "input", argument=True, default=..., type=Path),
    Opt("--out", "out", default=..., type=Path),
    Opt("--batch-size", "batch_size"),
    Opt("--device", "device"),
    Opt("--column", "column"),
    Opt("--drop-nonfinite", "drop_nonfinite"),
    Opt("--overwrite", "overwrite"),
    Opt("--quiet", None, type=bool, default=False, help="No progress bar."),
    Opt("--pool-tokens", "pool_tokens"),
    Opt("--pool-top-k", "pool_top_k"),
    Opt("--dense", "dense"),
    *ray_options("local | ray (Ray Data: --out is a folder, one part per input file).",
                 "Ray: SAE copies (default: per GPU or 2 CPUs)."),
)


@command(EncodeConfig, ENCODE_OPTIONS)
def encode(**opts: Any) -> None:
    """Write the sparse codes of INPUT under the SAE to a Parquet file (never densified)."""
    from saescope.sae.run import run_encode

    cfg = build(EncodeConfig, values(opts, ENCODE_OPTIONS))
    man = run_encode(cfg, progress=not opts["quiet"])
    if "ray" in man:
        typer.echo(json.dumps({**man["ray"], "out": cfg.out}))
    else:
        typer.echo(json.dumps({"rows": man["rows"], "dropped_nonfinite": man["dropped_nonfinite"],
                               "out": cfg.out}))
