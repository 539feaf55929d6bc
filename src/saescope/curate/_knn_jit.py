"""Compiled (numba) twins of the sparse kernels of `curate.knn`'s approximate path.

Imported only when numba is installed (`knn.jit_kernels`); each kernel returns exactly what its
numpy twin in `curate.knn` returns, the same float operations in the same order (tested against
each other in tests/curate/test_curate_knn.py), one query row at a time with a dense scratch
row instead of padded blocks and scipy products, which is where the numpy versions spend their
time.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _worse(va: float, ca: int, vb: float, cb: int) -> bool:
    """Whether (value a, column a) ranks below b: smaller value, or equal value and higher column."""
    return va < vb or (va == vb and ca > cb)


@njit(cache=True)
def _top_slots(vals: np.ndarray, cols: np.ndarray, m: int) -> np.ndarray:
    """Sorted positions of the `m` largest `vals` (ties: the lower `cols`), the entries that
    `knn.row_top` keeps: a min-heap of the best `m` (worst at the root), then an insertion sort."""
    n = len(vals)
    if n <= m:
        return np.arange(n)
    heap = np.empty(m, dtype=np.int64)
    for i in range(n):
        if i < m:  # sift up
            c = i
            heap[c] = i
            while c > 0:
                par = (c - 1) // 2
                if _worse(vals[heap[c]], cols[heap[c]], vals[heap[par]], cols[heap[par]]):
                    heap[c], heap[par] = heap[par], heap[c]
                    c = par
                else:
                    break
        elif _worse(vals[heap[0]], cols[heap[0]], vals[i], cols[i]):  # replace the root, sift down
            heap[0] = i
            c = 0
            while True:
                lo, r, w = 2 * c + 1, 2 * c + 2, c
                if lo < m and _worse(vals[heap[lo]], cols[heap[lo]], vals[heap[w]], cols[heap[w]]):
                    w = lo
                if r < m and _worse(vals[heap[r]], cols[heap[r]], vals[heap[w]], cols[heap[w]]):
                    w = r
                if w == c:
                    break
                heap[c], heap[w] = heap[w], heap[c]
                c = w
    for i in range(1, m):  # positions in increasing order
        x, j = heap[i], i - 1
        while j >= 0 and heap[j] > x:
            heap[j + 1] = heap[j]
            j -= 1
        heap[j + 1] = x
    return heap


@njit(cache=True)
def shortlist(q_indptr: np.ndarray, q_indices: np.ndarray, q_data: np.ndarray,
              t_indptr: np.ndarray, t_indices: np.ndarray, t_data: np.ndarray,
              n_base: int, L: int, query_terms: int) -> np.ndarray:
    """`knn.shortlist_sparse` (CSR arrays of the queries, sorted indices, and of the transposed
    base): float32 partial products accumulated term by term in column order, as scipy's
    product does; the `L` largest (ties: the lower row), listed by row, -1 padded."""
    n = len(q_indptr) - 1
    cand = np.full((n, L), -1, dtype=np.int64)
    acc = np.zeros(n_base, dtype=np.float32)
    seen = np.zeros(n_base, dtype=np.bool_)
    touched = np.empty(n_base, dtype=np.int64)
    for i in range(n):
        a, b = q_indptr[i], q_indptr[i + 1]
        use = _top_slots(q_data[a:b], q_indices[a:b], query_terms)
        nt = 0
        for u in range(len(use)):  # in column order, as scipy's product
            f, v = q_indices[a + use[u]], q_data[a + use[u]]
            for s in range(t_indptr[f], t_indptr[f + 1]):
                j = t_indices[s]
                if not seen[j]:
                    seen[j] = True
                    touched[nt] = j
                    nt += 1
                acc[j] += v * t_data[s]
        nodes = touched[:nt].copy()
        vals = np.empty(nt, dtype=np.float32)
        k = 0
        for r in range(nt):
            j = nodes[r]
            if acc[j] != 0:  # scipy's product drops exact zeros
                nodes[k] = j
                vals[k] = acc[j]
                k += 1
            acc[j] = 0
            seen[j] = False
        nodes, vals = nodes[:k], vals[:k]
        kept = nodes[_top_slots(vals, nodes, L)]
        kept.sort()
        cand[i, : len(kept)] = kept
    return cand


@njit(cache=True)
def rerank_dots(q_indptr: np.ndarray, q_indices: np.ndarray, q_data: np.ndarray,
                b_indptr: np.ndarray, b_indices: np.ndarray, b_data: np.ndarray,
                cand: np.ndarray, n_cols: int) -> np.ndarray:
    """float32 [n, L] inner products of each query row with its candidate rows of the base (-1:
    row 0, masked by the caller): float32 products summed in float64 in the candidate's column
    order, as `knn.rerank_sparse`'s `bincount` does."""
    n, L = cand.shape
    G = np.empty((n, L), dtype=np.float32)
    D = np.zeros(n_cols, dtype=np.float32)
    for i in range(n):
        for p in range(q_indptr[i], q_indptr[i + 1]):
            D[q_indices[p]] = q_data[p]
        for j in range(L):
            c = max(cand[i, j], 0)
            acc = 0.0
            for p in range(b_indptr[c], b_indptr[c + 1]):
                acc += np.float64(D[b_indices[p]] * b_data[p])
            G[i, j] = acc
        for p in range(q_indptr[i], q_indptr[i + 1]):
            D[q_indices[p]] = 0
    return G


@njit(cache=True)
def top_candidates(G: np.ndarray, cand: np.ndarray, k: int, own: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """`knn._rerank_top`: per row, the `k` candidates of largest product (ties: the earlier
    slot), skipping -1, a repeat of an earlier slot and the row's own node `own` (-1: none);
    missing neighbours are index 0, cosine 0. An insertion sort of the row's `L` slots."""
    n, L = cand.shape
    nbr = np.zeros((n, k), dtype=np.int64)
    cos = np.zeros((n, k), dtype=np.float32)
    keep = np.empty(L, dtype=np.int64)
    for i in range(n):
        m = 0
        for j in range(L):
            c = cand[i, j]
            if c < 0 or c == own[i] or G[i, j] == -np.inf:
                continue
            repeat = False
            for jj in range(j):
                if cand[i, jj] == c:
                    repeat = True
                    break
            if repeat:
                continue
            x, p = G[i, j], m
            while p > 0 and G[i, keep[p - 1]] < x:
                keep[p] = keep[p - 1]
                p -= 1
            keep[p] = j
            m += 1
        for r in range(min(m, k)):
            nbr[i, r] = cand[i, keep[r]]
            cos[i, r] = G[i, keep[r]]
    return nbr, cos
