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
