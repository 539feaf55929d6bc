"""The outcome to explain: a label or numeric column, or "row from A, not B" (`compare`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saescope.errors import ConfigError, InputError
from saescope.hypotheses.config import HypothesesConfig


@dataclass
class Outcome:
    """Vectors, outcome and texts of every row (A rows then B rows with `compare`)."""

    X: np.ndarray
    y: np.ndarray
    """[N] float64 outcome: 0/1 when binary."""
    binary: bool
    ids: np.ndarray
    texts: list[str] | None
    groups: np.ndarray
    """[N] split groups: the normalised text, or the row when there are no texts."""
    source: str
    positive: str | None = None

    @property
    def by_text(self) -> bool:
        return self.texts is not None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source": self.source, "binary": self.binary, "n_rows": int(len(self.y))}
        if self.binary:
            d.update({"positive": self.positive, "n_positive": int(self.y.sum())})
        else:
            d.update({"mean": float(self.y.mean()), "std": float(self.y.std())})
        return d


def read_outcome(cfg: HypothesesConfig) -> Outcome:
    """Read the vectors (and B), the outcome and the texts named by `cfg`."""
    from saescope.interpret.inputs import read_vectors_with_texts

    a = read_vectors_with_texts(cfg.vectors, cfg.texts, cfg.text_field, cfg.id_field, cfg.column, need_texts=False)
    texts_a = _texts_or_none(a)
    if cfg.compare:
        b = read_vectors_with_texts(cfg.compare, cfg.texts, cfg.text_field, cfg.id_field, cfg.column, need_texts=False)
        if b.X.shape[1] != a.X.shape[1]:
            raise InputError(f"{cfg.compare}: vectors have dimension {b.X.shape[1]}, {cfg.vectors} has {a.X.shape[1]}")
        texts_b = _texts_or_none(b)
        texts = texts_a + texts_b if texts_a is not None and texts_b is not None else None
        X = np.concatenate([a.X, b.X])
        y = np.r_[np.ones(len(a.X)), np.zeros(len(b.X))]
        ids = np.concatenate([a.ids, b.ids])
        return Outcome(X, y, True, ids, texts, _groups(texts, len(X)), f"{cfg.vectors} (1) vs {cfg.compare} (0)", "A")
    if not cfg.label_field:
        raise ConfigError("give --label-field F (a label or numeric column) or --compare B_VECTORS")
    values = _label_column(cfg, a.meta, a.ids)
    y, binary, positive = _encode_outcome(values, cfg)
    return Outcome(a.X, y, binary, a.ids, texts_a, _groups(texts_a, len(a.X)), f"{cfg.vectors}:{cfg.label_field}",
                   positive)


def _texts_or_none(v: Any) -> list[str] | None:
    return v.texts if any(v.texts) else None


def _groups(texts: list[str] | None, n: int) -> np.ndarray:
    if texts is None:
        return np.arange(n).astype(str)
    return np.asarray([" ".join(t.split()).lower() for t in texts], dtype=object)


def _label_column(cfg: HypothesesConfig, meta: Any, ids: np.ndarray) -> list[Any]:
    """The label of every row: a column of the vectors file, else of the --texts corpus (by id)."""
    if meta is not None and cfg.label_field in meta.column_names:
        return meta[cfg.label_field].to_pylist()
    if cfg.texts:
        from saescope.data.corpus import read_corpus

        table = read_corpus(cfg.texts, text_field=cfg.text_field, id_field=cfg.id_field, empty="keep",
                            on_error_flag=None)
        if cfg.label_field in table.column_names:
            by_id = dict(zip((str(i) for i in table["id"].to_pylist()), table[cfg.label_field].to_pylist(),
                             strict=True))
            return [by_id.get(str(i)) for i in ids]
    cols = ", ".join(meta.column_names) if meta is not None else "none"
    raise InputError(f"{cfg.vectors}: no label column {cfg.label_field!r} (columns: {cols})")


def _encode_outcome(values: list[Any], cfg: HypothesesConfig) -> tuple[np.ndarray, bool, str | None]:
    """0/1 for a two-valued label (or `positive` against the rest), floats for a numeric outcome."""
    field = cfg.label_field
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise InputError(f"{cfg.vectors}: label {field!r} is missing at row {missing[0]} ({len(missing)} rows)")
    distinct = sorted({str(v) for v in values})
    if cfg.positive is not None:
        if cfg.positive not in distinct:
            shown = ", ".join(distinct[:20])
            raise InputError(f"--positive {cfg.positive!r} does not occur in {field!r} (values: {shown})")
        return np.asarray([str(v) == cfg.positive for v in values], np.float64), True, cfg.positive
    numeric = all(isinstance(v, (int, float, bool, np.number)) for v in values)
    if len(distinct) == 2:
        positive = "True" if "True" in distinct else ("1" if "1" in distinct else distinct[1])
        return np.asarray([str(v) == positive for v in values], np.float64), True, positive
    if numeric and len(distinct) > 2:
        return np.asarray(values, np.float64), False, None
    shown = ", ".join(distinct[:20])
    raise InputError(f"{cfg.vectors}: label {field!r} has {len(distinct)} values; choose one with --positive "
                     f"({shown})")
