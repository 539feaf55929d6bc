"""`saescope tune`: Bayesian hyperparameter search for an SAE (a thin layer over saescope.tune)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from saescope.cli.options import Opt, command, split_list, values
from saescope.errors import ConfigError
from saescope.tune.config import TuneConfig

TUNE_OPTIONS = (
    Opt("input", "input", argument=True, default=..., type=Path),
    Opt("--trials", "trials", default=..., help="Total finished trials wanted (resumed ones count)."),
    Opt("--out", "out", type=Path),
    Opt("--storage", "storage",
        help="Optuna storage URL, e.g. sqlite:///tune.db (default: SQLite OUT/study.db)."),
    Opt("--study-name", "study_name", help="Study name in the storage."),
    Opt("--objective", "objective",
        help="fvu-at-l0 (validation FVU at --target-l0) or pareto (FVU/L0 front)."),
    Opt("--target-l0", "target_l0", help="Target active latents per input."),
    Opt("--l0-penalty", "l0_penalty",
        help="fvu-at-l0 score: FVU + this x relative L0 excess over the target."),
    Opt("--l0-tolerance", "l0_tolerance", help="Relative L0 overshoot still meeting the target."),
    Opt("--archs", "archs", type=str, help="Comma-separated architectures."),
    Opt("--expansions", "expansions", type=str, help="Comma-separated expansion factors."),
    Opt("--lr-range", "lr_range", type=str, help="Learning-rate range (log-uniform)."),
    Opt("--penalty-range", None, type=list[str], default=[],
        help="OPTION=LOW,HIGH: search range of a penalty architecture's sparsity option (e.g. "
             "l1_coef=0.001,10); default: the range the architecture declares. Repeatable."),
    Opt("--l1-range", None, hidden=True, help="Deprecated: --penalty-range l1_coef=LOW,HIGH."),
    Opt("--reward-range", None, hidden=True,
        help="Deprecated: --penalty-range reward_lambda=LOW,HIGH."),
    Opt("--k-range", "k_range", type=str | None,
        help="k range in pareto mode (default: target/4 to 4 x target)."),
    Opt("--config", None, type=Path | None,
        help="Base training config (YAML/JSON, `saescope train --config` format)."),
    Opt("--steps", None, type=int | None, help="Optimiser steps per trial."),
    Opt("--batch-size", None, type=int | None, help="Batch size per trial."),
    Opt("--device", None, help="auto | cpu | cuda."),
    Opt("--val-fraction", "val_fraction", help="Held-out validation fraction."),
    Opt("--seed", "seed", help="Seed of the train/validation split and the sampler."),
    Opt("--sampler", "sampler", help="tpe, or nsga2 (pareto only)."),
    Opt("--startup-trials", "n_startup_trials",
        help="Random trials before TPE (NSGA-II population size)."),
    Opt("--column", "column"),
    Opt("--group-by", "group_by"),
    Opt("--limit", "limit"),
    Opt("--progress/--no-progress", None, type=bool, default=True, help="Show a progress bar."),
)
"""`saescope tune`'s options; defaults are TuneConfig's."""


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


@command(TuneConfig, TUNE_OPTIONS)
def tune(**opts: Any) -> None:
    """Search learning rate, k or sparsity penalty, expansion and architecture with Optuna.

    Each trial trains on a seeded training split and is scored on the disjoint validation
    split: FVU at a target L0 (trials over the target are penalised, so a weaker penalty is not
    rewarded) or the FVU/L0 Pareto front. Writes OUT/best_config.yaml (for `saescope train
    --config`), trials.parquet/.csv, tune_plot.png and summary.json. Rerun with the same
    --storage and --study-name to add trials to the study.
    """
    from saescope.tune import run_tune

    cfg = tune_config(opts)
    summary = run_tune(cfg, progress=opts["progress"])
    out = Path(cfg.out)
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
    typer.echo(f"train it: saescope train {cfg.input} --config {out / 'best_config.yaml'} --out SAE_DIR")


def tune_config(opts: dict[str, Any]) -> TuneConfig:
    """The TuneConfig of `saescope tune`'s options (the lists parsed, --config as the base)."""
    from saescope.tune import load_base_config

    base = load_base_config(opts["config"]) if opts["config"] is not None else {}
    base.update({key: opts[key] for key in ("steps", "batch_size", "device") if opts[key] is not None})
    base.setdefault("seed", opts["seed"])
    given = values(opts, TUNE_OPTIONS)
    given.update(
        archs=tuple(a.strip() for a in opts["archs"].split(",") if a.strip()),
        expansions=_ints(opts["expansions"], "--expansions"),
        lr_range=_floats(opts["lr_range"], "--lr-range"),
        k_range=_ints(opts["k_range"], "--k-range", n=2) if opts["k_range"] is not None else None,
        penalty_ranges=_penalty_ranges(opts["penalty_range"], opts["l1_range"], opts["reward_range"]),
        base=base,
    )
    return TuneConfig(**given)


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
    return tuple(split_list(text, name, float, n) or ())


def _ints(text: str, name: str, n: int | None = None) -> tuple[int, ...]:
    vals = _floats(text, name, n)
    if any(v != int(v) for v in vals):
        raise ConfigError(f"{name}: expected whole numbers, got {text!r}")
    return tuple(int(v) for v in vals)
