"""Curation quality over seed draws, in memory: the loop behind the demo's table and the benchmarks.

One draw holds out `n_seeds` rows of the target as seeds (`seed_pool_split`, the one rule for
it, with `numpy.random.default_rng(first_seed + draw)`), ranks the rest with each space
(`fit_space` -> `FittedSpace.score` -> `candidate_order`, what `saescope curate` runs) and
measures precision at each budget: the fraction of the top `b` rows that are on target.

"Gap closed" compares a method with a baseline against the best attainable precision,
`min(1, n_target_in_pool / b)`: `(p_method - p_base) / (p_best - p_base)` (as asked in the
project's issue 17; 1 is perfect, 0 no better than the baseline, negative worse).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp


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


@contextlib.contextmanager
def reuse_codes(X: np.ndarray, codes: sp.csr_matrix) -> Iterator[Any]:
    """Within the block, SAE codes of row subsets of X taken with `take(rows)` are sliced from
    `codes` instead of re-encoded (identical values: the encoder is row-wise)."""
    import saescope.curate.spaces as spaces

    known: dict[int, tuple[np.ndarray, sp.csr_matrix]] = {}
    real = spaces.encode_codes

    def take(rows: np.ndarray) -> np.ndarray:
        sub = X[rows]
        known[id(sub)] = (sub, codes[rows])
        return sub

    def encode(sae: Any, Xq: np.ndarray, device: str = "cpu") -> sp.csr_matrix:
        hit = known.get(id(Xq))
        return hit[1] if hit is not None and hit[0] is Xq else real(sae, Xq, device)

    spaces.encode_codes = encode
    try:
        yield take
    finally:
        spaces.encode_codes = real


@dataclass
class DrawResults:
    """Precision of each space at each budget, one value per draw."""

    budgets: tuple[int, ...]
    precision: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    """space -> budget -> per-draw precision."""
    best: dict[int, float] = field(default_factory=dict)
    """budget -> best attainable precision."""

    def summary(self, space: str, budget: int) -> dict[str, float]:
        """Mean, std, min and max over the draws."""
        v = np.asarray(self.precision[space][budget])
        return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                "max": float(v.max())}


def precision_over_draws(X: np.ndarray, ids: np.ndarray, is_target: np.ndarray,
                         spaces: list[str], budgets: tuple[int, ...], draws: int, n_seeds: int,
                         sae: Any = None, first_seed: int = 1000, texts: np.ndarray | None = None,
                         **fit_kw: Any) -> DrawResults:
    """Precision of each space over `draws` seed draws (see the module docstring); `texts` (one
    per row) feed the lexical channel of `embedding-graph`."""
    from saescope.curate.select import candidate_order
    from saescope.curate.spaces import encode_codes, fit_space

    out = DrawResults(tuple(budgets), {s: {b: [] for b in budgets} for s in spaces})
    n_in_pool = int(is_target.sum()) - n_seeds
    out.best = {b: min(1.0, n_in_pool / b) for b in budgets}
    codes = encode_codes(sae, X) if sae is not None else sp.csr_matrix((len(X), 1))
    ids = np.asarray(ids, dtype=str)
    with reuse_codes(X, codes) as take:
        for r in range(draws):
            seed_rows, pool = seed_pool_split(is_target, n_seeds, np.random.default_rng(first_seed + r))
            pool_rows = np.flatnonzero(pool)
            S, P = take(seed_rows), take(pool_rows)
            kw = {} if texts is None else {"seed_texts": texts[seed_rows].tolist(),
                                           "pool_texts": texts[pool_rows].tolist()}
            for name in spaces:
                space = fit_space(name, S, P, sae=sae, seed=r, **kw, **fit_kw)
                pool_texts = kw.get("pool_texts") if space.text_field else None
                order = candidate_order(ids[pool], space.score(P, ids[pool], pool_texts).score, tie_seed=r)
                for b in budgets:
                    out.precision[name][b].append(float(is_target[pool][order[:b]].mean()))
    return out


def gap_closed(method: float, base: float, best: float) -> float:
    """`(method - base) / (best - base)`; NaN when the baseline is already the best."""
    return (method - base) / (best - base) if best > base else float("nan")
