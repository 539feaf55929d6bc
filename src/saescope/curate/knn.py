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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from saescope.linalg import unit_rows

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
`efSearch` 32, on 42,132 centred MiniLM rows of MMLU (benchmarks/curate_ann.py) it found 96.7%
of the exact 21 nearest neighbours at 0.18 ms a row against 1.4 ms for the exact products (one
thread); M 32 found 99.2% at three times the search cost."""
HNSW_EF_CONSTRUCTION = 40
"""Candidate list while the HNSW graph is built."""


def hnsw_index(B: np.ndarray) -> Any:
    """A faiss HNSW index (inner product) over the unit rows `B`, built in row order.

    Hierarchical navigable small-world graphs (Malkov & Yashunin, IEEE TPAMI 2020) as
    implemented by faiss (Douze et al., "The Faiss library", arXiv:2401.08281)."""
    import faiss

    index = faiss.IndexHNSWFlat(B.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(np.ascontiguousarray(B, dtype=np.float32))
    return index


def index_to_array(index: Any) -> np.ndarray:
    """The faiss index as uint8 bytes (faiss's own format; saved with the fit in safetensors)."""
    import faiss

    return np.asarray(faiss.serialize_index(index), dtype=np.uint8)


def index_from_array(data: np.ndarray) -> Any:
    import faiss

    return faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))


def ann_top_k(index: Any, Q: np.ndarray, k: int, ef_search: int,
              self_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`top_k` from a faiss HNSW index (approximate; `efSearch = max(ef_search, k + 1)`); the same
    identity rule (a row's own node is dropped, else the last of `k + 1` found)."""
    n = len(Q)
    nbr = np.zeros((n, k), dtype=np.int64)
    cos = np.zeros((n, k), dtype=np.float32)
    if n == 0 or k < 1:
        return nbr, cos
    index.hnsw.efSearch = max(ef_search, k + 1)
    extra = int(self_index is not None)
    sim, idx = index.search(np.ascontiguousarray(Q, dtype=np.float32), k + extra)
    if extra:
        drop = idx == np.asarray(self_index)[:, None]
        drop[~drop.any(axis=1), -1] = True
        drop &= np.cumsum(drop, axis=1) == 1  # one column per row
        idx, sim = idx[~drop].reshape(n, k), sim[~drop].reshape(n, k)
    bad = idx < 0
    idx[bad], sim[bad] = 0, 0.0
    return idx.astype(np.int64), sim.astype(np.float32)


SKETCH_DIM = 256
"""Dimension of the dense sketch of sparse rows (`sketch`)."""


def sketch(A: sp.csr_matrix, dim: int = SKETCH_DIM) -> np.ndarray:
    """Dense float32 unit rows `A S` with `S` a count sketch: column `j` of `A` goes to one of
    `dim` columns with a sign, both from a fixed multiplicative hash of `j` (the same in every process).

    The count sketch (Charikar, Chen & Farach-Colton, ICALP 2002) keeps inner products in
    expectation; its estimates are rough (standard error about `1 / sqrt(dim)`), so it only
    shortlists candidates that `rerank_sparse` then compares exactly."""
    A = sp.csr_matrix(A)
    cols = A.indices.astype(np.int64)
    h = (cols * 2654435761) % (2**32)
    bucket, sign = h % dim, np.where((h >> 16) & 1, 1.0, -1.0).astype(np.float32)
    rows = np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr))
    out = np.bincount(rows * dim + bucket, weights=sign * A.data, minlength=A.shape[0] * dim)
    return unit_rows(out.reshape(A.shape[0], dim))


def rerank_sparse(Q: sp.csr_matrix, B: sp.csr_matrix, cand: np.ndarray, k: int,
                  self_index: np.ndarray | None = None, block: int = 1024
                  ) -> tuple[np.ndarray, np.ndarray]:
    """`top_k` of the sparse unit rows `Q` among each row's candidate rows of `B` only
    (`cand` [n, L], exact cosines): the second stage of a shortlist."""
    n, L = cand.shape
    nbr = np.zeros((n, k), dtype=np.int64)
    cos = np.zeros((n, k), dtype=np.float32)
    Q, B = sp.csr_matrix(Q), sp.csr_matrix(B)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        c = cand[lo:hi]
        R = B[c.ravel()]
        Qr = Q[np.repeat(np.arange(lo, hi), L)]
        G = np.asarray(R.multiply(Qr).sum(axis=1), dtype=np.float32).reshape(hi - lo, L)
        if self_index is not None:
            G[c == np.asarray(self_index[lo:hi])[:, None]] = -np.inf
        kk = min(k, L)
        top = np.argsort(-G, axis=1, kind="stable")[:, :kk]
        nbr[lo:hi, :kk] = np.take_along_axis(c, top, axis=1)
        cos[lo:hi, :kk] = np.take_along_axis(G, top, axis=1)
    bad = ~np.isfinite(cos)
    cos[bad], nbr[bad] = 0.0, 0
    return nbr, cos
