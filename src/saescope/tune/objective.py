"""The search space and the score of one trial.

Why a held-out, fixed-sparsity objective: minimising the training loss of an L1-penalised SAE
(reconstruction + lambda * L1) over lambda rewards the smallest lambda, since a weaker penalty
always lowers that loss. Reconstruction is only comparable between SAEs at the same sparsity
(Gao et al. 2024, "Scaling and evaluating sparse autoencoders", arXiv:2406.04093, compare MSE at
fixed L0), so the score here is the validation FVU at a target L0, or the FVU/L0 Pareto front.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from saescope.tune.config import TuneConfig, param_names

PARAM_NAMES = param_names()
"""Param names as they appear in the study, in trials.parquet and in `TuneConfig.enqueue`."""


def fvu_at_l0_score(
    fvu: float, l0: float, target_l0: float, penalty: float, tolerance: float = 0.0
) -> float:
    """Score of a trial in `fvu-at-l0` mode (lower is better).

    ``score = FVU + penalty * max(0, L0 / target_l0 - 1 - tolerance)``

    FVU is the fraction of variance unexplained on the validation split,
    ``sum ||x - x_hat||^2 / sum ||x - mean(x)||^2`` (the normalised MSE of Gao et al. 2024,
    arXiv:2406.04093), and L0 the mean number of active latents per validation row. FVU lies
    in [0, 1] for any useful SAE, so with the defaults of `TuneConfig` (penalty 20, tolerance
    0.05) a trial whose L0 overshoots the target by 10% or more scores at least 1 more than
    its FVU: worse than every useful trial that meets the target. The tolerance absorbs the
    small spread of batchtopk's threshold-based inference L0 around k. An SAE sparser than
    the target is not rewarded for it (its score is its FVU, and it pays for its sparsity in
    FVU). Non-finite inputs give ``inf``.
    """
    if not (math.isfinite(fvu) and math.isfinite(l0)):
        return math.inf
    excess = max(0.0, l0 / target_l0 - 1.0 - tolerance)
    return float(fvu + penalty * excess)


def suggest_params(trial: optuna.Trial, cfg: TuneConfig, penalty: dict[str, str]) -> dict[str, Any]:
    """Sample one trial's hyperparameters: the space is conditional on the architecture.

    k-architectures (topk, batchtopk) get `k`; in `fvu-at-l0` mode k is not searched but set
    to `target_l0`. Penalty architectures get their coefficient, named by the option they
    declare (`penalty[arch]`, from `Architecture.sparsity_option`).
    """
    arch = trial.suggest_categorical("arch", list(cfg.archs))
    params: dict[str, Any] = {
        "arch": arch,
        "lr": trial.suggest_float("lr", *cfg.lr_range, log=True),
        "expansion": trial.suggest_categorical("expansion", list(cfg.expansions)),
    }
    option = penalty.get(arch)
    if option is None:
        if cfg.objective == "pareto":
            params["k"] = trial.suggest_int("k", *cfg.effective_k_range, log=True)
        else:
            params["k"] = cfg.target_l0
    else:
        params[option] = trial.suggest_float(option, *cfg.penalty_range(option), log=True)
    return params
