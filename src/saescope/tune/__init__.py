"""Hyperparameter search for SAEs with Optuna (`saescope tune`).

Bayesian optimisation (TPE, or NSGA-II for the Pareto search) over learning rate, k or the
sparsity penalty, expansion factor and architecture, scored on held-out data. The capstone
used scikit-optimize's `gp_minimize`; scikit-optimize is unmaintained, hence Optuna.

    from saescope.tune import TuneConfig, run_tune, train_val_split, tune_matrices
    summary = run_tune(TuneConfig(input="emb.parquet", out="tune_out", trials=30, target_l0=32))
    tr, va = train_val_split(len(X), 0.1, seed=0)      # or a split of your own matrices:
    summary = tune_matrices(X[tr], X[va], TuneConfig(trials=30), "tune_out")
"""

from saescope.lazy import lazy_exports

_EXPORTS = {
    "TuneConfig": "saescope.tune.config",
    "fvu_at_l0_score": "saescope.tune.objective",
    "load_base_config": "saescope.tune.sae_adapter",
    "best_trial": "saescope.tune.study",
    "run_tune": "saescope.tune.study",
    "train_val_split": "saescope.tune.study",
    "tune_matrices": "saescope.tune.study",
}
"""Name -> module it is imported from on first use (nothing heavy at `import saescope.tune`)."""
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "TuneConfig",
    "best_trial",
    "fvu_at_l0_score",
    "load_base_config",
    "run_tune",
    "train_val_split",
    "tune_matrices",
]
