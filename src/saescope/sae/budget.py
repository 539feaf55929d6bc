"""How long to train and how: batch size, step budget, evaluation interval, dead-latent window.

Embedding SAEs are mostly trained on 1k-100k rows, where a fixed number of epochs at a large
batch is a handful of optimiser steps; activation SAEs on millions of rows, where one epoch
is already a long run. `plan_run` turns a `TrainConfig` and the data size into a `RunPlan`:

- batch size (`batch_size=None`): about n_train / 100 rows, a power of two in [64, 1024], so
  that a small corpus gets about 100 steps an epoch;
- budget: `steps` or `epochs` when given (a fixed run); otherwise early stopping on the
  validation FVU (evaluated every `eval_every` steps, patience `patience` evaluations) within
  `max_samples` samples and `max_epochs` passes, so the budget is in samples for large data
  and in epochs for small data;
- dead-latent window (`dead_samples=None`): one epoch of training rows, at most 10M samples
  (sparsify's and Gao et al.'s 10M tokens), so a latent is dead when it fired on none of the
  training rows seen in the last window;
- AuxK window: AuxK (Gao et al. 2024, sec. A.2) acts on latents silent for the dead window or
  a tenth of the run's samples, whichever is shorter. With one epoch as the window, a fixed run
  of a few epochs handed its silent latents to AuxK only in its last stretch: on SmolLM2 token
  rows (raw inputs, 1,000 steps of 256 = 1.6 epochs) 4.3% of the latents fired on no training
  row, and 0.0% with a window of 25,000 samples, at the same FVU (docs/results/tokens.md; dead
  counted on the training rows). Runs under early stopping (a budget of many epochs) keep the
  epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_AUTO_BATCH, MAX_AUTO_BATCH = 64, 1024
MAX_DEAD_WINDOW = 10_000_000
AUXK_RUN_FRACTION = 10
"""The AuxK window is at most the run's samples divided by this."""
NO_VALIDATION_EPOCHS = 10
"""Default passes when there is nothing to stop on (no validation rows, or an architecture
whose objective changes over the run)."""
MIN_CONVERGED_STEPS = 2_000
"""Fixed runs shorter than this many steps get a warning (an SAE rarely converges sooner)."""


@dataclass(frozen=True)
class RunPlan:
    """The resolved schedule of one training run."""

    batch_size: int
    """Global batch size."""
    max_steps: int
    """Steps at most (the whole run when `early_stopping` is False)."""
    early_stopping: bool
    """Stop when the validation FVU stops improving (then decay the learning rate and stop)."""
    eval_every: int
    """Steps between validation passes (early stopping, best checkpoint)."""
    warmup: int
    """Linear learning-rate warm-up steps."""
    dead_window: int
    """A latent is dead after this many training samples without firing."""
    auxk_window: int = 0
    """AuxK acts on latents silent for this many training samples (0: `dead_window`)."""


def auto_batch_size(n_train: int) -> int:
    """A power of two near n_train / 100, clamped to [64, 1024] (and to n_train)."""
    target = max(n_train / 100, 1)
    b = 2 ** round(math.log2(target))
    return int(min(max(b, MIN_AUTO_BATCH), MAX_AUTO_BATCH, max(n_train, 1)))


def plan_run(cfg, n_train: int, steps_per_epoch: int, batch_size: int,
             has_validation: bool, arch_can_stop: bool = True) -> RunPlan:
    """The `RunPlan` for a `TrainConfig` on `n_train` training rows (see the module docstring).

    `batch_size` is the resolved batch size (the source may cap it at n_train);
    `arch_can_stop`: the architecture's validation objective is stationary (penalty schedules
    over the run's length are not), else the default budget is fixed: `NO_VALIDATION_EPOCHS`
    passes and at least `MIN_CONVERGED_STEPS` steps, within `max_samples`.
    """
    fixed = cfg.steps is not None or cfg.epochs is not None
    if cfg.steps is not None:
        max_steps = cfg.steps
    elif cfg.epochs is not None:
        max_steps = cfg.epochs * steps_per_epoch
    else:
        by_samples = max(1, cfg.max_samples // batch_size)
        if has_validation and arch_can_stop:
            max_steps = min(by_samples, cfg.max_epochs * steps_per_epoch)
        else:
            max_steps = min(by_samples, max(NO_VALIDATION_EPOCHS * steps_per_epoch,
                                            MIN_CONVERGED_STEPS))
    early = not fixed and has_validation and arch_can_stop
    eval_every = cfg.eval_every or max(1, min(steps_per_epoch, math.ceil(1_000_000 / batch_size)))
    if cfg.lr_warmup_steps is not None:
        warmup = cfg.lr_warmup_steps
    else:  # 5% of a fixed run, at most 1000; under early stopping, one evaluation interval
        warmup = min(1000, max(1, max_steps // 20)) if not early else min(1000, eval_every)
    dead_window = max(batch_size, min(n_train, MAX_DEAD_WINDOW))
    auxk_window = min(dead_window, max(batch_size, max_steps * batch_size // AUXK_RUN_FRACTION))
    return RunPlan(batch_size, max_steps, early, eval_every, warmup, dead_window, auxk_window)


def short_run_warning(plan: RunPlan, cfg) -> str | None:
    """A warning when a fixed run is likely too short to converge, else None."""
    if plan.early_stopping or plan.max_steps >= MIN_CONVERGED_STEPS:
        return None
    return (f"training for only {plan.max_steps} optimiser steps (batch {plan.batch_size}); SAEs "
            f"rarely converge in under {MIN_CONVERGED_STEPS:,}: leave --epochs/--steps unset to "
            "train until the validation FVU stops improving, or lower --batch-size")
