"""Configuration of an SAE (`SAEConfig`) and of its training run (`TrainConfig`).

`SAEConfig` is what `cfg.json` holds beside `sae.safetensors`. Its common fields (`k`,
`expansion_factor`, `num_latents`, `normalize_decoder`, `d_in`) carry the names EleutherAI
sparsify uses, so sparsify reads our `cfg.json` and we read theirs. Options that only one
architecture has (`multi_topk`, `l1_coef`, `reward_lambda`, ...) live in that architecture's
module (`saescope.sae.archs.<name>.Options`) and are stored flat in `cfg.json` beside the
common fields.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saescope.errors import ConfigError

# Keys sparsify writes that have no meaning here; accepted on load when they hold these values.
_SPARSIFY_NEUTRAL = {"skip_connection": False, "transcode": False, "activation": "topk"}


@dataclass
class SAEConfig:
    """The shape and architecture of a sparse autoencoder."""

    arch: str = "topk"
    """Architecture name from the registry: topk | batchtopk | relu | reward."""
    k: int = 32
    """Active latents per sample (topk, batchtopk: k on average over the batch)."""
    expansion_factor: int = 32
    """num_latents = expansion_factor * d_in when num_latents is 0."""
    num_latents: int = 0
    """Number of latents M; 0 means expansion_factor * d_in."""
    normalize_decoder: bool | None = None
    """Keep decoder rows unit norm; None takes the architecture's default (all but relu)."""
    init_b_dec: str = "geometric_median"
    """Initial decoder bias: geometric_median | mean | zeros of a data sample."""
    d_in: int = 0
    """Input dimension; filled in from the data when training starts."""
    options: dict[str, Any] = field(default_factory=dict)
    """Architecture-specific options (see the architecture module's `Options`), flat in cfg.json."""

    def __post_init__(self) -> None:
        from saescope.sae.archs import get_arch

        arch = get_arch(self.arch)  # ConfigError for an unknown name
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}")
        if self.expansion_factor < 1:
            raise ConfigError(f"expansion_factor must be >= 1, got {self.expansion_factor}")
        if self.num_latents < 0:
            raise ConfigError(f"num_latents must be >= 0, got {self.num_latents}")
        if self.init_b_dec not in ("geometric_median", "mean", "zeros"):
            raise ConfigError(
                f"init_b_dec must be geometric_median, mean or zeros, got {self.init_b_dec!r}"
            )
        if self.normalize_decoder is None:
            self.normalize_decoder = arch.normalize_decoder_default
        self.options = dataclasses.asdict(arch.parse_options(self.options))
        if self.d_in:
            self.check_sizes()

    def latents_for(self, d_in: int) -> int:
        """M for inputs of dimension d_in."""
        return self.num_latents or self.expansion_factor * d_in

    def check_sizes(self) -> None:
        """Validate k against M once d_in is known."""
        m = self.latents_for(self.d_in)
        if self.k > m:
            raise ConfigError(f"k ({self.k}) is larger than the number of latents ({m})")

    def to_dict(self) -> dict[str, Any]:
        """Flat dict for cfg.json: common fields, then the architecture's options."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "options"}
        d.update(self.options)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], strict: bool = True) -> SAEConfig:
        """Inverse of `to_dict`; keys that are not common fields are architecture options.

        With `strict=False` (loading a checkpoint written by another tool) unknown keys are
        dropped, except sparsify features we do not implement, which are refused.
        """
        from saescope.sae.archs import get_arch

        d = dict(d)
        if "options" in d:  # the nested form is accepted too
            d.update(d.pop("options") or {})
        names = {f.name for f in dataclasses.fields(cls)} - {"options"}
        common = {k: v for k, v in d.items() if k in names}
        rest = {k: v for k, v in d.items() if k not in names}
        arch = get_arch(common.get("arch", "topk"))
        known = {f.name for f in dataclasses.fields(arch.Options)}
        options = {k: v for k, v in rest.items() if k in known}
        unknown = {k: v for k, v in rest.items() if k not in known}
        for key, value in unknown.items():
            if key in _SPARSIFY_NEUTRAL and value not in (_SPARSIFY_NEUTRAL[key], None):
                raise ConfigError(f"SAE config field {key}={value!r} is not supported by saescope")
            if strict and key not in _SPARSIFY_NEUTRAL:
                raise ConfigError(
                    f"unknown SAE config field {key!r} for arch {arch.name!r} "
                    f"(fields: {', '.join(sorted(names | known))})"
                )
        return cls(**common, options=options)


@dataclass
class TrainConfig:
    """How to train an SAE.

    File format for `saescope train --config FILE` (YAML or JSON), as written by
    `saescope tune`: a nested `sae:` mapping holds `SAEConfig` fields and architecture options
    (`arch`, `k`, `expansion_factor`, `num_latents`, `multi_topk`, `l1_coef`, ...); every other
    key is a `TrainConfig` field. SAE keys at the top level are accepted too. Example::

        sae:
          arch: topk
          k: 16
          expansion_factor: 8
        batch_size: 1024
        lr: 0.0005
        epochs: 20

    Command-line flags override the file.
    """

    sae: SAEConfig = field(default_factory=SAEConfig)
    """The SAE to train."""
    batch_size: int = 1024
    """Samples per optimiser step (the global batch under data-parallel training)."""
    epochs: int = 10
    """Passes over the training data (ignored when `steps` is set)."""
    steps: int | None = None
    """Optimiser steps; overrides `epochs`."""
    lr: float | None = None
    """Adam learning rate; None means 2e-4 / sqrt(M / 2**14) (Gao et al. 2024 scaling)."""
    lr_warmup_steps: int | None = None
    """Linear warm-up steps; None means 5% of the run, at most 1000."""
    lr_decay_fraction: float = 0.2
    """Fraction of the run, at the end, over which the learning rate decays linearly to 0."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0 disables)."""
    seed: int = 0
    """Seed for initialisation, shuffling, validation split and stochastic gates."""
    device: str = "auto"
    """auto | cpu | cuda (auto picks cuda when available)."""
    autocast: bool = True
    """bf16 autocast on CUDA (fp32 master weights); ignored on CPU."""
    fast_topk: str = "auto"
    """Sparse TopK kernels (gather-sum decode, sparse backward): auto (on CUDA) | on | off."""
    normalize_input: bool = True
    """Scale inputs so their mean norm is sqrt(d_in); the scale is folded into saved weights."""
    val_fraction: float = 0.1
    """Held-out fraction for validation metrics when no validation data is given."""
    eval_batch_size: int = 4096
    """Batch size for validation passes."""
    log_every: int = 50
    """Write a train_log.jsonl line every this many steps."""
    checkpoint_every: int = 500
    """Write a resumable checkpoint every this many steps (0 disables)."""
    init_sample: int = 16384
    """Rows used to estimate the input scale and the initial decoder bias."""
    tensorboard: str | None = None
    """Folder for TensorBoard event files (needs the `tensorboard` package)."""
    wandb_project: str | None = None
    """Weights & Biases project to log to (needs the `wandb` package)."""

    def __post_init__(self) -> None:
        if isinstance(self.sae, dict):
            self.sae = SAEConfig.from_dict(self.sae)
        for name in ("batch_size", "eval_batch_size", "log_every", "init_sample"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 1 and self.steps is None:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.lr_decay_fraction <= 1:
            raise ConfigError(f"lr_decay_fraction must be in [0, 1], got {self.lr_decay_fraction}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.fast_topk not in ("auto", "on", "off"):
            raise ConfigError(f"fast_topk must be auto, on or off, got {self.fast_topk!r}")
        if self.checkpoint_every < 0 or self.grad_clip < 0:
            raise ConfigError("checkpoint_every and grad_clip must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """Nested dict: `sae` holds the SAE config, other keys are training fields."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["sae"] = self.sae.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from the nested form (see the class docstring); unknown keys are errors."""
        if not isinstance(d, dict):
            raise ConfigError(f"a training config must be a mapping, got {type(d).__name__}")
        d = dict(d)
        sae = d.pop("sae", None) or {}
        sae = sae.to_dict() if isinstance(sae, SAEConfig) else dict(sae)
        names = {f.name for f in dataclasses.fields(cls)}
        train = {}
        for key, value in d.items():
            if key in names:
                train[key] = value
            else:  # an SAE field at the top level; SAEConfig.from_dict rejects unknown ones
                sae.setdefault(key, value)
        return cls(sae=SAEConfig.from_dict(sae), **train)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a YAML (.yaml/.yml) or JSON config file."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                d = yaml.safe_load(text) or {}
            else:
                d = json.loads(text)
        except Exception as exc:
            raise ConfigError(f"{path}: cannot parse config ({exc})") from None
        try:
            return cls.from_dict(d)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some training fields changed (SAE fields via `sae=`)."""
        return dataclasses.replace(self, **changes)
