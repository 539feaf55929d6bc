"""The approximate kNN pieces of `curate.knn` against brute force on small planted inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from saescope.curate.knn import keep_top, rerank_sparse, row_top, shortlist_sparse, top_k
from saescope.linalg import unit_csr


def _sparse(rng: np.random.Generator, n: int, cols: int, density: float, levels: int = 0) -> sp.csr_matrix:
    """Random non-negative CSR rows; `levels` > 0 draws values from that many levels (many ties)."""
    A = sp.random(n, cols, density=density, format="csr", random_state=rng, dtype=np.float32)
    if levels:
        A.data = np.ceil(A.data * levels).astype(np.float32)
    A.eliminate_zeros()
    return A


def _brute_top(A: sp.csr_matrix, m: int) -> list[set[int]]:
    """Each row's m largest entries by (value desc, column asc), as column sets."""
    out = []
    for i in range(A.shape[0]):
        cols, vals = A.indices[A.indptr[i]:A.indptr[i + 1]], A.data[A.indptr[i]:A.indptr[i + 1]]
        order = sorted(range(len(cols)), key=lambda j: (-vals[j], cols[j]))[:m]
        out.append({int(cols[j]) for j in order})
    return out


def test_row_top_keeps_each_rows_largest_with_ties_to_the_lower_column():
    rng = np.random.default_rng(0)
    for levels in (0, 3):  # distinct values, then heavy ties
        A = _sparse(rng, 300, 500, 0.05, levels)
        for m in (1, 4, 40):
            keep, slot = row_top(A, m, block=7)  # several padded blocks
            rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))[keep]
            got = [set() for _ in range(A.shape[0])]
            for r, c in zip(rows, A.indices[keep], strict=True):
                got[r].add(int(c))
            assert got == _brute_top(A, m)
            for r in range(A.shape[0]):  # slots number each row's kept entries 0, 1, ...
                assert sorted(slot[rows == r]) == list(range((rows == r).sum()))
            P = keep_top(A.copy(), m)
            assert [set(P.indices[P.indptr[i]:P.indptr[i + 1]]) for i in range(A.shape[0])] == got


def test_shortlist_and_rerank_find_the_exact_sparse_neighbours():
    """With every query term and a shortlist as long as the base, shortlist + exact re-rank is the
    exact search; with pruned queries it still finds almost all of the exact cosine mass."""
    rng = np.random.default_rng(1)
    topics = rng.integers(0, 20, 600)
    A = sp.lil_matrix((600, 2000), dtype=np.float32)
    for i, t in enumerate(topics):  # topic words and background words
        A[i, rng.choice(np.arange(t * 50, t * 50 + 50), 6, replace=False)] = rng.random(6) + 0.5
        A[i, rng.choice(np.arange(1000, 2000), 6, replace=False)] = rng.random(6)
    B = sp.csr_matrix(unit_csr(sp.csr_matrix(A)), dtype=np.float32)
    own = np.arange(B.shape[0])
    exact_nbr, exact_cos = top_k(B, B, 10, self_index=own)
    BT = sp.csr_matrix(B.T)
    full = shortlist_sparse(B, BT, B.shape[0], 1000)
    nbr, cos = rerank_sparse(B, B, full, 10, self_index=own)
    np.testing.assert_allclose(cos, exact_cos, atol=1e-5)
    assert not (nbr == own[:, None]).any()
    cand = shortlist_sparse(B, BT, 16, 4)
    assert cand.shape == (600, 16)
    nbr, cos = rerank_sparse(B, B, np.hstack([cand, cand[:, :5], np.full((600, 2), -1)]), 10, own)
    assert not (nbr == own[:, None]).any()
    assert all(len(set(r[c > 0])) == (c > 0).sum() for r, c in zip(nbr, cos, strict=True))  # no repeats
    assert cos.sum() / exact_cos.sum() > 0.9


def test_compiled_kernels_give_the_numpy_kernels_output_exactly():
    """The numba twins of the shortlist and the re-rank (used when numba is installed) return the
    numpy versions' candidates, neighbours and cosines bit for bit, ties and empty rows included."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(2)
    for levels in (0, 3):  # distinct values, then heavy ties
        Q = sp.csr_matrix(unit_csr(_sparse(rng, 200, 400, 0.04, levels)), dtype=np.float32)  # as text_units
        Q = sp.csr_matrix(sp.diags((np.arange(200) % 17 > 0).astype(np.float32)) @ Q)  # some empty rows
        Q.eliminate_zeros()
        B = sp.csr_matrix(unit_csr(_sparse(rng, 300, 400, 0.04, levels)), dtype=np.float32)
        BT = sp.csr_matrix(B.T)
        for L, terms in ((5, 2), (16, 4), (40, 400)):
            cand = {jit: shortlist_sparse(Q, BT, L, terms, jit=jit) for jit in (False, True)}
            np.testing.assert_array_equal(cand[True], cand[False])
            full = np.hstack([cand[False], cand[False][:, :3], rng.integers(-1, 300, (200, 7))])
            own = rng.integers(-1, 300, 200)
            out = {jit: rerank_sparse(Q, B, full, 10, own, jit=jit) for jit in (False, True)}
            np.testing.assert_array_equal(out[True][0], out[False][0])
            np.testing.assert_array_equal(out[True][1], out[False][1])
    assert (np.diff(Q.indptr) == 0).any() and (cand[False] == -1).any()  # empty rows, short lists
    assert (cand[False][:, 0] >= 0).any()


def test_the_nodes_text_graph_takes_the_fit_time_shortlist():
    """`fit_shortlist` / `fit_query_terms` set the search of the nodes' own text
    neighbours (the graph), `text_shortlist` / `text_query_terms` that of the scored rows: with a
    fit-time shortlist as long as the nodes over every term, the graph's text neighbours are the
    exact ones while the scored rows keep their short list."""
    from saescope.curate.spaces.graph import GraphConfig, _text_approx

    rng = np.random.default_rng(3)
    B = sp.csr_matrix(unit_csr(_sparse(rng, 400, 600, 0.03)), dtype=np.float32)
    own = np.arange(400)
    exact_nbr, exact_cos = top_k(B, B, 10, self_index=own)
    cfg = GraphConfig(index="approx", text_shortlist=2, text_query_terms=1,
                      fit_shortlist=400, fit_query_terms=600)
    none = np.full((400, 0), -1, dtype=np.int64)  # no embedding neighbours: the text search alone
    nbr, cos = _text_approx(B, B, sp.csr_matrix(B.T), cfg, 10, own, none, of_nodes=True)
    np.testing.assert_allclose(cos, exact_cos, atol=1e-6)
    _, short = _text_approx(B, B, sp.csr_matrix(B.T), cfg, 10, own, none)
    assert (short[:, 2:] == 0).all() and short.sum() < 0.5 * exact_cos.sum()
