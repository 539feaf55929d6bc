"""Train/validation splits: random, or group-aware (all rows of a group on one side).

Group-aware splits matter for corpora such as Wikipedia paragraphs: paragraphs of one article
are near-duplicates of each other, so a row-level split leaks them into validation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from saescope.errors import ConfigError, InputError

log = logging.getLogger(__name__)


def _check_fraction(val_fraction: float) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")


def random_split(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx), sorted int64; validation holds round(n * val_fraction) rows."""
    _check_fraction(val_fraction)
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    n_val = int(round(n * val_fraction))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)


def holdout_rows(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx), sorted: the trainer's held-out rows when the data has no split.

    round(n * val_fraction) rows, at least 1 and at most n - 1, drawn with the seed stream
    [seed, 7] (independent of the shuffling streams the trainer draws from `seed`).
    """
    _check_fraction(val_fraction)
    perm = np.random.default_rng([seed, 7]).permutation(n)
    n_val = min(max(1, int(round(n * val_fraction))), n - 1)
    return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)


def rows_of_split_column(split: Sequence | np.ndarray | pa.Array | pa.ChunkedArray,
                         source: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx), sorted int64, from a `split` column (`train` / `val`).

    The column `saescope embed --val-fraction/--group-field` writes; any other value (or a
    null) is an InputError naming the first bad row.
    """
    values = split.to_pylist() if isinstance(split, (pa.Array, pa.ChunkedArray)) else list(split)
    labels = np.asarray(values, dtype=object)
    bad = np.flatnonzero(~np.isin(labels, ["train", "val"]))
    if len(bad):
        raise InputError(f"{source}: split column has {labels[bad[0]]!r} at row {int(bad[0])} "
                         "(expected 'train' or 'val')")
    is_val = labels == "val"
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def rows_of_table_split(table: Any, source: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(X_train, X_val or None) of a `VectorTable`: the rows its own `split` column assigns
    (None where it has none, or marks no row 'val': a warning, the caller holds rows out)."""
    if table.meta is None or "split" not in table.meta.column_names:
        return table.X, None
    train_idx, val_idx = rows_of_split_column(table.meta["split"], source)
    if len(val_idx) == 0:
        warnings.warn(f"{source}: the split column marks no row 'val'; holding out rows at random",
                      UserWarning, stacklevel=2)
        return table.X[train_idx], None
    if len(train_idx) == 0:
        raise InputError(f"{source}: the split column marks every row 'val'")
    return table.X[train_idx], table.X[val_idx]


def group_split(
    groups: Sequence | np.ndarray | pa.Array | pa.ChunkedArray, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx), sorted int64, with every group entirely on one side.

    Groups are visited in a seeded random order and added to validation while that brings
    its row count closer to `n * val_fraction`. Null groups are an error.
    """
    _check_fraction(val_fraction)
    if isinstance(groups, (pa.Array, pa.ChunkedArray)):
        if groups.null_count:
            raise InputError(f"group column has {groups.null_count} null values")
        groups = groups.to_pylist()
    values = list(groups)
    n = len(values)
    if any(g is None for g in values):
        raise InputError(f"group column has null values (first at row {values.index(None)})")
    uniq, inverse, counts = np.unique(np.asarray(values, dtype=object).astype(str),
                                      return_inverse=True, return_counts=True)
    target = n * val_fraction
    order = np.random.default_rng(seed).permutation(len(uniq))
    in_val = np.zeros(len(uniq), dtype=bool)
    size = 0
    for g in order:
        if abs(size + counts[g] - target) < abs(size - target):
            in_val[g] = True
            size += counts[g]
    val_mask = in_val[inverse]
    return np.flatnonzero(~val_mask).astype(np.int64), np.flatnonzero(val_mask).astype(np.int64)


def split_column(
    table: pa.Table, val_fraction: float, seed: int = 0, group_field: str | None = None
) -> pa.Array:
    """A `split` column (`train` / `val`) for `table`, group-aware when `group_field` is given."""
    if group_field is not None:
        if group_field not in table.column_names:
            raise InputError(
                f"no group column {group_field!r} (columns: {', '.join(table.column_names)})"
            )
        _, val_idx = group_split(table[group_field], val_fraction, seed)
    else:
        _, val_idx = random_split(table.num_rows, val_fraction, seed)
    if val_fraction > 0 and (len(val_idx) == 0 or len(val_idx) == table.num_rows):
        side = "empty" if len(val_idx) == 0 else "the whole table"
        log.warning("the validation split is %s (too few groups for val_fraction=%s)", side, val_fraction)
    labels = np.full(table.num_rows, "train", dtype=object)
    labels[val_idx] = "val"
    return pa.array(labels.tolist(), pa.string())
