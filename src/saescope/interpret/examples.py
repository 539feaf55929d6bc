"""Examples per latent: what the explainer sees and what the scorers test on.

One streaming pass over row blocks of the sparse code matrix keeps, for every latent at once
(vectorised top-N merging into fixed `[L, n]` arrays, never a Python list of rows per latent):

- the `n_top` largest activations;
- a uniform random sample of its firing rows (bottom-k sampling: each firing gets a random
  key and the `reservoir` smallest keys survive), from which activation-quantile bins are cut;
- whether each of a set of candidate rows drawn uniformly over *all* rows fires (random
  non-activating rows spread over the data, not the lowest indices);
- its firing count (density).

A second pass over the input vectors finds hard negatives: the rows nearest (cosine) to the
centroid of the latent's top examples in the input space on which the latent does not fire.

The explain and test sets of a latent are disjoint (asserted): the explainer sees `n_top_explain`
top examples, `n_quantile_explain` examples spread over activation quantiles and
`n_negative_explain` random non-activating rows; the test set holds up to `n_test_positive`
activating rows stratified over quantiles and `n_test_random_negative` random +
`n_test_hard_negative` hard non-activating rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from saescope.errors import ConfigError, InputError

KINDS = ("top", "quantile", "random_negative", "hard_negative")
SPLITS = ("explain", "test")


@dataclass
class ExampleConfig:
    """How many examples of each kind to collect per latent."""

    n_top_explain: int = 10
    """Top-activating examples shown to the explainer."""
    n_quantile_explain: int = 10
    """Activating examples shown to the explainer, one per activation quantile bin in turn."""
    n_negative_explain: int = 10
    """Random non-activating examples shown to the explainer."""
    n_test_positive: int = 20
    """Activating held-out examples for the scorers, stratified over activation quantiles."""
    n_test_random_negative: int = 10
    """Random non-activating held-out examples."""
    n_test_hard_negative: int = 10
    """Hard negatives: input-space neighbours of the top examples that do not fire (replaced by
    random negatives when no input vectors are given)."""
    n_quantiles: int = 10
    """Number of activation quantile bins."""
    reservoir: int = 200
    """Size of the uniform random sample of firing rows kept per latent (quantile sampling)."""
    block_rows: int = 4096
    """Rows per streaming block."""
    seed: int = 0
    """Seed of every random choice."""

    def __post_init__(self) -> None:
        for name in (
            "n_top_explain",
            "n_quantile_explain",
            "n_negative_explain",
            "n_test_positive",
            "n_test_random_negative",
            "n_test_hard_negative",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"ExampleConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.n_quantiles < 1:
            raise ConfigError(f"ExampleConfig.n_quantiles must be >= 1, got {self.n_quantiles}")
        need = self.n_quantile_explain + self.n_test_positive
        if self.reservoir < need:
            raise ConfigError(
                f"ExampleConfig.reservoir ({self.reservoir}) must be >= n_quantile_explain + "
                f"n_test_positive ({need})"
            )
        if self.block_rows < 1:
            raise ConfigError(f"ExampleConfig.block_rows must be >= 1, got {self.block_rows}")

    @property
    def n_top(self) -> int:
        """Top activations kept per latent (explain top + a reserve for small latents)."""
        return self.n_top_explain + self.n_test_positive


@dataclass
class Examples:
    """Examples of a set of latents as a flat table (one entry per latent x row) plus per-latent stats."""

    latents: np.ndarray
    """[L] int64 latent indices, in the order of the per-latent arrays."""
    n_rows: int
    """Number of rows in the data."""
    n_fires: np.ndarray
    """[L] int64 number of rows on which each latent fires."""
    top_rows: np.ndarray
    """[L, n_top] int64 rows of the largest activations, descending (-1 = none)."""
    top_acts: np.ndarray
    """[L, n_top] float32 activations matching `top_rows` (0 where none)."""
    latent: np.ndarray
    """[E] int64 latent of each example."""
    row: np.ndarray
    """[E] int64 row of each example."""
    activation: np.ndarray
    """[E] float32 activation of the latent on that row (0 for negatives)."""
    kind: np.ndarray
    """[E] int8 index into KINDS."""
    split: np.ndarray
    """[E] int8 index into SPLITS."""
    _slices: dict[int, slice] = field(default_factory=dict, repr=False)

    @property
    def density(self) -> np.ndarray:
        """[L] firing frequency n_fires / n_rows."""
        return self.n_fires / max(self.n_rows, 1)

    def for_latent(self, latent: int, split: str | None = None) -> dict[str, np.ndarray]:
        """Rows, activations, kinds (str) and labels (1 = fires) of one latent's examples."""
        sl = self._slices.get(int(latent), slice(0, 0))
        keep = np.ones(sl.stop - sl.start, dtype=bool)
        if split is not None:
            keep = self.split[sl] == SPLITS.index(split)
        kind = self.kind[sl][keep]
        return {
            "row": self.row[sl][keep],
            "activation": self.activation[sl][keep],
            "kind": np.asarray(KINDS, dtype=object)[kind],
            "label": (kind <= 1).astype(np.int8),
        }


