"""`TuneConfig`: what `saescope tune` searches over and how it scores a trial."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from saescope.errors import ConfigError

OBJECTIVES = ("fvu-at-l0", "pareto")
SAMPLERS = ("tpe", "nsga2")
COMMON_PARAMS = ("arch", "lr", "expansion", "k")


def param_names() -> tuple[str, ...]:
    """Param names as they appear in the study, in trials.parquet and in `TuneConfig.enqueue`:
    the common ones, then every sparsity option the architecture registry declares."""
    from saescope.sae.archs import get_arch, names

    options = sorted({get_arch(a).sparsity_option for a in names()} - {None})
    return COMMON_PARAMS + tuple(options)


def declared_range(option: str) -> tuple[float, float]:
    """The search range an architecture declares for its sparsity option."""
    from saescope.sae.archs import get_arch, names

    for a in names():
        arch = get_arch(a)
        if arch.sparsity_option == option and arch.sparsity_range is not None:
            return arch.sparsity_range
    raise ConfigError(f"no architecture declares a search range for {option!r}")


@dataclass
class TuneConfig:
    """Settings of one hyperparameter search (`saescope tune`, `run_tune(cfg)`)."""

    input: str | None = None
    """Vectors: .npy, .safetensors, or Parquet file/folder."""
    out: str = "tune"
    """Output folder (reused when resuming)."""
    column: str | None = None
    """Vector column of a Parquet input."""
    group_by: str | None = None
    """Parquet column (e.g. document id) kept wholly on one side of the split."""
    limit: int | None = None
    """Read at most this many rows."""
    val_fraction: float = 0.1
    """Share of the rows held out to score every trial (split by `group_by` when given)."""
    trials: int = 20
    """Total number of finished trials wanted in the study; trials already in the storage count."""
    objective: str = "fvu-at-l0"
    """`fvu-at-l0`: minimise validation FVU at `target_l0`; `pareto`: FVU/L0 Pareto front."""
    target_l0: int = 32
    """Target number of active latents per input (k for topk/batchtopk in `fvu-at-l0`)."""
    l0_penalty: float = 20.0
    """Weight of the relative L0 excess in the `fvu-at-l0` score (see `fvu_at_l0_score`)."""
    l0_tolerance: float = 0.05
    """Relative L0 overshoot that still counts as meeting the target (batchtopk's L0 varies)."""
    archs: tuple[str, ...] = ("topk", "batchtopk", "relu")
    """Architectures to search over (names from the SAE registry)."""
    expansions: tuple[int, ...] = (4, 8, 16)
    """Expansion factors (latents = expansion * input dimension) to search over."""
    lr_range: tuple[float, float] = (1e-4, 1e-2)
    """Learning-rate range, sampled log-uniformly."""
    penalty_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Log-uniform range per sparsity option (e.g. `l1_coef`), overriding the range its
    architecture declares (`Architecture.sparsity_range`)."""
    l1_range: tuple[float, float] | None = None
    """Deprecated: penalty_ranges["l1_coef"]."""
    reward_range: tuple[float, float] | None = None
    """Deprecated: penalty_ranges["reward_lambda"]."""
    k_range: tuple[int, int] | None = None
    """k range for topk/batchtopk in `pareto` mode (log-uniform); None: target_l0/4 .. 4*target_l0."""
    base: dict[str, Any] = field(default_factory=dict)
    """Fixed training settings for every trial, in `TrainConfig.from_dict` format (steps, batch...)."""
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    """Parameter sets evaluated first on a fresh study (e.g. your current config), by param name."""
    sampler: str = "tpe"
    """`tpe` (single- or multi-objective TPE) or `nsga2` (NSGA-II; `pareto` only)."""
    n_startup_trials: int = 10
    """Random trials before TPE starts modelling (NSGA-II: population size)."""
    seed: int = 0
    """Seed of the train/validation split and the sampler; trials all train with the base
    config's seed."""
    storage: str | None = None
    """Optuna storage URL (e.g. `sqlite:///tune.db`); None: `sqlite:///OUT/study.db`."""
    study_name: str = "saescope-tune"
    """Study name inside the storage; rerunning with the same storage and name resumes it."""

    def __post_init__(self) -> None:
        self.archs = tuple(self.archs)
        self.expansions = tuple(int(e) for e in self.expansions)
        self.lr_range = _range(self.lr_range, "lr_range")
        self.penalty_ranges = {str(k): _range(v, f"penalty_ranges[{k}]")
                               for k, v in dict(self.penalty_ranges).items()}
        for old, option in (("l1_range", "l1_coef"), ("reward_range", "reward_lambda")):
            value = getattr(self, old)
            if value is not None:
                warnings.warn(f"TuneConfig.{old} is deprecated: use penalty_ranges[{option!r}]",
                              DeprecationWarning, stacklevel=3)
                self.penalty_ranges.setdefault(option, _range(value, old))
                setattr(self, old, None)
        if self.k_range is not None:
            lo, hi = (int(v) for v in _range(self.k_range, "k_range"))
            self.k_range = (lo, hi)
        if self.trials < 1:
            raise ConfigError(f"trials must be at least 1, got {self.trials}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.target_l0 < 1:
            raise ConfigError(f"target_l0 must be at least 1, got {self.target_l0}")
        if not (self.l0_penalty >= 0 and math.isfinite(self.l0_penalty)):
            raise ConfigError(f"l0_penalty must be a finite number >= 0, got {self.l0_penalty}")
        if not 0 <= self.l0_tolerance < 1:
            raise ConfigError(f"l0_tolerance must be in [0, 1), got {self.l0_tolerance}")
        if not self.archs:
            raise ConfigError("archs: give at least one architecture")
        if not self.expansions or min(self.expansions) < 1:
            raise ConfigError(f"expansions must be integers >= 1, got {self.expansions}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.sampler == "nsga2" and self.objective != "pareto":
            raise ConfigError("sampler nsga2 is for the two-objective `pareto` search only")
        if self.n_startup_trials < 0:
            raise ConfigError(f"n_startup_trials must be >= 0, got {self.n_startup_trials}")
        if not self.study_name:
            raise ConfigError("study_name must not be empty")
        PARAM_NAMES = param_names()
        for i, params in enumerate(self.enqueue):
            if not isinstance(params, dict):
                raise ConfigError(f"enqueue[{i}]: expected a mapping of parameter names to values")
            unknown = sorted(set(params) - set(PARAM_NAMES))
            if unknown:
                raise ConfigError(
                    f"enqueue[{i}]: unknown parameter(s) {', '.join(unknown)} "
                    f"(parameters: {', '.join(PARAM_NAMES)})"
                )
            if "arch" in params and params["arch"] not in self.archs:
                raise ConfigError(f"enqueue[{i}]: arch {params['arch']!r} is not in archs {self.archs}")
            if "expansion" in params and params["expansion"] not in self.expansions:
                raise ConfigError(
                    f"enqueue[{i}]: expansion {params['expansion']!r} is not in expansions "
                    f"{self.expansions}"
                )

    @property
    def effective_k_range(self) -> tuple[int, int]:
        """The k range searched in `pareto` mode."""
        if self.k_range is not None:
            return self.k_range
        return max(1, self.target_l0 // 4), 4 * self.target_l0

    def penalty_range(self, option: str) -> tuple[float, float]:
        """The searched range of a penalty architecture's coefficient option."""
        if option in self.penalty_ranges:
            return self.penalty_ranges[option]
        return declared_range(option)

    def search_space(self) -> dict[str, Any]:
        """The fields that define the search; a resumed study must have the same ones."""
        d = asdict(self)
        keys = ("objective", "target_l0", "l0_penalty", "l0_tolerance", "archs", "expansions", "lr_range",
                "base")
        space = {k: d[k] for k in keys}
        space["archs"] = list(self.archs)
        space["expansions"] = list(self.expansions)
        space["lr_range"] = list(self.lr_range)
        from saescope.tune.sae_adapter import penalty_options

        space["penalty_ranges"] = {opt: list(self.penalty_range(opt))
                                   for opt in sorted(set(penalty_options(self.archs).values()))}
        space["k_range"] = list(self.effective_k_range) if self.objective == "pareto" else None
        return space


def _range(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected two numbers (low, high), got {value!r}") from None
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ConfigError(f"{name}: expected 0 < low <= high, got ({lo}, {hi})")
    return lo, hi
