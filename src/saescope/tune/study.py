"""`run_tune`: the Optuna study behind `saescope tune`, its resumption and its outputs.

Bayesian optimisation with Optuna's TPE sampler (Bergstra et al. 2011, "Algorithms for
Hyper-Parameter Optimization"; multi-objective TPE, Ozaki et al. 2020) or NSGA-II (Deb et al.
2002) for the Pareto search. The capstone this project grew from used scikit-optimize's
`gp_minimize`; scikit-optimize is unmaintained (last release 0.9.0 in 2021; its `gp_minimize`
fails on NumPy >= 1.24 with "module 'numpy' has no attribute 'int'", scikit-optimize issue
#1138), so saescope uses Optuna, which also gives conditional search spaces (k only for
k-architectures, a penalty only for penalty architectures) and resumable storage.

Every trial trains an SAE on the training split and is scored on the disjoint validation
split (see `saescope.tune.objective`). The study lives in an Optuna storage (SQLite by
default, `OUT/study.db`): rerunning with the same storage and study name continues it, and
finished trials count toward `trials`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pyarrow as pa

from saescope.errors import ConfigError, InputError
from saescope.io import atomic_path, jsonable, write_json
from saescope.tune.config import TuneConfig
from saescope.tune.objective import PARAM_NAMES, fvu_at_l0_score, suggest_params

BEST_CONFIG = "best_config.yaml"
TRIALS_PARQUET = "trials.parquet"
TRIALS_CSV = "trials.csv"
PLOT = "tune_plot.png"
SUMMARY = "summary.json"
STUDY_DB = "study.db"
_SPACE_ATTR = "saescope_tune_space"
_DATA_ATTR = "saescope_tune_data"
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def train_val_split(
    n: int, val_fraction: float, seed: int, groups: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, seeded (train_idx, val_idx) for the search (`saescope.data.splits`).

    With `groups` (one value per row, e.g. the source document) every group falls wholly on
    one side, so near-duplicate rows of one document cannot leak into validation.
    """
    from saescope.data.splits import group_split, random_split

    if groups is not None:
        train_idx, val_idx = group_split(groups, val_fraction, seed)
    else:
        train_idx, val_idx = random_split(n, val_fraction, seed)
    if len(val_idx) < 1 or len(train_idx) < 1:
        raise InputError(f"{n} rows cannot be split into train and validation at {val_fraction}")
    return train_idx, val_idx