def collect_examples(
    codes: sp.csr_matrix,
    X: np.ndarray | None = None,
    latents: np.ndarray | list[int] | None = None,
    cfg: ExampleConfig | None = None,
    progress: bool = False,
) -> Examples:
    """Collect explain/test examples for `latents` (default all) from codes [N, M] (CSR).

    `X` [N, d] are the SAE's input vectors, used for hard negatives (skipped when None).
    """
    cfg = cfg or ExampleConfig()
    if not sp.issparse(codes):
        raise InputError("collect_examples: codes must be a scipy.sparse matrix [N, M]")
    codes = codes.tocsr()
    N, M = codes.shape
    if X is not None and len(X) != N:
        raise InputError(f"collect_examples: X has {len(X)} rows, codes have {N}")
    lat_ids = np.arange(M) if latents is None else np.asarray(latents, dtype=np.int64)
    if len(lat_ids) and (lat_ids.min() < 0 or lat_ids.max() >= M):
        raise InputError(f"collect_examples: latent index out of range [0, {M})")
    if len(np.unique(lat_ids)) != len(lat_ids):
        raise InputError("collect_examples: latent indices repeat")
    L = len(lat_ids)
    col_map = np.full(M, -1, dtype=np.int64)
    col_map[lat_ids] = np.arange(L)
    rng = np.random.default_rng(cfg.seed)

    T, R = cfg.n_top, cfg.reservoir
    top_val = np.full((L, T), -np.inf)
    top_row = np.full((L, T), -1, dtype=np.int64)
    res_key = np.full((L, R), -np.inf)
    res_row = np.full((L, R), -1, dtype=np.int64)
    res_act = np.zeros((L, R), dtype=np.float32)
    n_fires = np.zeros(L, dtype=np.int64)

    # Candidate random negatives, drawn uniformly over all rows before the pass.
    n_neg = cfg.n_negative_explain + cfg.n_test_random_negative + cfg.n_test_hard_negative
    C = min(N, 2 * n_neg + 16) if n_neg else 0
    cand_rows = rng.integers(0, N, size=(L, C)) if N else np.zeros((L, 0), dtype=np.int64)
    cand_flat_lat = np.repeat(np.arange(L), C)
    cand_flat_row = cand_rows.ravel()
    order = np.argsort(cand_flat_row, kind="stable")
    cand_sorted_row = cand_flat_row[order]
    cand_fires = np.zeros(L * C, dtype=bool)

    for s in tqdm(range(0, N, cfg.block_rows), desc="examples", disable=not progress):
        e = min(N, s + cfg.block_rows)
        blk = codes[s:e].tocoo()
        lat = col_map[blk.col]
        keep = (lat >= 0) & (blk.data != 0)
        lat, rows, vals = lat[keep], blk.row[keep].astype(np.int64) + s, blk.data[keep]
        n_fires += np.bincount(lat, minlength=L)
        _merge_topn(top_val, [top_row], lat, vals.astype(np.float64), [rows], T)
        keys = -rng.random(len(lat))  # largest of -u = smallest u: a uniform sample
        _merge_topn(res_key, [res_row, res_act], lat, keys, [rows, vals.astype(np.float32)], R)
        # Which candidate negatives of this block fire?
        a, b = np.searchsorted(cand_sorted_row, [s, e])
        if b > a:
            idx = order[a:b]
            fired_keys = rows * L + lat
            cand_keys = cand_flat_row[idx] * L + cand_flat_lat[idx]
            cand_fires[idx] = np.isin(cand_keys, fired_keys)

    top_acts = np.where(np.isfinite(top_val), top_val, 0.0).astype(np.float32)
    cand_fires = cand_fires.reshape(L, C)

    # Per latent: split positives into explain/test, choose random negatives.
    parts: list[tuple[np.ndarray, ...]] = []
    chosen_random: list[np.ndarray] = []
    spare_random: list[np.ndarray] = []
    for i in range(L):
        pos = _split_positives(i, top_row, top_acts, res_row, res_act, cfg, rng)
        cands = cand_rows[i][~cand_fires[i]]
        _, first = np.unique(cands, return_index=True)
        cands = cands[np.sort(first)]  # distinct, in random draw order
        n_ex = cfg.n_negative_explain
        n_te = cfg.n_test_random_negative
        neg_explain, neg_test = cands[:n_ex], cands[n_ex : n_ex + n_te]
        spare_random.append(cands[n_ex + n_te :])
        chosen_random.append(np.concatenate([neg_explain, neg_test]))
        parts.append(pos + (neg_explain, neg_test))

    hard = [np.zeros(0, dtype=np.int64)] * L
    if X is not None and cfg.n_test_hard_negative > 0 and N:
        hard = _hard_negatives(codes, X, col_map, top_row, cfg, chosen_random, n_fires, progress)

    lat_l, row_l, act_l, kind_l, split_l = [], [], [], [], []
    slices: dict[int, slice] = {}
    start = 0
    for i in range(L):
        ex_top, ex_q, te_pos, te_pos_kind, neg_ex, neg_te = parts[i]
        if n_fires[i] == 0:
            slices[int(lat_ids[i])] = slice(start, start)
            continue
        h = hard[i][: cfg.n_test_hard_negative]
        fill = spare_random[i][: cfg.n_test_hard_negative - len(h)]
        groups = [
            (ex_top[0], ex_top[1], np.zeros(len(ex_top[0]), np.int8), 0),
            (ex_q[0], ex_q[1], np.ones(len(ex_q[0]), np.int8), 0),
            (neg_ex, np.zeros(len(neg_ex), np.float32), np.full(len(neg_ex), 2, np.int8), 0),
            (te_pos[0], te_pos[1], te_pos_kind, 1),
            (neg_te, np.zeros(len(neg_te), np.float32), np.full(len(neg_te), 2, np.int8), 1),
            (h, np.zeros(len(h), np.float32), np.full(len(h), 3, np.int8), 1),
            (fill, np.zeros(len(fill), np.float32), np.full(len(fill), 2, np.int8), 1),
        ]
        explain_rows = np.concatenate([g[0] for g in groups if g[3] == 0])
        test_rows = np.concatenate([g[0] for g in groups if g[3] == 1])
        if len(np.intersect1d(explain_rows, test_rows)) or len(np.unique(test_rows)) != len(
            test_rows
        ):
            raise AssertionError(f"latent {lat_ids[i]}: explain and test sets overlap")
        n = 0
        for rows_g, acts_g, kind_g, split_g in groups:
            row_l.append(np.asarray(rows_g, dtype=np.int64))
            act_l.append(np.asarray(acts_g, dtype=np.float32))
            kind_l.append(np.asarray(kind_g, dtype=np.int8))
            split_l.append(np.full(len(rows_g), split_g, dtype=np.int8))
            n += len(rows_g)
        lat_l.append(np.full(n, lat_ids[i], dtype=np.int64))
        slices[int(lat_ids[i])] = slice(start, start + n)
        start += n

    def cat(xs: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype=dtype)

    return Examples(
        latents=lat_ids,
        n_rows=N,
        n_fires=n_fires,
        top_rows=top_row,
        top_acts=top_acts,
        latent=cat(lat_l, np.int64),
        row=cat(row_l, np.int64),
        activation=cat(act_l, np.float32),
        kind=cat(kind_l, np.int8),
        split=cat(split_l, np.int8),
        _slices=slices,
    )


