"""Feature families (O'Neill et al. 2024) and similar latents by decoder cosine.

Families follow O'Neill, Ye, Iyer & Wu 2024, "Disentangling Dense Embeddings with Sparse
Autoencoders" (arXiv:2408.00657), sec. "Feature families":

1. co-occurrence C_ij = number of rows on which latents i and j both fire;
2. normalised weight w_ij = C_ij / min(C_ii, C_jj), the fraction of the rarer latent's firings
   shared with the other; edges below `min_weight` are dropped;
3. the maximum spanning tree (forest) of that graph;
4. each tree edge points from the denser latent (parent) to the sparser (child); a latent with
   no denser neighbour in the tree is a root, and every latent joins the family of the root
   reached by repeatedly following its strongest edge to a denser neighbour. A family is a root
   with its subtree.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import minimum_spanning_tree

from saescope.linalg import unit_rows


def feature_families(codes: sp.csr_matrix, min_weight: float = 0.1) -> np.ndarray:
    """[M] int32: the root latent of each latent's family (itself when it is a root)."""
    B = (codes.tocsr() != 0).astype(np.float32)
    C = (B.T @ B).tocoo()  # [M, M] co-occurrence counts
    M = codes.shape[1]
    counts = np.asarray(B.sum(0)).ravel().astype(np.float64)
    off = C.row < C.col
    i, j, c = C.row[off], C.col[off], C.data[off].astype(np.float64)
    w = c / np.maximum(np.minimum(counts[i], counts[j]), 1.0)
    keep = w >= min_weight
    i, j, w = i[keep], j[keep], w[keep]
    parent_of = np.arange(M)
    if len(w) == 0:
        return parent_of.astype(np.int32)
    # Maximum spanning tree = minimum spanning tree of (2 - w) > 0 (zero weights mean "no edge").
    G = sp.coo_matrix((2.0 - w, (i, j)), shape=(M, M)).tocsr()
    T = minimum_spanning_tree(G).tocoo()
    ti, tj, tw = T.row, T.col, 2.0 - T.data
    # Orient edges denser -> sparser (ties: lower index is denser).
    denser_i = (counts[ti] > counts[tj]) | ((counts[ti] == counts[tj]) & (ti < tj))
    par = np.where(denser_i, ti, tj)
    chi = np.where(denser_i, tj, ti)
    # Each child's strongest edge to a denser neighbour.
    order = np.lexsort((-tw, chi))
    chi_s, par_s = chi[order], par[order]
    first = np.r_[True, chi_s[1:] != chi_s[:-1]]
    parent_of[chi_s[first]] = par_s[first]
    # Follow parents to the root (density strictly increases along the way, so this ends).
    root = parent_of.copy()
    for _ in range(M):
        nxt = parent_of[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    return root.astype(np.int32)


def similar_latents(W_dec: np.ndarray, latents: np.ndarray | None = None, k: int = 5, block: int = 2048) -> np.ndarray:
    """[L, k] int32: the k latents with the highest decoder cosine to each (self excluded)."""
    W = unit_rows(W_dec)
    lat = np.arange(len(W)) if latents is None else np.asarray(latents, dtype=np.int64)
    k = min(k, len(W) - 1)
    out = np.zeros((len(lat), max(k, 0)), dtype=np.int32)
    if k <= 0:
        return out
    for s in range(0, len(lat), block):
        q = lat[s : s + block]
        S = W[q] @ W.T
        S[np.arange(len(q)), q] = -np.inf
        top = np.argpartition(-S, k - 1, axis=1)[:, :k]
        o = np.argsort(-np.take_along_axis(S, top, 1), axis=1, kind="stable")
        out[s : s + len(q)] = np.take_along_axis(top, o, 1)
    return out
