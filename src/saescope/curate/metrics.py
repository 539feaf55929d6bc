"""Exact, streaming metrics of a selection: no seed x pool or selected x selected matrix.

For unit vectors `u_i` (selected, n of them) and `s_j` (seeds, m):

- average similarity to the seeds = mean_{i,j} cos(u_i, s_j) = (sum_i u_i) . (sum_j s_j) / (n m).
- diversity = 1 - mean_{i != j} cos(u_i, u_j) (one minus the average pairwise cosine similarity,
  the "intra-list similarity" of Ziegler et al., WWW 2005, with the diagonal excluded):
  sum_{i != j} u_i.u_j = |sum_i u_i|^2 - sum_i |u_i|^2, where |u_i|^2 = 1 (0 for a zero row).
- precision = |S & T| / |S|, recall = |S & T| / |T|, F1 = 2 P R / (P + R), with S the selection
  and T the pool rows whose label is a target (van Rijsbergen, Information Retrieval, 1979).

Only the running sums `sum u` (a D-vector) and counts are kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class UnitSum:
    """Running sum of unit vectors and the number of non-zero ones."""

    total: np.ndarray
    """float64 [D] sum of the unit vectors."""
    count: int = 0
    """Number of vectors added (zero vectors included)."""
    nonzero: int = 0
    """Number of non-zero vectors (each contributes 1 to the diagonal)."""

    @staticmethod
    def zeros(dim: int) -> UnitSum:
        return UnitSum(np.zeros(dim, dtype=np.float64))

    def add(self, total: np.ndarray, count: int, nonzero: int) -> None:
        self.total += total
        self.count += count
        self.nonzero += nonzero

    def add_rows(self, U: np.ndarray) -> None:
        """Add dense rows (unit or zero)."""
        U = np.asarray(U, dtype=np.float64)
        self.add(U.sum(axis=0), len(U), int((np.abs(U).sum(axis=1) > 0).sum()))


def avg_similarity(selected: UnitSum, seeds: UnitSum) -> float:
    """Mean cosine over all (selected, seed) pairs, from the two running sums."""
    if selected.count == 0 or seeds.count == 0:
        return float("nan")
    return float(selected.total @ seeds.total) / (selected.count * seeds.count)


def diversity(selected: UnitSum) -> float:
    """1 - mean pairwise cosine over the n(n-1) ordered pairs i != j (NaN for n < 2)."""
    n = selected.count
    if n < 2:
        return float("nan")
    off_diag = float(selected.total @ selected.total) - selected.nonzero
    return 1.0 - off_diag / (n * (n - 1))


def precision_recall_f1(n_selected: int, n_hits: int, n_targets: int) -> dict[str, float]:
    """Precision, recall and F1 of a selection with `n_hits` on-target rows out of `n_targets`."""
    p = n_hits / n_selected if n_selected else float("nan")
    r = n_hits / n_targets if n_targets else float("nan")
    f1 = 2 * p * r / (p + r) if n_selected and n_targets and (p + r) > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1}


@dataclass
class SelectionMetrics:
    """Accumulates the metrics of one selection over chunks of selected rows."""

    seeds_input: UnitSum | None
    """Unit sum of the seeds in the input (embedding) space."""
    seeds_space: UnitSum | None
    """Unit sum of the seeds in the selection space."""
    dim_input: int
    dim_space: int
    targets: set[str] | None = None
    """Target label values (None: no precision/recall)."""
    n_targets_in_pool: int = 0
    """Pool rows with a target label (recall denominator)."""
    sel_input: UnitSum = field(init=False)
    sel_space: UnitSum = field(init=False)
    labels: Counter = field(default_factory=Counter)
    hits: int = 0

    def __post_init__(self) -> None:
        self.sel_input = UnitSum.zeros(self.dim_input)
        self.sel_space = UnitSum.zeros(self.dim_space)

    def add_labels(self, labels: list[Any]) -> None:
        values = ["null" if v is None else str(v) for v in labels]
        self.labels.update(values)
        if self.targets is not None:
            self.hits += sum(v in self.targets for v in values)

    def result(self) -> dict[str, Any]:
        """`avg_similarity` and `diversity` in the input space (one yardstick for every space),
        `space_avg_similarity` / `space_diversity` in the selection's own space, and the
        label metrics when labels were given."""
        out: dict[str, Any] = {"n_selected": self.sel_input.count}
        out["avg_similarity"] = (
            avg_similarity(self.sel_input, self.seeds_input) if self.seeds_input else float("nan")
        )
        out["diversity"] = diversity(self.sel_input)
        out["space_avg_similarity"] = (
            avg_similarity(self.sel_space, self.seeds_space) if self.seeds_space else float("nan")
        )
        out["space_diversity"] = diversity(self.sel_space)
        if self.labels:
            out["label_distribution"] = dict(sorted(self.labels.items(), key=lambda kv: (-kv[1], kv[0])))
        if self.targets is not None:
            out.update(precision_recall_f1(self.sel_input.count, self.hits, self.n_targets_in_pool))
        return out