def run_tune(cfg: TuneConfig, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the search on the vectors of `cfg.input` and write it under `cfg.out`.

    `cfg.val_fraction` of the rows (whole `cfg.group_by` groups, seeded by `cfg.seed`) score the
    trials. Returns the summary (`summary.json`, see `tune_matrices`, which runs the search on
    matrices split by the caller).
    """
    from saescope.data.vectors import read_finite_vectors

    if not isinstance(cfg, TuneConfig):
        raise ConfigError(f"run_tune takes a TuneConfig, got {type(cfg).__name__} "
                          "(tune_matrices(X_train, X_val, cfg, out_dir) takes matrices)")
    if not cfg.input:
        raise ConfigError("run_tune(cfg) needs cfg.input (and cfg.out)")
    table, _ = read_finite_vectors(cfg.input, cfg.column, drop_nonfinite=None, limit=cfg.limit)
    groups = None
    if cfg.group_by is not None:
        if table.meta is None or cfg.group_by not in table.meta.column_names:
            raise InputError(f"{cfg.input}: no column {cfg.group_by!r} for --group-by")
        groups = table.meta[cfg.group_by]
    train_idx, val_idx = train_val_split(len(table.X), cfg.val_fraction, cfg.seed, groups)
    return tune_matrices(table.X[train_idx], table.X[val_idx], cfg, cfg.out, progress=progress)


def tune_matrices(
    X_train: np.ndarray,
    X_val: np.ndarray,
    cfg: TuneConfig,
    out_dir: str | Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) the search on a split made by the caller; write it under `out_dir`.

    Writes `best_config.yaml` (loadable by `saescope train --config`), `trials.parquet` and
    `trials.csv`, `tune_plot.png` and `summary.json`; returns the summary dict.
    """
    from saescope.tune import sae_adapter

    X_train = _check_matrix(X_train, "X_train")
    X_val = _check_matrix(X_val, "X_val")
    if X_train.shape[1] != X_val.shape[1]:
        raise InputError(
            f"X_train has {X_train.shape[1]} columns but X_val has {X_val.shape[1]}"
        )
    d = X_train.shape[1]
    penalty, base = _check_space(cfg, d)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = cfg.storage or f"sqlite:///{(out_dir / STUDY_DB).resolve()}"
    with _quiet_optuna():
        study = _open_study(cfg, storage, _data_fingerprint(X_train, X_val))

    done = sum(t.state in _FINISHED for t in study.trials)
    remaining = max(0, cfg.trials - done)

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        params = suggest_params(trial, cfg, penalty)
        if "k" in params:
            params["k"] = min(int(params["k"]), params["expansion"] * d)
        trial.set_user_attr("params", params)
        t0 = time.perf_counter()
        metrics = sae_adapter.train_trial(X_train, X_val, params, base)
        fvu, l0 = float(metrics["fvu"]), float(metrics["l0"])
        result = {
            "fvu": fvu,
            "l0": l0,
            "dead_fraction": float(metrics.get("dead_fraction", math.nan)),
            "score": fvu_at_l0_score(fvu, l0, cfg.target_l0, cfg.l0_penalty, cfg.l0_tolerance),
            "seconds": time.perf_counter() - t0,
        }
        # JSON has no NaN/Inf: the storage keeps None for them.
        trial.set_user_attr("result", {k: v if math.isfinite(v) else None for k, v in result.items()})
        if not (math.isfinite(fvu) and math.isfinite(l0)):
            # A diverged run (too high a learning rate): the worst outcome, counts as finished.
            raise optuna.TrialPruned("training diverged (non-finite FVU or L0)")
        score = result["score"]
        if cfg.objective == "pareto":
            return fvu, l0
        return score

    bar = _progress_bar(remaining, done, progress)
    # Several processes may share one storage: stop once the study as a whole has enough.
    callbacks: list[Any] = [optuna.study.MaxTrialsCallback(cfg.trials, states=_FINISHED)]
    if bar is not None:
        callbacks.append(lambda st, tr: _update_bar(bar, st))
    try:
        with _quiet_optuna():
            if remaining:
                study.optimize(objective, n_trials=remaining, callbacks=callbacks)
    except BaseException:
        # Interrupted or failed: still write what the finished trials show, then re-raise.
        with contextlib.suppress(Exception):
            _write_outputs(study, cfg, out_dir, storage, base, X_train, X_val)
        raise
    finally:
        if bar is not None:
            bar.close()
    return _write_outputs(study, cfg, out_dir, storage, base, X_train, X_val)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines would drown the progress bar."""
    prev = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(prev)


def _check_matrix(X: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] < 1:
        raise InputError(f"{name}: expected a non-empty 2-D matrix, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise InputError(f"{name}: contains NaN or Inf")
    return X


def _data_fingerprint(X_train: np.ndarray, X_val: np.ndarray) -> dict[str, Any]:
    h = hashlib.sha256()
    for X in (X_train, X_val):
        h.update(np.ascontiguousarray(X[: min(len(X), 4096)]).tobytes())
    return {
        "n_train": int(len(X_train)),
        "n_val": int(len(X_val)),
        "d": int(X_train.shape[1]),
        "sha256_head": h.hexdigest()[:16],
    }


def _make_sampler(cfg: TuneConfig, n_existing: int = 0) -> optuna.samplers.BaseSampler:
    # A resumed study gets a sampler seeded past the trials it has, or its random start-up
    # trials would repeat the first run's.
    seed = cfg.seed + 1_000_003 * n_existing
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(
            population_size=max(2, cfg.n_startup_trials), seed=seed
        )
    with warnings.catch_warnings():
        # multivariate/group TPE are flagged experimental; they model the conditional space
        # (k only for k-archs, l1 only for penalty archs) jointly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            n_startup_trials=cfg.n_startup_trials,
            seed=seed,
            multivariate=True,
            group=True,
        )


def _open_study(cfg: TuneConfig, storage: str, data: dict[str, Any]) -> optuna.Study:
    directions = ["minimize", "minimize"] if cfg.objective == "pareto" else ["minimize"]
    space = json.loads(json.dumps(cfg.search_space()))
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=cfg.study_name,
            sampler=_make_sampler(cfg),
            directions=directions,
            load_if_exists=True,
        )
    except ValueError as exc:  # e.g. existing study with other directions
        raise ConfigError(f"study {cfg.study_name!r} in {storage}: {exc}") from None
    except Exception as exc:  # bad URL, unreachable database
        raise ConfigError(f"cannot open Optuna storage {storage!r}: {exc}") from None
    old_space = study.user_attrs.get(_SPACE_ATTR)
    if old_space is None:
        study.set_user_attr(_SPACE_ATTR, space)
        study.set_user_attr(_DATA_ATTR, data)
        for params in cfg.enqueue:
            study.enqueue_trial(params, skip_if_exists=True)
        return study
    diff = [k for k in space if space[k] != old_space.get(k)]
    if diff:
        raise ConfigError(
            f"study {cfg.study_name!r} in {storage} was created with a different search "
            f"({', '.join(f'{k}: {old_space.get(k)!r} -> {space[k]!r}' for k in diff)}); "
            "use the same settings to resume, or a new --study-name"
        )
    old_data = study.user_attrs.get(_DATA_ATTR, {})
    if old_data != data:
        raise ConfigError(
            f"study {cfg.study_name!r} in {storage} was run on other data ({old_data}, now "
            f"{data}); use the same input, --val-fraction and --seed to resume, or a new --study-name"
        )
    study.sampler = _make_sampler(cfg, n_existing=len(study.trials))
    return study


def _progress_bar(remaining: int, done: int, progress: bool) -> Any:
    if not progress or remaining == 0:
        return None
    from tqdm.auto import tqdm

    desc = f"tune (resuming after {done} trials)" if done else "tune"
    return tqdm(total=remaining, desc=desc, unit="trial")


def _update_bar(bar: Any, study: optuna.Study) -> None:
    bar.update(1)
    scores = [_result(t).get("score") for t in study.trials if t.state in _FINISHED]
    scores = [s for s in scores if s is not None]
    if scores:
        bar.set_postfix(best_score=f"{min(scores):.4f}")


def _result(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's validation metrics and score ({} while running or when it failed)."""
    return trial.user_attrs.get("result") or {}


# ---------------------------------------------------------------------------------------------
# Outputs


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial: number, state, params, validation metrics, score, Pareto flag."""
    pareto = set()
    if len(study.directions) == 2:
        pareto = {t.number for t in study.best_trials}
    rows = []
    for t in study.trials:
        params = t.user_attrs.get("params", t.params)
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        for name in PARAM_NAMES:
            row[name] = params.get(name)
        result = _result(t)
        for name in ("fvu", "l0", "dead_fraction", "score", "seconds"):
            row[name] = result.get(name)
        row["pareto"] = t.number in pareto
        row["datetime_start"] = t.datetime_start.isoformat() if t.datetime_start else None
        rows.append(row)
    return rows


_ROW_SCHEMA = pa.schema(
    [
        ("number", pa.int64()),
        ("state", pa.string()),
        ("arch", pa.string()),
        ("lr", pa.float64()),
        ("expansion", pa.int64()),
        ("k", pa.int64()),
        *[(name, pa.float64()) for name in PARAM_NAMES[4:]],
        ("fvu", pa.float64()),
        ("l0", pa.float64()),
        ("dead_fraction", pa.float64()),
        ("score", pa.float64()),
        ("seconds", pa.float64()),
        ("pareto", pa.bool_()),
        ("datetime_start", pa.string()),
    ]
)


def _check_space(cfg: TuneConfig, d: int) -> tuple[dict[str, str], dict[str, Any]]:
    """(penalty option per penalty arch, checked base config); ConfigError before any trial."""
    from saescope.tune import sae_adapter

    penalty = sae_adapter.penalty_options(cfg.archs)
    base = sae_adapter.check_base(cfg.base)
    for arch in cfg.archs:  # fail now, naming the field, rather than in the middle of a study
        probe: dict[str, Any] = {"arch": arch, "lr": cfg.lr_range[0], "expansion": cfg.expansions[0]}
        if arch in penalty:
            probe[penalty[arch]] = cfg.penalty_range(penalty[arch])[0]
        else:
            probe["k"] = cfg.target_l0
        sae_adapter.train_config_dict(probe, base)
    if cfg.objective == "fvu-at-l0" and set(cfg.archs) - set(penalty):
        smallest = min(cfg.expansions) * d
        if cfg.target_l0 >= smallest:
            raise ConfigError(
                f"target_l0 {cfg.target_l0} must be below the smallest latent count "
                f"{smallest} (expansion {min(cfg.expansions)} x {d} dims)"
            )
    return penalty, base


def best_trial(study: optuna.Study, cfg: TuneConfig) -> optuna.trial.FrozenTrial | None:
    """The trial whose config is written as `best_config.yaml`.

    `fvu-at-l0`: the lowest score. `pareto`: among the Pareto-optimal trials, the lowest FVU
    with validation L0 <= target_l0 * (1 + l0_tolerance); if none meets the target, the lowest
    `fvu-at-l0` score.
    """
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return None
    if cfg.objective == "pareto":
        front = study.best_trials
        limit = cfg.target_l0 * (1 + cfg.l0_tolerance)
        meeting = [t for t in front if _result(t)["l0"] <= limit]
        if meeting:
            return min(meeting, key=lambda t: _result(t)["fvu"])
    return min(complete, key=lambda t: _result(t)["score"])


def _write_outputs(
    study: optuna.Study,
    cfg: TuneConfig,
    out_dir: Path,
    storage: str,
    base: dict[str, Any],
    X_train: np.ndarray,
    X_val: np.ndarray,
) -> dict[str, Any]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from saescope.tune import sae_adapter
    from saescope.tune.plot import plot_study

    rows = trial_rows(study)
    table = pa.Table.from_pylist(rows, schema=_ROW_SCHEMA)
    with atomic_path(out_dir / TRIALS_PARQUET) as tmp:
        pq.write_table(table, tmp)
    with atomic_path(out_dir / TRIALS_CSV) as tmp:
        pacsv.write_csv(table, tmp)

    from saescope.run_layout import stage_manifest

    best = best_trial(study, cfg)
    summary: dict[str, Any] = stage_manifest("tune", cfg) | {
        "objective": cfg.objective,
        "target_l0": cfg.target_l0,
        "l0_penalty": cfg.l0_penalty,
        "l0_tolerance": cfg.l0_tolerance,
        "score": "fvu + l0_penalty * max(0, l0 / target_l0 - 1 - l0_tolerance), validation split",
        "sampler": cfg.sampler,
        "storage": storage,
        "study_name": cfg.study_name,
        "n_trials": len(rows),
        "n_finished": sum(r["state"] in ("COMPLETE", "PRUNED") for r in rows),
        "n_train": int(len(X_train)),
        "n_val": int(len(X_val)),
        "d_in": int(X_train.shape[1]),
        "search_space": cfg.search_space(),
        "best": None,
    }
    if cfg.objective == "pareto":
        summary["pareto_front"] = [r["number"] for r in rows if r["pareto"]]
    if best is not None:
        params = best.user_attrs["params"]
        result = _result(best)
        summary["best"] = {"trial": best.number, "params": params, **result}
        config = sae_adapter.train_config_dict(params, base)
        header = (
            f"# saescope tune: best trial {best.number} of study {cfg.study_name!r} "
            f"({cfg.objective}, target L0 {cfg.target_l0})\n"
            f"# validation FVU {result['fvu']:.4f}, L0 {result['l0']:.2f}\n"
            f"# use it with: saescope train INPUT --config {BEST_CONFIG}\n"
        )
        import yaml

        with atomic_path(out_dir / BEST_CONFIG) as tmp:
            tmp.write_text(header + yaml.safe_dump(config, sort_keys=False))
    plot_study(rows, cfg, out_dir / PLOT, best.number if best is not None else None)
    write_json(out_dir / SUMMARY, summary)
    return jsonable(summary)
