"""Curation quality over seed draws, in memory: the loop behind the demo's table and the benchmarks.

One draw holds out `n_seeds` rows of the target as seeds (`seed_pool_split`, the one rule for
it, with `numpy.random.default_rng(first_seed + draw)`), ranks the rest with each space
(`fit_space` -> `FittedSpace.score` -> `candidate_order`, what `saescope curate` runs, with its
rule that a pool row whose text is a seed's is not a candidate) and measures precision at each
budget: the fraction of the top `b` rows that are on target. Not run: the threshold, quotas and
dedup (the benchmarks use none of them).

"Gap closed" compares a method with a baseline against the best attainable precision,
`min(1, n_target_in_pool / b)`: `(p_method - p_base) / (p_best - p_base)` (as asked in the
project's issue 17; 1 is perfect, 0 no better than the baseline, negative worse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def seed_pool_split(is_target: np.ndarray, n_seeds: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(seed row indices, boolean pool mask): `n_seeds` target rows drawn without replacement;
    the pool is every other row."""
    target_rows = np.flatnonzero(is_target)
    if len(target_rows) <= n_seeds:
        raise ValueError(f"only {len(target_rows)} target rows, need more than {n_seeds} seeds")
    seeds = rng.choice(target_rows, size=n_seeds, replace=False)
    pool = np.ones(len(is_target), dtype=bool)
    pool[seeds] = False
    return seeds, pool


@dataclass
class DrawResults:
    """Precision of each space at each budget, one value per draw."""

    budgets: tuple[int, ...]
    precision: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    """space -> budget -> per-draw precision."""
    best: dict[int, float] = field(default_factory=dict)
    """budget -> best attainable precision."""
    seconds: dict[str, list[float]] = field(default_factory=dict)
    """space -> per-draw seconds to fit and score the pool (cost per row: divide by its rows)."""

    def summary(self, space: str, budget: int) -> dict[str, float]:
        """Mean, std, min and max over the draws."""
        v = np.asarray(self.precision[space][budget])
        return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                "max": float(v.max())}


