"""Hyperparameter search for SAEs with Optuna (`saescope tune`).

Bayesian optimisation (TPE, or NSGA-II for the Pareto search) over learning rate, k or the
sparsity penalty, expansion factor and architecture, scored on held-out data. The capstone
used scikit-optimize's `gp_minimize`; scikit-optimize is unmaintained, hence Optuna.

    from saescope.tune import TuneConfig, run_tune, train_val_split, tune_matrices
    summary = run_tune(TuneConfig(input="emb.parquet", out="tune_out", trials=30, target_l0=32))
    tr, va = train_val_split(len(X), 0.1, seed=0)      # or a split of your own matrices:
    summary = tune_matrices(X[tr], X[va], TuneConfig(trials=30), "tune_out")
"""

from saescope.tune.config import TuneConfig
from saescope.tune.objective import fvu_at_l0_score
from saescope.tune.sae_adapter import load_base_config
from saescope.tune.study import best_trial, run_tune, train_val_split, tune_matrices

__all__ = [
    "TuneConfig",
    "best_trial",
    "fvu_at_l0_score",
    "load_base_config",
    "run_tune",
    "train_val_split",
    "tune_matrices",
]
