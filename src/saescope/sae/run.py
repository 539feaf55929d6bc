"""`run_train(cfg)`: the train stage (vectors on disk -> an SAE folder), as `saescope train` runs it."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from saescope.errors import ConfigError
from saescope.sae.config import TrainRunConfig
from saescope.sae.train import TrainResult, train_sae


def run_train(cfg: TrainRunConfig, progress: bool = True) -> TrainResult:
    """Train `cfg.train` on the vectors of `cfg.input` into the folder `cfg.out`.

    A `split` column in Parquet input (written by `saescope embed --val-fraction`) decides the
    validation rows; otherwise `cfg.train.val_fraction` of the rows are held out at random.
    Dropped non-finite rows and other notes are `UserWarning`s. Data-parallel under torchrun
    as `train_sae` (rank 0 owns the folder). Besides `train_sae`'s files, `cfg.out` gets a
    `manifest.json` like the other stages' (written before cfg.json, the completion mark).
    """
    from saescope.data.splits import rows_of_table_split
    from saescope.data.vectors import read_finite_vectors

    if not cfg.input or not cfg.out:
        raise ConfigError("run_train needs cfg.input and cfg.out")
    table, dropped = read_finite_vectors(cfg.input, cfg.column, cfg.drop_nonfinite)
    if dropped:
        warnings.warn(f"dropped {dropped} rows with NaN/Inf from {cfg.input}", UserWarning,
                      stacklevel=2)
    X, val = rows_of_table_split(table, str(cfg.input))
    return train_sae(X, cfg.train, val_data=val, out_dir=cfg.out, resume=cfg.resume,
                     overwrite=cfg.overwrite, progress=progress,
                     manifest=train_manifest(cfg, len(X) + (0 if val is None else len(val)), dropped,
                                             by_split_column=val is not None))


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