def _merge_topn(
    best: np.ndarray,
    payloads: list[np.ndarray],
    lat: np.ndarray,
    val: np.ndarray,
    new_payloads: list[np.ndarray],
    n: int,
) -> None:
    """Merge entries (lat, val, payload) into per-latent top-n arrays `best` [L, n], in place.

    Sorts the block's entries by (latent, -value), keeps each latent's first n, lays them out
    as a dense [U, n] block for the U latents touched and re-selects the top n of the 2n.
    """
    if len(lat) == 0 or n == 0:
        return
    order = np.lexsort((-val, lat))
    lat_s = lat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(lat_s)) + 1]
    sizes = np.diff(np.r_[starts, len(lat_s)])
    rank = np.arange(len(lat_s)) - np.repeat(starts, sizes)
    keep = rank < n
    order, lat_s, rank = order[keep], lat_s[keep], rank[keep]
    touched = np.unique(lat_s)
    pos = np.searchsorted(touched, lat_s)
    cand = np.full((len(touched), n), -np.inf)
    cand[pos, rank] = val[order]
    allv = np.concatenate([best[touched], cand], axis=1)
    sel = np.argsort(-allv, axis=1, kind="stable")[:, :n]
    best[touched] = np.take_along_axis(allv, sel, axis=1)
    for arr, new in zip(payloads, new_payloads, strict=True):
        c = np.zeros((len(touched), n), dtype=arr.dtype)
        if arr.dtype.kind == "i":
            c.fill(-1)
        c[pos, rank] = new[order]
        arr[touched] = np.take_along_axis(np.concatenate([arr[touched], c], axis=1), sel, axis=1)


