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
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saescope.device import check_device_name
from saescope.errors import ConfigError
from saescope.execution import ExecutorConfig

# Keys sparsify writes that have no meaning here; accepted on load when they hold these values.
_SPARSIFY_NEUTRAL = {"skip_connection": False, "transcode": False, "activation": "topk"}


def check_field_types(cls: type, values: dict[str, Any]) -> None:
    """Refuse a value whose type is not its dataclass field's (`ConfigError` naming the field):
    JSON gives `"4"`, `2.5`, `null` or a list where an int is meant. An int is accepted for a
    float field; a bool is never a number; floats must be finite."""
    import math
    import typing

    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        hint = hints.get(name)
        if hint is None:
            continue
        args = typing.get_args(hint)
        allowed = [a for a in args if a is not type(None)] if args and type(None) in args else [hint]
        if value is None and len(allowed) < len(args or [hint]):
            continue
        if not any(_is_a(value, t) for t in allowed):
            want = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
            if len(allowed) < len(args or [hint]):
                want += " or null"
            raise ConfigError(f"field {name!r}: expected {want}, got {value!r} "
                              f"({type(value).__name__})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"field {name!r}: must be finite, got {value!r}")


def _is_a(value: Any, t: Any) -> bool:
    import numbers
    import typing

    origin = typing.get_origin(t) or t
    if origin is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if origin in (dict, list, tuple, str, bool):
        return isinstance(value, origin)
    return True  # Any, and types this check does not know


def default_expansion(n_rows: int | None) -> int:
    """Latents per input dimension for a corpus of `n_rows` training rows (None: 8).

    A latent needs training rows to fire on: at k = 32, expansion 4 on 384-d vectors (1,536
    latents) gives each latent about 20 firings per pass over 1,000 rows, while the old fixed
    32 (12,288 latents) left most of a small corpus's latents dead. Larger corpora support
    finer dictionaries; 16 is where Gao et al. 2024's scaling still pays on 100k+ rows.
    """
    if n_rows is None:
        return 8
    if n_rows < 10_000:
        return 4
    if n_rows < 100_000:
        return 8
    return 16


@dataclass
class SAEConfig:
    """The shape and architecture of a sparse autoencoder."""

    arch: str = "topk"
    """Architecture name from the registry: topk | batchtopk | relu | reward."""
    k: int = 32
    """Active latents per sample (topk, batchtopk: k on average over the batch)."""
    expansion_factor: int | None = None
    """num_latents = expansion_factor * d_in when num_latents is 0; None: chosen from the
    number of training rows (`default_expansion`: 4 under 10k rows, 8 under 100k, else 16)."""
    num_latents: int = 0
    """Number of latents M; 0 means expansion_factor * d_in (training stores the resolved M)."""
    normalize_decoder: bool | None = None
    """Keep decoder rows unit norm; None takes the architecture's default (all but relu)."""
    init_b_dec: str = "geometric_median"
    """Initial decoder bias: geometric_median | mean | zeros of a data sample."""
    init_encoder_scale: float = 1.0
    """The encoder starts as this multiple of the transposed decoder (unit-norm rows); 0.01
    is SAELens's effective start (`saescope.sae.init.scale_encoder`: lower FVU in short runs,
    more dead latents)."""
    d_in: int = 0
    """Input dimension; filled in from the data when training starts."""
    options: dict[str, Any] = field(default_factory=dict)
    """Architecture-specific options (see the architecture module's `Options`), flat in cfg.json."""

    def __post_init__(self) -> None:
        from saescope.sae.archs import (
            get_arch,  # the architectures import torch: not at CLI start-up
        )

        arch = get_arch(self.arch)  # ConfigError for an unknown name
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}")
        if self.expansion_factor is not None and self.expansion_factor < 1:
            raise ConfigError(f"expansion_factor must be >= 1, got {self.expansion_factor}")
        if self.num_latents < 0:
            raise ConfigError(f"num_latents must be >= 0, got {self.num_latents}")
        if self.init_b_dec not in ("geometric_median", "mean", "zeros"):
            raise ConfigError(
                f"init_b_dec must be geometric_median, mean or zeros, got {self.init_b_dec!r}"
            )
        if self.normalize_decoder is None:
            self.normalize_decoder = arch.normalize_decoder_default
        if not self.init_encoder_scale > 0:
            raise ConfigError(f"init_encoder_scale must be > 0, got {self.init_encoder_scale}")
        self.options = dataclasses.asdict(arch.parse_options(self.options))
        if self.d_in:
            self.check_sizes()

    def latents_for(self, d_in: int, n_rows: int | None = None) -> int:
        """M for inputs of dimension d_in (and `n_rows` training rows, for the default expansion)."""
        return self.num_latents or (self.expansion_factor or default_expansion(n_rows)) * d_in

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
        d = dict(d)
        if "expansion" in d:  # the old name (tune params, older config files)
            warnings.warn("SAE config key 'expansion' is deprecated: use 'expansion_factor'",
                          DeprecationWarning, stacklevel=2)
            d.setdefault("expansion_factor", d.pop("expansion"))
        if "options" in d:  # the nested form is accepted too
            d.update(d.pop("options") or {})
        names = {f.name for f in dataclasses.fields(cls)} - {"options"}
        common = {k: v for k, v in d.items() if k in names}
        check_field_types(cls, common)
        rest = {k: v for k, v in d.items() if k not in names}
        from saescope.sae.archs import get_arch

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


