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

The explain and test sets of a latent are disjoint by row (asserted) and, when the texts are
given, by text (a duplicate text under another id is not tested on): the explainer sees `n_top_explain`
top examples, `n_quantile_explain` examples spread over activation quantiles and
`n_negative_explain` random non-activating rows; the test set holds up to `n_test_positive`
activating rows stratified over quantiles and `n_test_random_negative` random +
`n_test_hard_negative` hard non-activating rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from saescope.errors import ConfigError, InputError
from saescope.linalg import unit_rows

if TYPE_CHECKING:  # scipy is imported where codes are read, not at `saescope --help`
    import scipy.sparse as sp

QuietFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""`quiet(latents, rows)` -> bool per (latent, row) pair: may the row be a non-activating example."""

KINDS = ("top", "quantile", "random_negative", "hard_negative")
"""Names of the kind codes stored in `Examples.kind`."""
TOP, QUANTILE, RANDOM_NEGATIVE, HARD_NEGATIVE = range(4)
SPLITS = ("explain", "test")
"""Names of the split codes stored in `Examples.split`."""
EXPLAIN, TEST = range(2)


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
    quantile: np.ndarray
    """[E] int8 activation-quantile bin of an activating example, 0 = the highest bin (delphi's
    `quantile`; top examples count as bin 0); -1 for non-activating examples."""
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
            "label": (kind <= QUANTILE).astype(np.int8),
            "quantile": self.quantile[sl][keep],
        }


@dataclass
class _Streamed:
    """What one pass over the code matrix keeps per latent (arrays [n_latents, ...])."""

    top_val: np.ndarray
    top_row: np.ndarray
    res_row: np.ndarray
    res_act: np.ndarray
    n_fires: np.ndarray
    cand_rows: np.ndarray
    """[n_latents, n_candidates] rows drawn uniformly before the pass (random negatives)."""
    cand_fires: np.ndarray
    """[n_latents, n_candidates] whether the latent fires on that candidate row."""


def collect_examples(
    codes: sp.csr_matrix,
    X: np.ndarray | None = None,
    latents: np.ndarray | list[int] | None = None,
    cfg: ExampleConfig | None = None,
    progress: bool = False,
    texts: Sequence[str] | None = None,
    groups: np.ndarray | None = None,
    quiet: QuietFn | None = None,
) -> Examples:
    """Collect explain/test examples for `latents` (default all) from codes [N, M] (CSR).

    `X` [N, d] are the SAE's input vectors, used for hard negatives (skipped when None). With
    `texts` (one per row) the explain and test sets are disjoint by text, not only by row: a test
    example whose text equals an explain example's (a duplicate row under another id) is dropped,
    and so is a repeated text within the test set. `groups` (int64, one key per row, e.g. the
    document of a token row) does the same by group instead of by text. `quiet(latents, rows)`
    (bool per pair) narrows the non-activating examples further: token-level runs keep only
    rows whose whole window of context is silent (`TokenWindows.quiet`), so a negative window
    never shows a token the latent fires on.
    """
    cfg = cfg or ExampleConfig()
    import scipy.sparse as sp

    if not sp.issparse(codes):
        raise InputError("collect_examples: codes must be a scipy.sparse matrix [N, M]")
    codes = codes.tocsr()
    n_rows, n_all = codes.shape
    if X is not None and len(X) != n_rows:
        raise InputError(f"collect_examples: X has {len(X)} rows, codes have {n_rows}")
    if texts is not None and len(texts) != n_rows:
        raise InputError(f"collect_examples: {len(texts)} texts for {n_rows} rows")
    if groups is not None and len(groups) != n_rows:
        raise InputError(f"collect_examples: {len(groups)} group keys for {n_rows} rows")
    lat_ids = np.arange(n_all) if latents is None else np.asarray(latents, dtype=np.int64)
    if len(lat_ids) and (lat_ids.min() < 0 or lat_ids.max() >= n_all):
        raise InputError(f"collect_examples: latent index out of range [0, {n_all})")
    if len(np.unique(lat_ids)) != len(lat_ids):
        raise InputError("collect_examples: latent indices repeat")
    col_map = np.full(n_all, -1, dtype=np.int64)
    col_map[lat_ids] = np.arange(len(lat_ids))
    rng = np.random.default_rng(cfg.seed)
    streamed = _stream_codes(codes, col_map, len(lat_ids), cfg, rng, progress)
    if quiet is not None and streamed.cand_rows.size:
        lat_of = np.broadcast_to(lat_ids[:, None], streamed.cand_rows.shape)
        streamed.cand_fires |= ~quiet(lat_of.ravel(), streamed.cand_rows.ravel()).reshape(lat_of.shape)
    top_acts = np.where(np.isfinite(streamed.top_val), streamed.top_val, 0.0).astype(np.float32)

    # Per latent: split positives into explain/test, choose random negatives.
    parts, chosen_random, spare_random = [], [], []
    n_ex, n_te = cfg.n_negative_explain, cfg.n_test_random_negative
    for i in range(len(lat_ids)):
        pos = _split_positives(i, streamed.top_row, top_acts, streamed.res_row, streamed.res_act, cfg, rng)
        cands = streamed.cand_rows[i][~streamed.cand_fires[i]]
        _, first = np.unique(cands, return_index=True)
        cands = cands[np.sort(first)]  # distinct, in random draw order
        spare_random.append(cands[n_ex + n_te :])
        chosen_random.append(cands[: n_ex + n_te])
        parts.append((*pos, cands[:n_ex], cands[n_ex : n_ex + n_te]))

    hard = [np.zeros(0, dtype=np.int64)] * len(lat_ids)
    if X is not None and cfg.n_test_hard_negative > 0 and n_rows:
        n_hard = cfg.n_test_hard_negative * (1 if quiet is None else 3)  # room for the filter
        hard = _hard_negatives(codes, X, col_map, streamed.top_row, cfg, chosen_random, streamed.n_fires,
                               progress, n_hard)
        if quiet is not None and hard:
            sizes = [len(h) for h in hard]
            ok = quiet(np.repeat(lat_ids, sizes), np.concatenate(hard))
            hard = [h[m] for h, m in zip(hard, np.split(ok, np.cumsum(sizes)[:-1]), strict=True)]
    text_keys = (np.asarray(groups, dtype=np.int64) if groups is not None
                 else _text_keys(texts) if texts is not None else None)
    groups = [
        _latent_groups(parts[i], hard[i], spare_random[i], cfg, text_keys) if streamed.n_fires[i] else []
        for i in range(len(lat_ids))
    ]
    return _assemble(lat_ids, n_rows, streamed, top_acts, groups)


def _stream_codes(codes: sp.csr_matrix, col_map: np.ndarray, n_latents: int, cfg: ExampleConfig,
                  rng: np.random.Generator, progress: bool) -> _Streamed:
    """One pass over row blocks: top-n, a uniform reservoir of firings, firing counts, candidates."""
    n_rows = codes.shape[0]
    n_top, n_res = cfg.n_top, cfg.reservoir
    top_val = np.full((n_latents, n_top), -np.inf)
    top_row = np.full((n_latents, n_top), -1, dtype=np.int64)
    res_key = np.full((n_latents, n_res), -np.inf)
    res_row = np.full((n_latents, n_res), -1, dtype=np.int64)
    res_act = np.zeros((n_latents, n_res), dtype=np.float32)
    n_fires = np.zeros(n_latents, dtype=np.int64)

    # Candidate random negatives, drawn uniformly over all rows before the pass.
    n_neg = cfg.n_negative_explain + cfg.n_test_random_negative + cfg.n_test_hard_negative
    n_cand = min(n_rows, 2 * n_neg + 16) if n_neg else 0
    cand_rows = rng.integers(0, n_rows, size=(n_latents, n_cand)) if n_rows else np.zeros((n_latents, 0), np.int64)
    cand_flat_lat = np.repeat(np.arange(n_latents), n_cand)
    cand_flat_row = cand_rows.ravel()
    order = np.argsort(cand_flat_row, kind="stable")
    cand_sorted_row = cand_flat_row[order]
    cand_fires = np.zeros(n_latents * n_cand, dtype=bool)

    from tqdm.auto import tqdm

    for start in tqdm(range(0, n_rows, cfg.block_rows), desc="examples", disable=not progress):
        stop = min(n_rows, start + cfg.block_rows)
        blk = codes[start:stop].tocoo()
        lat = col_map[blk.col]
        keep = (lat >= 0) & (blk.data != 0)
        lat, rows, vals = lat[keep], blk.row[keep].astype(np.int64) + start, blk.data[keep]
        n_fires += np.bincount(lat, minlength=n_latents)
        _merge_topn(top_val, [top_row], lat, vals.astype(np.float64), [rows], n_top)
        keys = -rng.random(len(lat))  # largest of -u = smallest u: a uniform sample
        _merge_topn(res_key, [res_row, res_act], lat, keys, [rows, vals.astype(np.float32)], n_res)
        # Which candidate negatives of this block fire?
        lo, hi = np.searchsorted(cand_sorted_row, [start, stop])
        if hi > lo:
            idx = order[lo:hi]
            fired_keys = rows * n_latents + lat
            cand_keys = cand_flat_row[idx] * n_latents + cand_flat_lat[idx]
            cand_fires[idx] = np.isin(cand_keys, fired_keys)
    return _Streamed(top_val, top_row, res_row, res_act, n_fires, cand_rows,
                     cand_fires.reshape(n_latents, n_cand))


def _text_keys(texts: Sequence[str]) -> np.ndarray:
    """[N] int64: equal for rows with the same text (whitespace and case aside)."""
    norm = np.asarray([" ".join(str(t).split()).lower() for t in texts], dtype=object)
    _, inverse = np.unique(norm, return_inverse=True)
    return inverse.astype(np.int64)


_Group = tuple[np.ndarray, np.ndarray, np.ndarray, int, int]
"""(rows, activations, quantile bins, kind code, split code) of one group of examples."""


def _latent_groups(part: tuple[Any, ...], hard: np.ndarray, spare_random: np.ndarray, cfg: ExampleConfig,
                   text_keys: np.ndarray | None) -> list[_Group]:
    """The example groups of one live latent; the test set disjoint from the explain set by row
    (asserted) and, with text keys, by text."""
    (top_rows, top_acts, top_q), (q_rows, q_acts, q_q), (test_rows, test_acts, test_q), test_kinds, \
        neg_explain, neg_test = part
    hard = hard[: cfg.n_test_hard_negative]
    fill = spare_random[: cfg.n_test_hard_negative - len(hard)]
    zeros = [np.zeros(len(r), np.float32) for r in (neg_explain, neg_test, hard, fill)]
    none = [np.full(len(r), -1, np.int8) for r in (neg_explain, neg_test, hard, fill)]
    groups: list[_Group] = [
        (top_rows, top_acts, top_q, TOP, EXPLAIN),
        (q_rows, q_acts, q_q, QUANTILE, EXPLAIN),
        (neg_explain, zeros[0], none[0], RANDOM_NEGATIVE, EXPLAIN),
    ]
    test_groups: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [
        (test_rows, test_acts, test_q, np.asarray(test_kinds, np.int8)),
        (neg_test, zeros[1], none[1], np.full(len(neg_test), RANDOM_NEGATIVE, np.int8)),
        (hard, zeros[2], none[2], np.full(len(hard), HARD_NEGATIVE, np.int8)),
        (fill, zeros[3], none[3], np.full(len(fill), RANDOM_NEGATIVE, np.int8)),
    ]
    explain_rows = np.concatenate([g[0] for g in groups])
    test_all = np.concatenate([g[0] for g in test_groups])
    if len(np.intersect1d(explain_rows, test_all)) or len(np.unique(test_all)) != len(test_all):
        raise AssertionError("explain and test sets overlap")
    seen = set(text_keys[explain_rows].tolist()) if text_keys is not None else set()
    for rows, acts, quant, kinds in test_groups:
        if text_keys is not None:  # first occurrence of each text not shown to the explainer
            keep = np.zeros(len(rows), dtype=bool)
            for j, key in enumerate(text_keys[rows].tolist()):
                keep[j] = key not in seen
                seen.add(key)
            rows, acts, quant, kinds = rows[keep], acts[keep], quant[keep], kinds[keep]
        for kind in np.unique(kinds):
            sel = kinds == kind
            groups.append((rows[sel], acts[sel], quant[sel], int(kind), TEST))
    return groups


def _assemble(lat_ids: np.ndarray, n_rows: int, streamed: _Streamed, top_acts: np.ndarray,
              groups: list[list[_Group]]) -> Examples:
    """The flat example table of every latent, in latent order, with each latent's slice."""
    lat_l, row_l, act_l, quant_l, kind_l, split_l = [], [], [], [], [], []
    slices: dict[int, slice] = {}
    start = 0
    for lat, latent_groups in zip(lat_ids, groups, strict=True):
        n = 0
        for rows, acts, quant, kind, split in latent_groups:
            row_l.append(np.asarray(rows, dtype=np.int64))
            act_l.append(np.asarray(acts, dtype=np.float32))
            quant_l.append(np.asarray(quant, dtype=np.int8))
            kind_l.append(np.full(len(rows), kind, dtype=np.int8))
            split_l.append(np.full(len(rows), split, dtype=np.int8))
            n += len(rows)
        lat_l.append(np.full(n, lat, dtype=np.int64))
        slices[int(lat)] = slice(start, start + n)
        start += n

    def cat(xs: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype=dtype)

    return Examples(
        latents=lat_ids,
        n_rows=n_rows,
        n_fires=streamed.n_fires,
        top_rows=streamed.top_row,
        top_acts=top_acts,
        latent=cat(lat_l, np.int64),
        row=cat(row_l, np.int64),
        activation=cat(act_l, np.float32),
        kind=cat(kind_l, np.int8),
        split=cat(split_l, np.int8),
        quantile=cat(quant_l, np.int8),
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
) -> tuple[Any, ...]:
    """Explain top, explain quantile, test positives (rows, acts, quantile bins) and test kinds
    for latent i."""
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
    ex_top = (t_rows[:n_top], t_acts[:n_top], np.zeros(n_top, np.int8))
    pool = ~np.isin(r_rows, ex_top[0])
    p_rows, p_acts = r_rows[pool], r_acts[pool]
    bins = _quantile_bins(p_acts, cfg.n_quantiles, rng)
    bin_of = np.zeros(len(p_acts), np.int8)  # 0 = the highest bin, as delphi numbers quantiles
    for b, members in enumerate(bins):
        bin_of[members] = len(bins) - 1 - b
    q_idx = _round_robin(bins, n_q)
    ex_q = (p_rows[q_idx], p_acts[q_idx], bin_of[q_idx])
    rest_bins = [b[~np.isin(b, q_idx)] for b in bins]
    t_idx = _round_robin(rest_bins, cfg.n_test_positive)
    te_rows, te_acts, te_q = p_rows[t_idx], p_acts[t_idx], bin_of[t_idx]
    kinds = np.full(len(te_rows), QUANTILE, dtype=np.int8)
    short = cfg.n_test_positive - len(te_rows)
    if short > 0:  # fill from top rows nobody used yet
        used = np.concatenate([ex_top[0], ex_q[0], te_rows])
        free = ~np.isin(t_rows, used)
        n_fill = min(short, int(free.sum()))
        te_rows = np.concatenate([te_rows, t_rows[free][:short]])
        te_acts = np.concatenate([te_acts, t_acts[free][:short]])
        te_q = np.concatenate([te_q, np.zeros(n_fill, np.int8)])
        kinds = np.concatenate([kinds, np.full(n_fill, TOP, np.int8)])
    return ex_top, ex_q, (te_rows, te_acts, te_q), kinds


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
    n_hard: int | None = None,
) -> list[np.ndarray]:
    """The `n_hard` (default `cfg.n_test_hard_negative`) rows nearest the centroid of each
    latent's explain-top examples that do not fire, nearest first."""
    n_latents, n_rows = len(top_row), len(X)
    n_hard = cfg.n_test_hard_negative if n_hard is None else n_hard
    X_unit = unit_rows(X)
    n_centroid = max(1, cfg.n_top_explain)
    top = top_row[:, :n_centroid]
    has_top = top >= 0
    centroid = np.zeros((n_latents, X_unit.shape[1]), dtype=np.float32)
    for j in range(n_centroid):  # sum of the top examples' unit vectors
        centroid[has_top[:, j]] += X_unit[top[has_top[:, j], j]]
    centroid = unit_rows(centroid)
    alive = n_fires > 0
    best_sim = np.full((n_latents, n_hard), -np.inf)
    best_row = np.full((n_latents, n_hard), -1, dtype=np.int64)
    taken_lat = np.concatenate([np.full(len(r), i) for i, r in enumerate(chosen_random)] or [[]]).astype(np.int64)
    taken_row = np.concatenate(chosen_random or [np.zeros(0)]).astype(np.int64)
    block = int(max(64, min(cfg.block_rows, 2**24 // max(n_latents, 1))))
    from tqdm.auto import tqdm

    for start in tqdm(range(0, n_rows, block), desc="hard negatives", disable=not progress):
        stop = min(n_rows, start + block)
        sim = centroid @ X_unit[start:stop].T  # [n_latents, rows of the block]
        blk = codes[start:stop].tocoo()
        lat = col_map[blk.col]
        fires = lat >= 0
        sim[lat[fires], blk.row[fires]] = -np.inf  # fires: not a negative
        here = (taken_row >= start) & (taken_row < stop)
        sim[taken_lat[here], taken_row[here] - start] = -np.inf  # already a random negative
        sim[~alive] = -np.inf
        all_sim = np.concatenate([best_sim, sim.astype(np.float64)], axis=1)
        all_row = np.concatenate([best_row, np.broadcast_to(np.arange(start, stop), (n_latents, stop - start))], axis=1)
        if all_sim.shape[1] > n_hard:
            keep = np.argpartition(-all_sim, n_hard - 1, axis=1)[:, :n_hard]
        else:
            keep = np.broadcast_to(np.arange(all_sim.shape[1]), (n_latents, all_sim.shape[1]))
        best_sim = np.take_along_axis(all_sim, keep, axis=1)
        best_row = np.take_along_axis(all_row, keep, axis=1)
    out = []
    for i in range(n_latents):
        order = np.argsort(-best_sim[i], kind="stable")
        order = order[np.isfinite(best_sim[i][order])]
        out.append(best_row[i][order])
    return out
