"""Global selection over the per-shard scores: threshold, budget, per-cluster quotas, dedup.

Order of operations:
1. Keep rows with a finite score, and with `score >= threshold` when a threshold is given.
2. Sort by score (descending). Ties are broken by a keyed hash of the id when a `tie_seed` is
   given (a random order, fixed by the seed), else by id; either way the result does not
   depend on shard order.
3. Per-cluster quotas (when clusters are given): rows are taken in the order of the
   D'Hondt (Jefferson) highest-averages method, priority `(r + 1) / w_k` for the row of
   within-cluster rank `r` in cluster `k` of weight `w_k` (`equal`: every cluster weighs 1, a
   round robin; `seeds`: the number of seeds in the cluster). The method is house-monotone:
   every prefix of this order is the apportionment for that budget, and a cluster with too few
   rows above the threshold leaves its share to the others. Clusters of weight 0 come last.
4. Near-duplicate removal (optional): walking that order, a row whose cosine to an already
   kept row is >= `dedup` is dropped.
5. The first `budget` rows are the selection; `rank` is 1-based in this order.

With a budget and neither quotas nor dedup, `TopRows` finds the same selection shard by shard
without the pool's ids: a partial selection (`numpy.argpartition`) keeps each shard's rows that
can still be among the best `budget` (all rows tied with the `budget`-th score included), and only
those rows' ids are read to order them by the rule above. Memory: one shard plus the kept rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from saescope.errors import InputError


def candidate_order(
    ids: np.ndarray,
    score: np.ndarray,
    cluster: np.ndarray | None = None,
    threshold: float | None = None,
    cluster_weights: np.ndarray | None = None,
    tie_seed: int | None = None,
) -> np.ndarray:
    """Indices of the candidate rows in selection order (steps 1-3)."""
    score = np.asarray(score, dtype=np.float64)
    keep = np.isfinite(score)
    if threshold is not None:
        keep &= score >= threshold
    cand = np.flatnonzero(keep)
    ids_c = np.asarray(ids, dtype=str)[cand]
    order = cand[np.lexsort((ids_c, -score[cand]))]
    if tie_seed is not None:
        order = _shuffle_ties(order, score, np.asarray(ids, dtype=str), tie_seed)
    if cluster is None or len(order) == 0:
        return order
    cl = np.asarray(cluster)[order]
    if (cl < 0).any():
        return order
    k = int(cl.max()) + 1
    w = np.ones(k) if cluster_weights is None else np.asarray(cluster_weights, dtype=np.float64)
    if len(w) < k:
        raise ValueError(f"{len(w)} cluster weights for cluster ids up to {k - 1}")
    # within-cluster rank r of each row, in score order
    by_cluster = np.argsort(cl, kind="stable")
    sorted_cl = cl[by_cluster]
    starts = np.searchsorted(sorted_cl, sorted_cl, side="left")
    rank = np.empty(len(cl), dtype=np.float64)
    rank[by_cluster] = np.arange(len(cl)) - starts
    with np.errstate(divide="ignore"):
        priority = np.where(w[cl] > 0, (rank + 1.0) / np.where(w[cl] > 0, w[cl], 1.0), np.inf)
    return order[np.argsort(priority, kind="stable")]


def _shuffle_ties(order: np.ndarray, score: np.ndarray, ids: np.ndarray, seed: int) -> np.ndarray:
    """Reorder runs of equal score by a keyed hash of the id (hashing only the tied rows)."""
    from saescope.curate.spaces.random import random_scores

    s = score[order]
    eq = s[1:] == s[:-1]
    tied = np.zeros(len(order), dtype=bool)
    tied[1:] |= eq
    tied[:-1] |= eq
    if not tied.any():
        return order
    key = np.zeros(len(order), dtype=np.float64)
    key[tied] = random_scores(ids[order[tied]], seed)
    return order[np.lexsort((key, -s))]


def select(
    ids: np.ndarray,
    score: np.ndarray,
    budget: int | None,
    cluster: np.ndarray | None = None,
    threshold: float | None = None,
    cluster_weights: np.ndarray | None = None,
    dedup: float | None = None,
    fetch_unit: Callable[[np.ndarray], np.ndarray] | None = None,
    block: int = 4096,
    tie_seed: int | None = None,
) -> np.ndarray:
    """Indices of the selected rows in rank order (see the module docstring).

    `fetch_unit(indices)` returns the unit input vectors of those rows (needed by `dedup`).
    """
    n = len(score)
    if budget is not None and budget > n:
        raise InputError(f"budget {budget} is larger than the pool ({n} rows)")
    order = candidate_order(ids, score, cluster, threshold, cluster_weights, tie_seed)
    limit = len(order) if budget is None else min(budget, len(order))
    if dedup is None:
        return order[:limit]
    if fetch_unit is None:
        raise ValueError("dedup needs fetch_unit")
    kept: list[np.ndarray] = []
    kept_vecs: list[np.ndarray] = []
    n_kept = 0
    pos = 0
    while n_kept < limit and pos < len(order):
        idx = order[pos : pos + block]
        pos += len(idx)
        U = np.asarray(fetch_unit(idx), dtype=np.float32)
        # drop rows too close to rows kept in earlier blocks (chunked, never kept x kept)
        dup = np.zeros(len(idx), dtype=bool)
        for V in kept_vecs:
            dup |= (U @ V.T).max(axis=1) >= dedup
        G = U @ U.T  # block x block, bounded by `block`
        take: list[int] = []
        for i in range(len(idx)):
            if dup[i]:
                continue
            if take and G[i, take].max() >= dedup:
                continue
            take.append(i)
            if n_kept + len(take) >= limit:
                break
        kept.append(idx[take])
        kept_vecs.append(U[take])
        n_kept += len(take)
    return np.concatenate(kept)[:limit] if kept else order[:0]


@dataclass
class TopRows:
    """The rows that can be among the best `budget` scores, fed shard by shard (`add`).

    Keeps at most `budget` rows plus every row tied with the `budget`-th best score, so the final
    order (`order`) is that of `candidate_order` over the whole pool."""

    budget: int
    """Rows to select."""
    pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """int64 row positions in the pool of the kept rows."""
    score: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    """Their scores (finite, above the threshold)."""

    def add(self, pos: np.ndarray, score: np.ndarray) -> None:
        """Offer rows (positions, finite scores); keeps the best `budget` and their ties."""
        pos = np.concatenate([self.pos, np.asarray(pos, dtype=np.int64)])
        score = np.concatenate([self.score, np.asarray(score, dtype=np.float64)])
        if len(score) > self.budget:
            kth = score[np.argpartition(-score, self.budget - 1)[self.budget - 1]]
            keep = score >= kth
            pos, score = pos[keep], score[keep]
        self.pos, self.score = pos, score

    def order(self, fetch_ids: Callable[[np.ndarray], np.ndarray], tie_seed: int | None = None
              ) -> np.ndarray:
        """Positions of the selected rows in rank order; `fetch_ids(positions)` reads the ids of
        the kept rows only (for the tie-breaks)."""
        sort = np.argsort(self.pos, kind="stable")
        pos, score = self.pos[sort], self.score[sort]
        ids = np.asarray(fetch_ids(pos), dtype=object)
        return pos[candidate_order(ids, score, tie_seed=tie_seed)][: self.budget]