def _split_positives(
    i: int,
    top_row: np.ndarray,
    top_acts: np.ndarray,
    res_row: np.ndarray,
    res_act: np.ndarray,
    cfg: ExampleConfig,
    rng: np.random.Generator,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Explain top, explain quantile, test positives (rows, acts) and test kinds for latent i."""
    t_ok = top_row[i] >= 0
    t_rows, t_acts = top_row[i][t_ok], top_acts[i][t_ok]
    r_ok = res_row[i] >= 0
    r_rows, r_acts = res_row[i][r_ok], res_act[i][r_ok]
    n_known = len(np.union1d(t_rows, r_rows))
    want_explain = cfg.n_top_explain + cfg.n_quantile_explain
    if n_known < want_explain + cfg.n_test_positive:
        # Small latent: the explainer gets at most half of what is known, the test the rest.
        budget = min(want_explain, n_known // 2)
    else:
        budget = want_explain
    n_top = min(cfg.n_top_explain, budget, len(t_rows))
    n_q = budget - n_top
    ex_top = (t_rows[:n_top], t_acts[:n_top])
    pool = ~np.isin(r_rows, ex_top[0])
    p_rows, p_acts = r_rows[pool], r_acts[pool]
    bins = _quantile_bins(p_acts, cfg.n_quantiles, rng)
    q_idx = _round_robin(bins, n_q)
    ex_q = (p_rows[q_idx], p_acts[q_idx])
    rest_bins = [b[~np.isin(b, q_idx)] for b in bins]
    t_idx = _round_robin(rest_bins, cfg.n_test_positive)
    te_rows, te_acts = p_rows[t_idx], p_acts[t_idx]
    kinds = np.ones(len(te_rows), dtype=np.int8)
    short = cfg.n_test_positive - len(te_rows)
    if short > 0:  # fill from top rows nobody used yet
        used = np.concatenate([ex_top[0], ex_q[0], te_rows])
        free = ~np.isin(t_rows, used)
        te_rows = np.concatenate([te_rows, t_rows[free][:short]])
        te_acts = np.concatenate([te_acts, t_acts[free][:short]])
        kinds = np.concatenate([kinds, np.zeros(min(short, int(free.sum())), np.int8)])
    return ex_top, ex_q, (te_rows, te_acts), kinds


def _quantile_bins(acts: np.ndarray, n_bins: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Indices of `acts` split into up to n_bins equal-count bins by activation, shuffled within."""
    if len(acts) == 0:
        return []
    order = np.argsort(acts, kind="stable")
    bins = [b for b in np.array_split(order, min(n_bins, len(acts))) if len(b)]
    return [rng.permutation(b) for b in bins]


def _round_robin(bins: list[np.ndarray], k: int) -> np.ndarray:
    """Take k indices, one from each bin in turn (highest bin first), until k or exhausted."""
    out: list[int] = []
    depth = 0
    bins = bins[::-1]
    while len(out) < k and any(depth < len(b) for b in bins):
        for b in bins:
            if depth < len(b) and len(out) < k:
                out.append(int(b[depth]))
        depth += 1
    return np.asarray(out, dtype=np.int64)


def _hard_negatives(
    codes: sp.csr_matrix,
    X: np.ndarray,
    col_map: np.ndarray,
    top_row: np.ndarray,
    cfg: ExampleConfig,
    chosen_random: list[np.ndarray],
    n_fires: np.ndarray,
    progress: bool,
) -> list[np.ndarray]:
    """Rows nearest the centroid of each latent's explain-top examples that do not fire."""
    L = len(top_row)
    N = len(X)
    H = cfg.n_test_hard_negative
    Xn = _normalise(np.asarray(X, dtype=np.float32))
    k = max(1, cfg.n_top_explain)
    top = top_row[:, :k]
    ok = top >= 0
    Q = np.zeros((L, Xn.shape[1]), dtype=np.float32)
    for j in range(k):  # sum of the top examples' unit vectors
        Q[ok[:, j]] += Xn[top[ok[:, j], j]]
    Q = _normalise(Q)
    alive = n_fires > 0
    best = np.full((L, H), -np.inf)
    best_row = np.full((L, H), -1, dtype=np.int64)
    excl_lat = np.concatenate([np.full(len(r), i) for i, r in enumerate(chosen_random)] or [[]])
    excl_row = np.concatenate(chosen_random or [np.zeros(0)]).astype(np.int64)
    B = int(max(64, min(cfg.block_rows, 2**24 // max(L, 1))))
    for s in tqdm(range(0, N, B), desc="hard negatives", disable=not progress):
        e = min(N, s + B)
        S = Q @ Xn[s:e].T  # [L, b]
        blk = codes[s:e].tocoo()
        lat = col_map[blk.col]
        m = lat >= 0
        S[lat[m], blk.row[m]] = -np.inf  # fires: not a negative
        m = (excl_row >= s) & (excl_row < e)
        S[excl_lat[m].astype(np.int64), excl_row[m] - s] = -np.inf  # already a random negative
        S[~alive] = -np.inf
        b = e - s
        allv = np.concatenate([best, S.astype(np.float64)], axis=1)
        allr = np.concatenate([best_row, np.broadcast_to(np.arange(s, e), (L, b))], axis=1)
        if allv.shape[1] > H:
            sel = np.argpartition(-allv, H - 1, axis=1)[:, :H]
        else:
            sel = np.broadcast_to(np.arange(allv.shape[1]), (L, allv.shape[1]))
        best = np.take_along_axis(allv, sel, axis=1)
        best_row = np.take_along_axis(allr, sel, axis=1)
    out = []
    for i in range(L):
        o = np.argsort(-best[i], kind="stable")
        o = o[np.isfinite(best[i][o])]
        out.append(best_row[i][o])
    return out


def _normalise(A: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return A / np.maximum(norms, 1e-12)
