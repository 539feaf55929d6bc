"""Nearest neighbours by cosine, block by block: the one kNN loop of curation.

`top_k(Q, B, k)` returns, for each unit row of `Q`, the `k` unit rows of `B` with the largest
inner product (their cosine) and those cosines. `Q` and `B` are both dense (torch on `device`:
its top-k is several times faster than numpy's argpartition on a CPU, and on a GPU the products
stay there, only the `[n, k]` results come back) or both sparse (scipy products, block by block,
top-k in torch). Blocks of `block` query rows bound the memory to `block x len(B)` floats.

A row is never its own neighbour: `self_index[i] = j` leaves out the pair (query `i`, base row
`j`) by identity (-1: none), not by the value of the cosine, so an exact copy of a base row that
is not that row keeps it as its best neighbour. Where fewer than `k` rows are left, the missing
neighbours have index 0 and cosine 0.

The approximate path of `embedding-graph` (`GraphConfig.index` approx) lives here too: a faiss
HNSW index for dense rows (`hnsw_index`, `ann_top_k`), and for sparse tf-idf rows an
inverted-index shortlist (`shortlist_sparse`) whose candidates are re-ranked exactly
(`rerank_sparse`); `row_top` / `keep_top` select each sparse row's largest entries. With numba
installed (`pip install 'saescope[fast]'`) the shortlist and the re-rank's products run as
compiled kernels (`curate._knn_jit`) that return the numpy versions' output bit for bit, about 3x
to 4x faster; without it, the numpy versions run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

BLOCK = 4096
"""Query rows per block of the products (memory `BLOCK x len(B)` floats)."""


def top_k(Q: np.ndarray | sp.csr_matrix, B: Any, k: int, device: str = "cpu",
          self_index: np.ndarray | None = None, block: int = BLOCK
          ) -> tuple[np.ndarray, np.ndarray]:
    """(indices int64 [n, k], cosines float32 [n, k]) of the `k` rows of `B` most similar to each
    row of `Q` (see the module docstring). `B` may already be a torch tensor on `device`."""
    import torch

    n = Q.shape[0]
    nbr = np.zeros((n, k), dtype=np.int64)
    cos = np.zeros((n, k), dtype=np.float32)
    if n == 0 or k < 1:
        return nbr, cos
    sparse = sp.issparse(Q)
    if sparse:
        Bm = sp.csr_matrix(B.T)
        Qm = sp.csr_matrix(Q)
    else:
        Bm = B if isinstance(B, torch.Tensor) else torch.from_numpy(
            np.ascontiguousarray(B, dtype=np.float32)).to(device)
    with torch.no_grad():
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            if sparse:
                G = torch.from_numpy(np.asarray((Qm[lo:hi] @ Bm).toarray(), dtype=np.float32))
            else:
                q = torch.from_numpy(np.ascontiguousarray(Q[lo:hi], dtype=np.float32)).to(device)
                G = q @ Bm.T
            if self_index is not None:
                _mask_self(G, self_index[lo:hi])
            v, i = torch.topk(G, min(k, G.shape[1]), dim=1)
            nbr[lo:hi, : i.shape[1]] = i.cpu().numpy()
            cos[lo:hi, : v.shape[1]] = v.cpu().numpy()
    bad = ~np.isfinite(cos)
    cos[bad], nbr[bad] = 0.0, 0
    return nbr, cos


def _mask_self(G: Any, self_index: np.ndarray) -> None:
    """Set `G[r, self_index[r]]` to -inf where `self_index[r] >= 0` (in place)."""
    import torch

    rows = np.flatnonzero(self_index >= 0)
    if len(rows):
        r = torch.from_numpy(rows).to(G.device)
        c = torch.from_numpy(self_index[rows].astype(np.int64)).to(G.device)
        G[r, c] = float("-inf")


# ---------------------------------------------------------------------------- approximate
HNSW_M = 16
"""Links per node of the HNSW graph (faiss `IndexHNSWFlat`). With `HNSW_EF_CONSTRUCTION` 40 and
`efSearch` 32, on 42,132 centred MiniLM rows of MMLU (a throwaway script) it found 96.7%
of the exact 21 nearest neighbours at 0.18 ms a row against 1.4 ms for the exact products (one
thread); M 32 found 99.2% at three times the search cost."""
HNSW_EF_CONSTRUCTION = 40
"""Candidate list while the HNSW graph is built."""


def hnsw_index(B: np.ndarray, parts: list[np.ndarray] | None = None) -> Any:
    """A faiss HNSW index (inner product) over the unit rows `B`, built in row order; with `parts`
    (disjoint arrays of row positions covering `B`, more than one non-empty), a `PartedIndex` of
    one HNSW index a part.

    Hierarchical navigable small-world graphs (Malkov & Yashunin, IEEE TPAMI 2020) as
    implemented by faiss (Douze et al., "The Faiss library", arXiv:2401.08281)."""
    import faiss

    parts = [np.asarray(p, dtype=np.int64) for p in parts or () if len(p)]
    if len(parts) > 1:
        return PartedIndex([hnsw_index(B[p]) for p in parts], parts)
    index = faiss.IndexHNSWFlat(B.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(np.ascontiguousarray(B, dtype=np.float32))
    return index


class PartedIndex:
    """HNSW indexes over disjoint parts of the rows, each searched, the results merged by
    similarity. A dense cluster of rows (the graph's first-pass nodes around the seeds) inside
    one HNSW graph traps the greedy search of queries that belong elsewhere when the
    similarities are noisy (it returns the cluster as their neighbours); in an index of its own
    it can only add its rows where they are nearer than the other part's."""

    MAGIC = b"SAESCOPE-PARTED-HNSW-1"
    """First bytes of `index_to_array`'s output for a parted index (faiss's begin otherwise)."""

    def __init__(self, parts: list[Any], ids: list[np.ndarray]) -> None:
        self.parts = parts
        """faiss HNSW indexes, one a part."""
        self.ids = ids
        """int64 row positions of each part's rows, in the part's order."""

    def search(self, Q: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, row positions) [n, k] of each query's `k` best over all parts (-1 where
        the parts hold fewer rows)."""
        sims, idxs = [], []
        for index, ids in zip(self.parts, self.ids, strict=True):
            sim, idx = _search(index, Q, k, ef)
            sims.append(np.where(idx >= 0, sim, -np.inf))
            idxs.append(np.where(idx >= 0, ids[np.maximum(idx, 0)], -1))
        sim, idx = np.hstack(sims), np.hstack(idxs)
        top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(sim, top, 1), np.take_along_axis(idx, top, 1)

    def to_bytes(self) -> bytes:
        import faiss

        out = [self.MAGIC, np.int64(len(self.parts)).tobytes()]
        for index, ids in zip(self.parts, self.ids, strict=True):
            blob = faiss.serialize_index(index).tobytes()
            out += [np.int64(len(ids)).tobytes(), ids.astype(np.int64).tobytes(), np.int64(len(blob)).tobytes(), blob]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> PartedIndex:
        import faiss

        at = len(cls.MAGIC)

        def take(n: int) -> bytes:
            nonlocal at
            at += n
            return data[at - n:at]

        parts, ids = [], []
        for _ in range(int(np.frombuffer(take(8), np.int64)[0])):
            ids.append(np.frombuffer(take(8 * int(np.frombuffer(take(8), np.int64)[0])), np.int64).copy())
            blob = np.frombuffer(take(int(np.frombuffer(take(8), np.int64)[0])), np.uint8)
            parts.append(faiss.deserialize_index(blob.copy()))
        return cls(parts, ids)


def _search(index: Any, Q: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
    """`index.search` of the float32 queries `Q` with `efSearch` `ef` (a faiss HNSW index or a
    `PartedIndex`)."""
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    if isinstance(index, PartedIndex):
        return index.search(Q, k, ef)
    index.hnsw.efSearch = ef
    return index.search(Q, k)


def index_to_array(index: Any) -> np.ndarray:
    """The faiss index as uint8 bytes (faiss's own format; a `PartedIndex`: its own, holding
    faiss's; saved with the fit in safetensors)."""
    import faiss

    if isinstance(index, PartedIndex):
        return np.frombuffer(index.to_bytes(), dtype=np.uint8).copy()
    return np.asarray(faiss.serialize_index(index), dtype=np.uint8)


def index_from_array(data: np.ndarray) -> Any:
    import faiss

    data = np.ascontiguousarray(data, dtype=np.uint8)
    if data[:len(PartedIndex.MAGIC)].tobytes() == PartedIndex.MAGIC:
        return PartedIndex.from_bytes(data.tobytes())
    return faiss.deserialize_index(data)


def ann_top_k(index: Any, Q: np.ndarray, k: int, ef_search: int,
              self_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`top_k` from a faiss HNSW index (approximate; `efSearch = max(ef_search, k + 1)`); the same
    identity rule (a row's own node is dropped, else the last of `k + 1` found)."""
    n = len(Q)
    nbr = np.zeros((n, k), dtype=np.int64)
    cos = np.zeros((n, k), dtype=np.float32)
    if n == 0 or k < 1:
        return nbr, cos
    extra = int(self_index is not None)
    sim, idx = _search(index, Q, k + extra, max(ef_search, k + 1))
    if extra:
        drop = idx == np.asarray(self_index)[:, None]
        drop[~drop.any(axis=1), -1] = True
        drop &= np.cumsum(drop, axis=1) == 1  # one column per row
        idx, sim = idx[~drop].reshape(n, k), sim[~drop].reshape(n, k)
    bad = idx < 0
    idx[bad], sim[bad] = 0, 0.0
    return idx.astype(np.int64), sim.astype(np.float32)


def row_top(A: sp.csr_matrix, m: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(positions in `A.data`, slot within the row) of each row's `m` largest entries (ties: the
    lower column; `A`'s indices are sorted in place), in storage order (by row, then column). A
    row with more than `m` entries gets its `m`-th largest value by a partial sort of a padded
    block of such rows (of similar lengths); entries above it are kept, and entries equal to it
    from the left."""
    A.sort_indices()
    n = A.shape[0]
    cnt = np.diff(A.indptr)
    rows = np.repeat(np.arange(n, dtype=np.int64), cnt)
    thr = np.full(n, -np.inf, dtype=A.data.dtype)
    big = np.flatnonzero(cnt > m)
    big = big[np.argsort(cnt[big], kind="stable")]  # blocks of rows of similar lengths pad little
    for lo in range(0, len(big), block):
        r = big[lo:lo + block]
        width = int(cnt[r].max())
        pad = np.full((len(r), width), np.inf, dtype=A.data.dtype)
        lens = cnt[r]
        first = np.cumsum(lens) - lens
        slot = np.arange(int(lens.sum())) - np.repeat(first, lens)
        pad[np.repeat(np.arange(len(r)), lens), slot] = -A.data[np.repeat(A.indptr[r], lens) + slot]
        thr[r] = -np.partition(pad, m - 1, axis=1)[:, m - 1]
    t = thr[rows]
    eq = A.data == t
    ceq = np.cumsum(eq)
    eq_rank = ceq - np.concatenate([[0], ceq])[A.indptr[:-1]][rows]  # 1-based among a row's ties
    gt = A.data > t
    cgt = np.cumsum(gt)
    n_gt = np.concatenate([[0], cgt])[A.indptr[1:]] - np.concatenate([[0], cgt])[A.indptr[:-1]]
    keep = np.flatnonzero(gt | (eq & (eq_rank <= (m - n_gt)[rows])))
    ck = np.cumsum(np.bincount(rows[keep], minlength=n))
    return keep, np.arange(len(keep)) - (ck - np.bincount(rows[keep], minlength=n))[rows[keep]]


_JIT: Any = None


def jit_kernels() -> Any:
    """The compiled twins of `shortlist_sparse` and `rerank_sparse` (`curate._knn_jit`), or None
    when numba is not installed (then the numpy versions run; both give the same output)."""
    global _JIT
    if _JIT is None:
        try:
            import numba

            if tuple(int(v) for v in numba.__version__.split(".")[:2]) < (0, 59):
                raise ImportError(f"numba {numba.__version__} is older than the 'fast' extra's 0.59")
            from saescope.curate import _knn_jit
        except (ImportError, ValueError):
            _knn_jit = False  # type: ignore[assignment]
        _JIT = _knn_jit
    return _JIT or None


def _kernels(jit: bool | None, A: Any, B: Any) -> Any:
    """The compiled kernels where they apply (float32 rows, the dtype of the tf-idf rows; `jit`
    None: when numba is installed, False: never, True: required)."""
    kernels = jit_kernels() if jit is not False else None
    if jit and kernels is None:
        raise ImportError("jit=True needs numba")
    return kernels if A.dtype == B.dtype == np.float32 else None


def _sorted_csr(A: sp.csr_matrix) -> sp.csr_matrix:
    A = sp.csr_matrix(A)
    if not A.has_sorted_indices:
        A = A.copy()
        A.sort_indices()
    return A


def shortlist_sparse(Q: sp.csr_matrix, B_T: sp.csr_matrix, L: int, query_terms: int,
                     jit: bool | None = None) -> np.ndarray:
    """int64 [n, L] candidate rows of `B` for each row of `Q` (-1: none): the `L` largest partial
    products over each query row's `query_terms` largest entries. `B_T` is `B` transposed (CSR),
    i.e. an inverted index: a column's posting list is one of its rows, and the product of the
    pruned queries with it touches only the posting lists of those terms (query-term pruning of
    term-at-a-time retrieval; high-weight, high-idf terms have short lists). Moffat & Zobel,
    "Self-indexing inverted files for fast text retrieval", ACM TOIS 1996, for the idea of
    evaluating only a query's most informative terms. `jit`: the compiled kernel (None: when numba
    is installed; the same output)."""
    Q, B_T = _sorted_csr(Q), sp.csr_matrix(B_T)  # query terms in column order
    kernels = _kernels(jit, Q, B_T)
    if kernels is not None:
        return kernels.shortlist(Q.indptr, Q.indices, Q.data, B_T.indptr, B_T.indices, B_T.data,
                                 B_T.shape[1], L, query_terms)
    R = sp.csr_matrix(keep_top(sp.csr_matrix(Q, copy=True), query_terms) @ B_T)
    R.eliminate_zeros()
    keep, rank = row_top(R, L)
    rows = np.repeat(np.arange(R.shape[0], dtype=np.int64), np.diff(R.indptr))[keep]
    cand = np.full((Q.shape[0], L), -1, dtype=np.int64)
    cand[rows, rank] = R.indices[keep]
    return cand


def keep_top(A: sp.csr_matrix, m: int) -> sp.csr_matrix:
    """`A` (CSR; its indices are sorted in place) with only each row's `m` largest entries (ties:
    the lower column); rows with fewer entries are unchanged."""
    cnt = np.diff(A.indptr)
    long = np.flatnonzero(cnt > m)
    if not len(long):
        return A
    A.sort_indices()
    keep_long, _ = row_top(A[long], m)  # only the rows that lose entries
    lens = cnt[long]
    pos = np.repeat(A.indptr[long] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
    keep = np.ones(A.nnz, dtype=bool)
    keep[pos] = False
    keep[pos[keep_long]] = True
    kept = cnt.astype(np.int64)
    kept[long] = m  # a long row keeps exactly m
    indptr = np.zeros(A.shape[0] + 1, dtype=np.int64)
    np.cumsum(kept, out=indptr[1:])
    return sp.csr_matrix((A.data[keep], A.indices[keep], indptr), shape=A.shape)


def rerank_sparse(Q: sp.csr_matrix, B: sp.csr_matrix, cand: np.ndarray, k: int,
                  self_index: np.ndarray | None = None, block: int = 32, jit: bool | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """`top_k` of the sparse unit rows `Q` among each row's candidate rows of `B` only (`cand`
    [n, L]; -1 and repeated candidates are skipped), with exact cosines: the second stage of a
    shortlist. A block of `block` query rows is scattered into a dense buffer once, so each
    candidate's entries are looked up, not merged. `jit`: the compiled kernel for the products
    (None: when numba is installed; the same output)."""
    n = cand.shape[0]
    Q, B = sp.csr_matrix(Q), sp.csr_matrix(B)
    kernels = _kernels(jit, Q, B)
    if kernels is None:
        return _rerank_top(_rerank_dots(Q, B, cand, block), cand, k, self_index)
    cand = np.ascontiguousarray(cand, dtype=np.int64)
    G = kernels.rerank_dots(Q.indptr, Q.indices, Q.data, B.indptr, B.indices, B.data, cand, Q.shape[1])
    own = np.full(n, -1, dtype=np.int64) if self_index is None else np.asarray(self_index, dtype=np.int64)
    return kernels.top_candidates(G, cand, k, own)


def _rerank_dots(Q: sp.csr_matrix, B: sp.csr_matrix, cand: np.ndarray, block: int) -> np.ndarray:
    """float32 [n, L] products of each row of `Q` with its candidate rows of `B` (numpy)."""
    n, L = cand.shape
    G = np.full((n, L), -np.inf, dtype=np.float32)
    D = np.zeros((min(block, max(n, 1)), Q.shape[1]), dtype=np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        q = Q[lo:hi]
        qr = np.repeat(np.arange(hi - lo), np.diff(q.indptr))
        D[qr, q.indices] = q.data
        c = cand[lo:hi].ravel()
        R = B[np.maximum(c, 0)]
        seg = np.repeat(np.arange(len(c)), np.diff(R.indptr))
        g = np.bincount(seg, weights=D[seg // L, R.indices] * R.data, minlength=len(c))
        G[lo:hi] = g.reshape(hi - lo, L)
        D[qr, q.indices] = 0.0
    return G


def _rerank_top(G: np.ndarray, cand: np.ndarray, k: int, self_index: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best candidates by the products `G` (-1, repeated and own candidates skipped)."""
    n, L = cand.shape
    G[cand < 0] = -np.inf
    order = np.argsort(cand, axis=1, kind="stable")  # repeated candidates: keep the first
    srt = np.take_along_axis(cand, order, axis=1)
    dup = np.zeros_like(cand, dtype=bool)
    dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
    G[np.nonzero(dup)[0], order[dup]] = -np.inf
    if self_index is not None:
        G[cand == np.asarray(self_index)[:, None]] = -np.inf
    kk = min(k, L)
    top = np.argsort(-G, axis=1, kind="stable")[:, :kk]
    nbr = np.zeros((n, k), dtype=np.int64)
    cos = np.zeros((n, k), dtype=np.float32)
    nbr[:, :kk] = np.take_along_axis(cand, top, axis=1)
    cos[:, :kk] = np.take_along_axis(G, top, axis=1)
    bad = ~np.isfinite(cos)
    cos[bad], nbr[bad] = 0.0, 0
    return nbr, cos
