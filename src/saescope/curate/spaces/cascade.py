"""A two-stage score for `embedding-graph` on pools much larger than its node sample.

The graph's score of a row (its neighbours among the nodes, its words, the self-trained
classifier) costs a few tenths of a millisecond; a selection of `B` rows from `N` only needs it
for the rows that could rank among the best `B`. So, as in a retrieve-then-re-rank cascade, every
row first gets a cheap linear **proxy** of the full score, and only the rows that the proxy cannot
rule out are scored in full:

- Proxy (stage 1): `p = [u, max_sim, centroid_sim] . beta`, with `u` the row's unit centred
  input and the two cosines to the seeds that every space computes anyway: no words, no
  neighbours, one product a row. `beta` is a ridge regression (`GraphConfig.cascade_ridge`) of
  the graph's full score on those features over the uniform pool sample, whose full scores the
  fit computes anyway (the classifier's standardisation).
- Cut (calibrated at fit time on the same sample): `q = max(cascade_depth x budget / N,
  cascade_min_rows / sample rows)`; the sample rows whose full score is in the sample's top `q`
  are the positives; the cut keeps `1 + cascade_margin` times the share of sample rows whose
  proxy is at least that of the positive at the `1 - cascade_recall` quantile of theirs (recall
  1: the lowest). With recall 1 every positive of the sample passes (a positive of the pool is
  missed with probability about `1 / (positives + 1)` before the margin), and the best `B` rows
  lie `cascade_depth` times deeper than that; with recall `r < 1`, the positives the proxy ranks
  lowest (rows the graph ranks high and the proxy low) may be given up, a stated share `1 - r`
  of them in the sample (the default, .9, was chosen on MMLU tuning subjects and a synthetic
  pool: `GraphConfig.cascade_recall`). Where that share reaches the whole
  sample, or `q` exceeds `MAX_SHARE`, there is no cut: every row is scored in full.
- Stage 2: rows with `p >= cut` get the full graph score; every other row gets
  `floor - 1 - (cut - p)`, where `floor` is a lower bound of any full score (`GraphSpace`'s
  `_full_score_floor`): so every fully scored row ranks above every proxy-scored row, and the
  proxy-scored rows keep the proxy's order below them. A score below `floor` in a sidecar
  therefore means "ruled out by the proxy" (`manifest.json`'s `cascade` gives `floor` and the
  count of fully scored rows).

Only a plain top-`B` selection is served by this: `saescope curate` turns the cascade on only with
a budget and without a threshold, quotas or dedup, and only when the pool is larger than the
graph's node sample (as for the first pass), so a pool whose rows are all nodes (the demo) is
scored as before. This is the cascade ranking of information retrieval (a cheap first stage,
an expensive re-ranker on its shortlist; e.g. Wang, Lin & Metzler, "A cascade ranking model
for efficient ranked retrieval", SIGIR 2011).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_SHARE = 0.5
"""No cascade when the rows to keep exceed this share of the pool (it would save little)."""


@dataclass
class Cascade:
    """A fitted first stage: the proxy's weights and the cut."""

    coef: np.ndarray
    """float64 [d + 2]: weights of `[u, max_sim, centroid_sim]`."""
    cut: float
    """Rows with a proxy at least this get the full score (-inf: every row)."""
    floor: float
    """A lower bound of the full score of any row (proxy-scored rows score below it)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Calibration figures (manifest): `q`, `positives`, `sample_share` kept, ..."""

    @property
    def active(self) -> bool:
        return bool(np.isfinite(self.cut))

    def proxy(self, U: np.ndarray, max_sim: np.ndarray, centroid_sim: np.ndarray) -> np.ndarray:
        """float64 [n] proxy of unit centred rows `U` with their cosines to the seeds."""
        d = U.shape[1]
        return (np.asarray(U, dtype=np.float64) @ self.coef[:d] + self.coef[d] * np.asarray(max_sim, np.float64)
                + self.coef[d + 1] * np.asarray(centroid_sim, np.float64))

    def below(self, p: np.ndarray) -> np.ndarray:
        """The score of rows the proxy rules out: under `floor`, in the proxy's order."""
        return self.floor - 1.0 - (self.cut - np.asarray(p, dtype=np.float64))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"cascade_coef": self.coef.astype(np.float64),
                "cascade_bounds": np.array([self.cut, self.floor], dtype=np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], info: dict[str, Any] | None) -> Cascade | None:
        if "cascade_coef" not in arrays:
            return None
        cut, floor = (float(v) for v in arrays["cascade_bounds"])
        return cls(np.asarray(arrays["cascade_coef"], dtype=np.float64), cut, floor, dict(info or {}))


def seed_cosines(U: np.ndarray, seed_units: np.ndarray, centroid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max_sim, centroid_sim) of unit centred rows `U`, as `FittedSpace.score` computes them."""
    if len(U) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    return (U @ seed_units.T).max(axis=1), U @ centroid


def fit_cascade(U: np.ndarray, max_sim: np.ndarray, centroid_sim: np.ndarray, full: np.ndarray,
                share: float, floor: float, depth: float, margin: float, min_rows: int,
                ridge: float, recall: float = 1.0) -> Cascade:
    """The proxy fitted to the sample's `full` scores and its cut for a budget of `share` of the
    pool (see the module docstring); the sample rows are `U` with their cosines to the seeds."""
    n, d = U.shape
    F = np.hstack([np.asarray(U, np.float64), np.asarray(max_sim, np.float64)[:, None],
                   np.asarray(centroid_sim, np.float64)[:, None]])
    y = np.asarray(full, dtype=np.float64)
    Fc = F - F.mean(axis=0)
    coef = np.linalg.solve(Fc.T @ Fc + ridge * np.eye(d + 2), Fc.T @ (y - y.mean()))
    cas = Cascade(coef, -np.inf, floor)
    q = max(depth * share, min_rows / max(n, 1))
    cas.info = {"q": q, "sample_rows": n, "depth": depth, "margin": margin, "recall": recall}
    if q >= MAX_SHARE or n == 0:
        cas.info["off"] = f"the rows to keep (top {q:.3g}) exceed {MAX_SHARE:g} of the pool"
        return cas
    p = F @ coef
    pos = y >= np.quantile(y, 1.0 - q)
    lowest = p[pos].min() if recall >= 1 else np.quantile(p[pos], 1.0 - recall)
    kept = min(1.0, (p >= lowest).mean() * (1.0 + margin))
    cas.info.update(positives=int(pos.sum()), sample_share=float(kept))
    if kept >= 1.0:
        cas.info["off"] = "the proxy cannot rule out any sample row"
        return cas
    cas.cut = float(np.quantile(p, 1.0 - kept))
    return cas