def precision_over_draws(X: np.ndarray, ids: np.ndarray, is_target: np.ndarray,
                         spaces: list[str], budgets: tuple[int, ...], draws: int, n_seeds: int,
                         sae: Any = None, first_seed: int = 1000, texts: np.ndarray | None = None,
                         fit_sample: float = 1.0, use_text: bool = True, first_draw: int = 0,
                         **fit_kw: Any) -> DrawResults:
    """Precision of each space over `draws` seed draws (see the module docstring); `texts` (one
    per row) feed the lexical channel of `embedding-graph`, and, as in `saescope curate`, a pool
    row whose stripped text is a seed's is not a candidate (`seed_duplicate_mask`). The SAE codes
    of all rows are computed once and sliced for each draw (the encoder is row-wise).
    `fit_sample` < 1: the spaces are fitted on that uniform fraction of the pool (as `saescope
    curate` fits on `fit_sample` rows of a larger pool) and score the whole pool. `use_text`
    False: the spaces do not read the texts (`saescope curate --no-use-text`), but the
    seed-duplicate rule still does, as in `saescope curate`. `first_draw`: the draws run are
    `first_draw .. first_draw + draws - 1` (one draw at a time gives the same figures)."""
    import time

    from saescope.curate.select import candidate_order
    from saescope.curate.spaces import GraphConfig, encode_codes, fit_space
    from saescope.curate.spaces.graph import first_pass_depth

    if not 0 < fit_sample <= 1:
        raise ValueError(f"fit_sample must be in (0, 1], got {fit_sample}")
    out = DrawResults(tuple(budgets), {s: {b: [] for b in budgets} for s in spaces},
                      seconds={s: [] for s in spaces})
    n_in_pool = int(is_target.sum()) - n_seeds
    out.best = {b: min(1.0, n_in_pool / b) for b in budgets}
    codes = encode_codes(sae, X) if sae is not None else None
    ids = np.asarray(ids, dtype=str)
    for r in range(first_draw, first_draw + draws):
        seed_rows, pool = seed_pool_split(is_target, n_seeds, np.random.default_rng(first_seed + r))
        pool_rows = np.flatnonzero(pool)
        fit_rows = pool_rows
        if fit_sample < 1:
            n_fit = max(1, round(fit_sample * len(pool_rows)))
            fit_rows = np.sort(np.random.default_rng(first_seed + r).choice(pool_rows, n_fit, replace=False))
        S, P = X[seed_rows], X[pool_rows]
        kw: dict[str, Any] = {"pool_ids": ids[fit_rows], "pool_rows": len(pool_rows)}
        if codes is not None:
            kw.update(seed_codes=codes[seed_rows], pool_codes=codes[fit_rows])
        if texts is not None and use_text:
            kw.update(seed_texts=texts[seed_rows].tolist(), pool_texts=texts[fit_rows].tolist())
        graph = fit_kw.get("graph") or GraphConfig()
        if graph is not None and first_pass_depth(graph) and len(fit_rows) < len(pool_rows):
            # (when the sample is the pool, the first pass finds only rows that are nodes already)
            kw["seeded"] = _seeded(X, ids, texts if use_text else None, seed_rows, pool_rows, fit_rows, graph)
        if len(fit_rows) < len(pool_rows) or len(pool_rows) > graph.nodes:
            # as `saescope curate` (`pipeline.cascade_share`): the graph's two-stage scoring,
            # calibrated for the largest budget, on a pool larger than its node sample
            kw["cascade_share"] = max(budgets) / len(pool_rows)
        dup = (seed_duplicate_mask(texts[seed_rows], texts[pool_rows]) if texts is not None
               else np.zeros(len(pool_rows), dtype=bool))
        for name in spaces:
            t0 = time.perf_counter()
            space = fit_space(name, S, X[fit_rows], sae=sae, seed=r, **kw, **fit_kw)
            pool_texts = texts[pool_rows].tolist() if space.text_field else None
            score = space.score(P, ids[pool_rows], pool_texts,
                                codes=None if codes is None else codes[pool_rows]).score
            out.seconds[name].append(time.perf_counter() - t0)
            score = np.where(dup, np.nan, score)
            order = candidate_order(ids[pool_rows], score, tie_seed=r)
            for b in budgets:
                out.precision[name][b].append(float(is_target[pool_rows][order[:b]].mean()))
    return out


def _seeded(X: np.ndarray, ids: np.ndarray, texts: np.ndarray | None, seed_rows: np.ndarray,
            pool_rows: np.ndarray, fit_rows: np.ndarray, graph: Any) -> tuple:
    """`fit_space`'s `seeded`: the first pass of `node_sample` seeded / `second_pass` over the
    whole pool (centred on the fit sample's mean, as the fitted space is), as `saescope curate`
    runs it (`pipeline.seeded_nodes`)."""
    from saescope.curate.spaces.graph import first_pass_depth, seeded_rows
    from saescope.linalg import unit_rows

    mean = X[fit_rows].astype(np.float64).mean(axis=0).astype(np.float32)
    pos, rank = seeded_rows(unit_rows(X[seed_rows], mean), X[pool_rows], mean, first_pass_depth(graph),
                            ranks=True)
    rows = pool_rows[pos]
    return X[rows], None if texts is None else texts[rows].tolist(), ids[rows], rank


def seed_duplicate_mask(seed_texts: np.ndarray, pool_texts: np.ndarray) -> np.ndarray:
    """Pool rows whose whitespace-stripped text equals a seed's (`saescope curate` leaves them
    out: the seed itself under another id)."""
    want = {str(t).strip() for t in seed_texts if t is not None}
    return np.array([t is not None and str(t).strip() in want for t in pool_texts], dtype=bool)


def gap_closed(method: float, base: float, best: float) -> float:
    """`(method - base) / (best - base)`; NaN when the baseline is already the best."""
    return (method - base) / (best - base) if best > base else float("nan")
