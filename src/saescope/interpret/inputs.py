"""Inputs of a run from files: the SAE, its vectors with ids, and the text of every vector row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saescope.errors import ConfigError, InputError

DEAD_KEYS = ("dead_fraction_train", "train_dead_fraction", "dead_fraction")
"""Keys of the SAE folder's metrics.json that hold its dead-latent fraction, in order of preference."""


@dataclass
class VectorsWithTexts:
    """Vectors [N, d], their ids and texts, read from a vectors file and an optional corpus."""

    X: np.ndarray
    ids: np.ndarray
    texts: list[str]
    meta: Any
    """The other columns of the vectors file (a pyarrow Table) or None."""


def read_vectors_with_texts(
    data: str | Path,
    texts: str | Path | None = None,
    text_field: str = "text",
    id_field: str = "id",
    column: str | None = None,
    need_texts: bool = True,
) -> VectorsWithTexts:
    """Vectors of `data` and the text of each row: a column of `data`, or `texts` joined on id."""
    from saescope.data.vectors import check_unique_ids, check_vectors, read_vectors

    vt = read_vectors(data, column=column, id_field=id_field)
    check_vectors(vt.X, str(data))
    ids = np.asarray([str(i) for i in vt.ids], dtype=object)
    check_unique_ids(ids, str(data))
    if texts is None and not need_texts and (vt.meta is None or text_field not in vt.meta.column_names):
        return VectorsWithTexts(vt.X, ids, [""] * len(ids), vt.meta)
    return VectorsWithTexts(vt.X, ids, _texts(vt.meta, ids, Path(data), texts, text_field, id_field), vt.meta)


def _texts(meta: Any, ids: np.ndarray, data: Path, texts: str | Path | None, text_field: str, id_field: str) -> list[str]:
    if texts is None:
        if meta is None or text_field not in meta.column_names:
            raise InputError(
                f"{data}: no text column {text_field!r}; give --texts CORPUS (joined on {id_field!r}) or --text-field"
            )
        return [t if isinstance(t, str) else "" for t in meta[text_field].to_pylist()]
    if meta is None or id_field not in meta.column_names:
        raise InputError(f"{data}: no {id_field!r} column to join with --texts {texts}")
    from saescope.data.corpus import read_corpus

    table = read_corpus(texts, text_field=text_field, id_field=id_field, empty="keep", on_error_flag=None)
    by_id = dict(zip((str(i) for i in table["id"].to_pylist()), table["text"].to_pylist(), strict=True))
    out = []
    for row, i in enumerate(ids):
        t = by_id.get(i)
        if t is None:
            raise InputError(f"{texts}: no text for id {i!r} (row {row} of {data})")
        out.append(t)
    return out


def load_sae(sae_dir: str | Path, d_in: int | None = None, data: str | Path | None = None) -> Any:
    """The SAE of a folder, checked against the dimension of the vectors when given."""
    from saescope.sae import SparseAutoencoder

    if sae_dir is None:
        raise ConfigError("an SAE folder is required (cfg.sae / SAE_DIR)")
    sae = SparseAutoencoder.load(sae_dir, device="cpu")
    if d_in is not None and d_in != sae.d_in:
        raise InputError(f"{data}: vectors have dimension {d_in}, the SAE in {sae_dir} expects {sae.d_in}")
    return sae


def sae_dead_fraction(sae_dir: str | Path | None) -> dict[str, Any] | None:
    """The SAE's own dead-latent figure (counted over its training data) from SAE_DIR/metrics.json.

    Interpretation shows this figure instead of counting its own (`counts.dead` is only "selected
    latents that never fire on the interpreted data"). None when the folder has no such metric.
    """
    if sae_dir is None:
        return None
    path = Path(sae_dir) / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for scope in (metrics, metrics.get("train") if isinstance(metrics.get("train"), dict) else {}):
        for key in DEAD_KEYS:
            val = scope.get(key) if isinstance(scope, dict) else None
            if isinstance(val, (int, float)):
                window = scope.get("dead_window")
                return {"dead_fraction": float(val), "source": f"{path} ({key})",
                        "training_rows": int(window) if isinstance(window, (int, float)) else None}
    return None
