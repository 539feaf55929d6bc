"""The fit phase's state on disk (`fit/state.safetensors` + `fit/space.json`), SAE loading,
hashes, and the pool layout as JSON (for worker processes)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from saescope.curate.layout import PoolLayout, Shard
from saescope.curate.spaces import FittedSpace
from saescope.errors import InputError
from saescope.io import atomic_path, read_json, write_json

STATE_FILE = "state.safetensors"
SPACE_FILE = "space.json"


def save_space(fit_dir: Path, space: FittedSpace, info: dict[str, Any]) -> None:
    """Write the fitted arrays and metadata (+ `info`, what the fit depends on); JSON last."""
    from safetensors.numpy import save_file

    arrays, meta = space.state()
    fit_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(fit_dir / STATE_FILE) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
    write_json(fit_dir / SPACE_FILE, {"meta": meta, "info": info})


def saved_info(fit_dir: Path) -> dict[str, Any] | None:
    """The `info` a previous fit was made with, or None when there is no complete fit."""
    if not (fit_dir / SPACE_FILE).is_file() or not (fit_dir / STATE_FILE).is_file():
        return None
    return read_json(fit_dir / SPACE_FILE).get("info")


def load_space(fit_dir: Path, sae_dir: str | None, device: str) -> FittedSpace:
    from safetensors.numpy import load_file

    arrays = load_file(str(fit_dir / STATE_FILE))
    meta = read_json(fit_dir / SPACE_FILE)["meta"]
    return FittedSpace.from_state(arrays, meta, sae=load_sae_for(meta, sae_dir, device), device=device)


def load_sae_for(meta: dict[str, Any], sae_dir: str | None, device: str) -> Any:
    """The SAE when the space needs it (sae spaces, feature selection), else None."""
    from saescope.curate.spaces import DENSE_SPACES

    if meta["name"] in DENSE_SPACES and not meta.get("needs_sae"):
        return None
    if sae_dir is None:
        raise InputError(f"space {meta['name']!r} needs an SAE folder")
    sae = load_sae(sae_dir, device)
    if meta.get("codes_are_inputs"):  # the pool's rows are this SAE's pooled codes
        from saescope.sae.encode import PooledCodesSAE

        return PooledCodesSAE(sae)
    return sae


def load_sae(folder: str | Path, device: str = "cpu") -> Any:
    """`saescope.sae.SparseAutoencoder.load`, with an error naming the folder."""
    from saescope.sae import SparseAutoencoder

    folder = Path(folder)
    for name in ("cfg.json", "sae.safetensors"):
        if not (folder / name).is_file():
            raise InputError(f"{folder}: not an SAE folder (no {name})")
    sae = SparseAutoencoder.load(folder, device=device)
    sae.eval()
    return sae


def sae_hash(folder: str | Path) -> str:
    from saescope.sae.encode import sae_file_hash

    return sae_file_hash(folder)


def seed_hash(ids: np.ndarray, X: np.ndarray) -> str:
    """sha256 of the seed ids and vectors (float32, row order)."""
    h = hashlib.sha256()
    h.update("\n".join(str(i) for i in ids).encode())
    h.update(np.ascontiguousarray(X, dtype=np.float32).tobytes())
    return h.hexdigest()


def layout_to_dict(layout: PoolLayout) -> dict[str, Any]:
    return {
        "shards": [s.to_dict() for s in layout.shards], "vector_column": layout.vector_column,
        "id_column": layout.id_column, "num_rows": layout.num_rows, "dim": layout.dim,
    }  # fmt: skip


def layout_from_dict(d: dict[str, Any]) -> PoolLayout:
    return PoolLayout(tuple(Shard.from_dict(s) for s in d["shards"]), d["vector_column"],
                      d["id_column"], pa.schema([]), int(d["num_rows"]), int(d["dim"]))
