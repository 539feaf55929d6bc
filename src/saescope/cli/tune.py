"""`saescope tune`: Bayesian hyperparameter search for an SAE (a thin layer over saescope.tune)."""

from __future__ import annotations

from pathlib import Path

import typer

from saescope.errors import ConfigError, InputError
from saescope.tune.config import TuneConfig

_D = TuneConfig()  # defaults are defined once, in TuneConfig


def _csv(values: tuple) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


def tune(
    input: Path = typer.Argument(..., help="Vectors: .npy, .safetensors, or Parquet file/folder."),
    trials: int = typer.Option(..., "--trials", help="Total finished trials wanted (resumed ones count)."),
    out: Path = typer.Option(Path("tune"), "--out", help="Output folder (reused when resuming)."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL, e.g. sqlite:///tune.db (default: SQLite OUT/study.db)."
    ),
    study_name: str = typer.Option(_D.study_name, "--study-name", help="Study name in the storage."),
    objective: str = typer.Option(
        _D.objective, "--objective", help="fvu-at-l0 (validation FVU at --target-l0) or pareto (FVU/L0 front)."
    ),
    target_l0: int = typer.Option(_D.target_l0, "--target-l0", help="Target active latents per input."),
    l0_penalty: float = typer.Option(
        _D.l0_penalty, "--l0-penalty", help="fvu-at-l0 score: FVU + this x relative L0 excess over the target."
    ),
    l0_tolerance: float = typer.Option(
        _D.l0_tolerance, "--l0-tolerance", help="Relative L0 overshoot still meeting the target."
    ),
    archs: str = typer.Option(_csv(_D.archs), "--archs", help="Comma-separated architectures."),
    expansions: str = typer.Option(_csv(_D.expansions), "--expansions", help="Comma-separated expansion factors."),
    lr_range: str = typer.Option(_csv(_D.lr_range), "--lr-range", help="Learning-rate range (log-uniform)."),
    penalty_range: list[str] = typer.Option(
        [], "--penalty-range",
        help="OPTION=LOW,HIGH: search range of a penalty architecture's sparsity option (e.g. "
             "l1_coef=0.001,10); default: the range the architecture declares. Repeatable."),
    l1_range: str | None = typer.Option(None, "--l1-range", hidden=True,
                                        help="Deprecated: --penalty-range l1_coef=LOW,HIGH."),
    reward_range: str | None = typer.Option(
        None, "--reward-range", hidden=True, help="Deprecated: --penalty-range reward_lambda=LOW,HIGH."),
    k_range: str | None = typer.Option(
        None, "--k-range", help="k range in pareto mode (default: target/4 to 4 x target)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Base training config (YAML/JSON, `saescope train --config` format)."
    ),
    steps: int | None = typer.Option(None, "--steps", help="Optimiser steps per trial."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Batch size per trial."),
    device: str | None = typer.Option(None, "--device", help="auto | cpu | cuda."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Held-out validation fraction."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/validation split and the sampler."),
    sampler: str = typer.Option(_D.sampler, "--sampler", help="tpe, or nsga2 (pareto only)."),
    startup_trials: int = typer.Option(
        _D.n_startup_trials, "--startup-trials", help="Random trials before TPE (NSGA-II population size)."
    ),
    column: str | None = typer.Option(None, "--column", help="Vector column of a Parquet input."),
    group_by: str | None = typer.Option(
        None, "--group-by", help="Parquet column (e.g. document id) kept wholly on one side of the split."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Read at most this many rows."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Search learning rate, k or sparsity penalty, expansion and architecture with Optuna.

    Each trial trains on a seeded training split and is scored on the disjoint validation
    split: FVU at a target L0 (trials over the target are penalised, so a weaker penalty is not
    rewarded) or the FVU/L0 Pareto front. Writes OUT/best_config.yaml (for `saescope train
    --config`), trials.parquet/.csv, tune_plot.png and summary.json. Rerun with the same
    --storage and --study-name to add trials to the study.
    """
    from saescope.data.vectors import check_finite, read_vectors
    from saescope.tune import load_base_config, run_tune, train_val_split

    base = load_base_config(config) if config is not None else {}
    for name, value in (("steps", steps), ("batch_size", batch_size), ("device", device)):
        if value is not None:
            base[name] = value
    base.setdefault("seed", seed)

    k = _ints(k_range, "--k-range", n=2) if k_range is not None else None
    cfg = TuneConfig(
        trials=trials,
        objective=objective,
        target_l0=target_l0,
        l0_penalty=l0_penalty,
        l0_tolerance=l0_tolerance,
        archs=tuple(a.strip() for a in archs.split(",") if a.strip()),
        expansions=_ints(expansions, "--expansions"),
        lr_range=_floats(lr_range, "--lr-range"),
        penalty_ranges=_penalty_ranges(penalty_range, l1_range, reward_range),
        k_range=k,
        base=base,
        sampler=sampler,
        n_startup_trials=startup_trials,
        seed=seed,
        storage=storage,
        study_name=study_name,
    )
    table = read_vectors(input, column=column, limit=limit)
    check_finite(table.X, table.source)
    groups = None
    if group_by is not None:
        if table.meta is None or group_by not in table.meta.column_names:
            raise InputError(f"{input}: no column {group_by!r} for --group-by")
        groups = table.meta[group_by]
    train_idx, val_idx = train_val_split(len(table.X), val_fraction, seed, groups)
    summary = run_tune(table.X[train_idx], table.X[val_idx], cfg, out, progress=progress)
    best = summary["best"]
    if best is None:
        typer.echo(f"no trial finished; see {out / 'trials.csv'}")
        return
    p = best["params"]
    knob = f"k={p['k']}" if p.get("k") is not None else ", ".join(
        f"{n}={p[n]:.3g}" for n in p if n not in ("arch", "lr", "expansion", "k")
    )
    typer.echo(
        f"best trial {best['trial']} of {summary['n_finished']}: {p['arch']} expansion "
        f"{p['expansion']} lr {p['lr']:.3g} {knob}: validation FVU {best['fvu']:.4f}, "
        f"L0 {best['l0']:.2f} (score {best['score']:.4f})"
    )
    typer.echo(f"wrote {out}/best_config.yaml, trials.parquet, trials.csv, tune_plot.png, summary.json")
    typer.echo(f"train it: saescope train {input} --config {out / 'best_config.yaml'} --out SAE_DIR")


def _penalty_ranges(specs: list[str], l1_range: str | None, reward_range: str | None
                    ) -> dict[str, tuple[float, ...]]:
    """{option: (low, high)} from --penalty-range OPTION=LOW,HIGH (and the deprecated flags)."""
    out: dict[str, tuple[float, ...]] = {}
    for old, option, value in (("--l1-range", "l1_coef", l1_range),
                               ("--reward-range", "reward_lambda", reward_range)):
        if value is not None:
            typer.echo(f"{old} is deprecated: use --penalty-range {option}=LOW,HIGH", err=True)
            out[option] = _floats(value, old)
    for spec in specs:
        option, sep, rng = spec.partition("=")
        if not sep or not option.strip():
            raise ConfigError(f"--penalty-range: expected OPTION=LOW,HIGH, got {spec!r}")
        out[option.strip()] = _floats(rng, f"--penalty-range {option.strip()}")
    return out


def _floats(text: str, name: str, n: int | None = 2) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated numbers, got {text!r}") from None
    if n is not None and len(vals) != n:
        raise ConfigError(f"{name}: expected {n} comma-separated numbers, got {text!r}")
    if not vals:
        raise ConfigError(f"{name}: expected at least one number")
    return vals


def _ints(text: str, name: str, n: int | None = None) -> tuple[int, ...]:
    vals = _floats(text, name, n)
    if any(v != int(v) for v in vals):
        raise ConfigError(f"{name}: expected whole numbers, got {text!r}")
    return tuple(int(v) for v in vals)