def read_config_file(path: str | Path) -> Any:
    """The mapping in a YAML (.yaml/.yml) or JSON file; ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text) or {}
        return json.loads(text)
    except Exception as exc:
        raise ConfigError(f"{path}: cannot parse config ({exc})") from None


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
        epochs: 20        # omit for early stopping on the validation FVU

    Command-line flags override the file.
    """

    sae: SAEConfig = field(default_factory=SAEConfig)
    """The SAE to train."""
    batch_size: int | None = None
    """Samples per optimiser step (the global batch under data-parallel training); None: a
    power of two near n_train / 100 in [64, 1024] (`saescope.sae.budget.auto_batch_size`)."""
    epochs: int | None = None
    """Fixed passes over the training data; None (with `steps` None): train until the
    validation FVU stops improving (early stopping), within `max_samples` and `max_epochs`."""
    steps: int | None = None
    """Fixed number of optimiser steps; overrides `epochs`."""
    max_samples: int = 100_000_000
    """Budget under early stopping, in training samples (what bounds a run on large data)."""
    max_epochs: int = 1000
    """Budget under early stopping, in passes (what bounds a run on small data)."""
    patience: int = 5
    """Early stopping: validation passes without a relative FVU improvement of `min_delta`."""
    min_delta: float = 0.002
    """Early stopping: relative validation-FVU improvement that counts as progress."""
    eval_every: int | None = None
    """Steps between validation passes; None: once an epoch, at least every 1M samples."""
    lr: float | None = None
    """Adam learning rate; None means 1.2e-3 / sqrt(M / 2**14) (`saescope.sae.train.default_lr`)."""
    lr_warmup_steps: int | None = None
    """Linear warm-up steps; None: 5% of a fixed run (at most 1000), one evaluation interval
    under early stopping."""
    lr_decay_fraction: float = 0.2
    """Linear decay of the learning rate to 0 at the end (warmup-stable-decay): over this
    fraction of a fixed run, or of the steps done when early stopping triggers."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0 disables)."""
    seed: int = 0
    """Seed for initialisation, shuffling, validation split and stochastic gates."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N (auto picks cuda when available)."""
    threads: int | None = None
    """CPU training: torch intra-op threads; None: 1 (fastest on small SAE steps, see
    benchmarks/cpu_train.py); 0 leaves torch's setting alone."""
    autocast: bool = True
    """bf16 autocast on CUDA (fp32 master weights); ignored on CPU."""
    fast_topk: str = "auto"
    """Sparse TopK kernels (gather-sum decode, sparse backward): auto (= on: faster on CPU and
    CUDA, see benchmarks/cpu_train.py) | on | off."""
    normalize_input: bool = True
    """Scale inputs so their mean norm is sqrt(d_in); the scale is folded into saved weights."""
    input_standardize: bool = False
    """Standardise each input dimension, (x - mean) / std on a training sample, instead of
    `normalize_input`: for LLM activations, whose few massive dimensions (Sun et al. 2024,
    "Massive Activations in Large Language Models", arXiv:2402.17762) otherwise dominate the
    squared error. The statistics are folded into the saved weights (so `encode` takes raw
    vectors and gives the trained codes) and saved in input_stats.safetensors; FVU is then
    reported on the standardised inputs."""
    val_fraction: float = 0.1
    """Held-out fraction for validation metrics when no validation data is given (a `split`
    column in the data takes precedence, see `saescope train`)."""
    eval_batch_size: int = 4096
    """Batch size for validation passes."""
    eval_max_rows: int = 65536
    """Validation rows used by the passes during training (all of them for the final metrics)."""
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
        for name in ("batch_size", "eval_batch_size", "log_every", "init_sample", "epochs",
                     "steps", "eval_every", "max_samples", "max_epochs", "patience",
                     "eval_max_rows"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.min_delta < 0:
            raise ConfigError(f"min_delta must be >= 0, got {self.min_delta}")
        if self.threads is not None and self.threads < 0:
            raise ConfigError(f"threads must be >= 0, got {self.threads}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.lr_decay_fraction <= 1:
            raise ConfigError(f"lr_decay_fraction must be in [0, 1], got {self.lr_decay_fraction}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        check_device_name(self.device)
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
        d = read_config_file(path)
        try:
            return cls.from_dict(d)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some training fields changed (SAE fields via `sae=`)."""
        return dataclasses.replace(self, **changes)

    def override(self, changes: dict[str, Any]) -> TrainConfig:
        """A copy with `changes` ({field: value}, `sae.<field>` for SAE fields) applied; None
        values are left out (a flag not given keeps the config file's value).

        A new `sae.arch` drops the old architecture's options (and its decoder-norm default); a
        new `sae.expansion_factor` resets `sae.num_latents` to 0 (give one of the two); `epochs`
        clears `steps`.
        """
        given = {key: value for key, value in changes.items() if value is not None}
        d = self.to_dict()
        if given.get("sae.arch", d["sae"]["arch"]) != d["sae"]["arch"]:
            keep = ("k", "expansion_factor", "num_latents", "init_b_dec")
            d["sae"] = {key: d["sae"][key] for key in keep}
        if "sae.expansion_factor" in given:
            d["sae"]["num_latents"] = 0
        if "epochs" in given:
            d["steps"] = None
        for key, value in given.items():
            group, _, name = key.rpartition(".")
            (d[group] if group else d)[name] = value
        return TrainConfig.from_dict(d)


@dataclass
class TrainRunConfig:
    """One run of the train stage (`saescope.sae.run_train`): input, output folder, training."""

    input: str | None = None
    """Vectors: .npy, .safetensors, or Parquet file/folder."""
    out: str | None = None
    """Output folder (cfg.json, sae.safetensors, ...)."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """How to train the SAE."""
    column: str | None = None
    """Parquet vector column (default: embedding or emb)."""
    drop_nonfinite: bool = False
    """Drop rows with NaN/Inf instead of failing."""
    resume: bool = False
    """Continue from DIR's last checkpoint."""
    overwrite: bool = False
    """Replace an existing output folder."""

    def __post_init__(self) -> None:
        if isinstance(self.train, dict):
            self.train = TrainConfig.from_dict(self.train)


@dataclass
class EncodeConfig:
    """One run of the encode stage (`saescope.sae.run_encode`, `saescope encode`)."""

    sae: str = ""
    """SAE folder (cfg.json + sae.safetensors)."""
    input: str = ""
    """Vectors: .npy, .safetensors, or Parquet file/folder."""
    out: str = ""
    """Output Parquet: id, sae_idx, sae_val per row (a folder of parts with the Ray executor)."""
    batch_size: int = 4096
    """Rows per batch."""
    device: str = "auto"
    """auto | cpu | cuda."""
    column: str | None = None
    """Parquet vector column."""
    drop_nonfinite: bool = False
    """Skip rows with NaN/Inf instead of failing."""
    overwrite: bool = False
    """Replace an existing output file."""
    pool_tokens: str | None = None
    """Per-token input (`activations --per-token`): pool the tokens' codes into one row per
    document: max | mean | topk (`saescope.sae.encode.TokenPooling`)."""
    pool_top_k: int = 8
    """K of `pool_tokens` topk: each latent's K largest token activations are averaged."""
    dense: bool = False
    """With `pool_tokens`: also write the pooled codes as a dense `embedding` column (so curate
    reads the documents as vectors)."""
    execution: ExecutorConfig = field(default_factory=ExecutorConfig)
    """This machine or a Ray cluster."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.pool_tokens is not None:
            from saescope.sae.encode import TokenPooling

            TokenPooling(how=self.pool_tokens, top_k=self.pool_top_k)  # checks both
            if self.execution.executor == "ray":
                raise ConfigError("--pool-tokens is local-only (a document's tokens may span "
                                  "input files)")
