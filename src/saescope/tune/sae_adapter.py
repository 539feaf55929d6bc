"""The one place where tune meets `saescope.sae`: trial params -> `TrainConfig` -> metrics."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from saescope.errors import ConfigError

# Keys that each trial sets; a base config's values for them are replaced.
_SEARCHED_SAE = ("arch", "k", "expansion_factor", "num_latents")


def penalty_options(archs: tuple[str, ...]) -> dict[str, str]:
    """The sparsity option each penalty arch in `archs` declares (`Architecture.sparsity_option`);
    k-architectures are left out. ConfigError for unknown archs."""
    from saescope.sae.archs import get_arch

    out = {}
    for name in archs:
        arch = get_arch(name)  # ConfigError naming the registry for an unknown name
        option = arch.sparsity_option
        if option is not None:
            fields = {f.name for f in dataclasses.fields(arch.Options)}
            if option not in fields:
                raise ConfigError(f"architecture {name!r} has no option {option!r} to tune")
            out[name] = option
    return out


def load_base_config(path: str | Path) -> dict[str, Any]:
    """Read a `saescope train --config` file as the fixed part of every trial.

    Validated with `TrainConfig.load` (errors name the file) but kept as written, so that
    defaults that depend on the architecture (e.g. `normalize_decoder`) follow each trial's
    architecture.
    """
    from saescope.sae import TrainConfig
    from saescope.sae.config import read_config_file

    TrainConfig.load(path)
    return check_base(read_config_file(path), source=str(path))


def check_base(base: dict[str, Any], source: str = "base config") -> dict[str, Any]:
    """Normalise a base config to the nested form; ConfigError (naming `source`) if invalid.

    The searched keys (`lr`, `sae.arch`, `sae.k`, `sae.expansion_factor`, `sae.num_latents`)
    are dropped: each trial sets them. SAE options must belong to some architecture; each
    trial keeps those its architecture has.
    """
    from saescope.sae import TrainConfig
    from saescope.sae.archs import get_arch, names
    from saescope.sae.config import SAEConfig

    base = copy.deepcopy(dict(base))
    sae = dict(base.pop("sae", None) or {})
    train_names = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in list(base):
        if key not in train_names:  # an SAE field at the top level, as TrainConfig allows
            sae.setdefault(key, base.pop(key))
    for key in _SEARCHED_SAE:
        sae.pop(key, None)
    base.pop("lr", None)
    common = {f.name for f in dataclasses.fields(SAEConfig)}
    options = {f.name for a in names() for f in dataclasses.fields(get_arch(a).Options)}
    unknown = sorted(k for k in sae if k not in common and k not in options)
    if unknown:
        raise ConfigError(f"{source}: unknown SAE field(s) {', '.join(unknown)}")
    try:
        TrainConfig.from_dict(base)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if sae:
        base["sae"] = sae
    return base


def _with_arch(base: dict[str, Any], arch: str) -> dict[str, Any]:
    """`base` with its SAE options reduced to those `arch` has (others belong to other archs)."""
    from saescope.sae.archs import get_arch
    from saescope.sae.config import SAEConfig

    d = copy.deepcopy(base)
    sae = dict(d.get("sae") or {})
    common = {f.name for f in dataclasses.fields(SAEConfig)}
    known = {f.name for f in dataclasses.fields(get_arch(arch).Options)}
    d["sae"] = {"arch": arch, **{k: v for k, v in sae.items() if k in common or k in known}}
    return d


def train_config_dict(params: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The `TrainConfig.from_dict` form of a trial: `base` plus the trial's params."""
    from saescope.sae import TrainConfig

    d = _with_arch(base, params["arch"])
    sae = d["sae"]
    sae["expansion_factor"] = int(params["expansion"])
    if params.get("k") is not None:
        sae["k"] = int(params["k"])
    from saescope.sae.archs import get_arch

    option = get_arch(params["arch"]).sparsity_option
    if option is not None:
        sae[option] = float(params[option])
    d["lr"] = float(params["lr"])
    TrainConfig.from_dict(d)  # fail here, with the field named, rather than in a trial
    return {"sae": sae, **{k: v for k, v in d.items() if k != "sae"}}


def train_trial(
    X_train: np.ndarray, X_val: np.ndarray, params: dict[str, Any], base: dict[str, Any]
) -> dict[str, float]:
    """Train one trial's SAE on `X_train`; its validation metrics on `X_val` (fvu, l0, ...)."""
    from saescope.sae import TrainConfig, train_sae

    cfg = TrainConfig.from_dict(train_config_dict(params, base))
    result = train_sae(X_train, cfg, val_data=X_val, progress=False)
    return dict(result.metrics)
