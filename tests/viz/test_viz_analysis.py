"""The numbers behind the views, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from saescope.viz import analysis


def test_pca_spectrum_matches_known_variances():
    rng = np.random.default_rng(0)
    # Independent axes with variances 9, 4, 1, 0.01 (then a random rotation): ratios are known.
    Z = rng.standard_normal((20000, 4)) * np.sqrt([9.0, 4.0, 1.0, 0.01])
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    ratio, n95 = analysis.pca_spectrum(Z @ Q.T)
    expected = np.array([9, 4, 1, 0.01]) / 14.01
    np.testing.assert_allclose(ratio, expected, atol=0.01)
    # 9/14.01 = 0.64, +4 -> 0.928, +1 -> 0.9993: three components reach 95%.
    assert n95 == 3


def test_pca_spectrum_counts_beyond_returned_components():
    X = np.random.default_rng(1).standard_normal((500, 50))
    ratio, n95 = analysis.pca_spectrum(X, max_components=5)
    assert len(ratio) == 5
    assert n95 > 5  # isotropic noise needs most of the 50 axes


def test_kendall_tau_by_hand():
    codes = sp.csr_matrix(np.array([
        [3.0, 2.0, 1.0, 0.0],   # a
        [1.0, 2.0, 3.0, 0.0],   # reversed ranking of a on the same latents
        [3.0, 2.0, 1.0, 0.0],   # identical to a
        [0.0, 0.0, 2.0, 1.0],
    ]))
    tau = analysis.kendall_tau_matrix(codes)
    assert tau[0, 1] == pytest.approx(-1.0)
    assert tau[0, 2] == pytest.approx(1.0)
    # a vs row 3 over the union {0,1,2,3}: a=(3,2,1,0), b=(0,0,2,1).
    # Pairs: (0,1) tie in b; (0,2),(0,3),(1,2),(1,3) discordant; (2,3) concordant (1>0, 2>1).
    # tau_b = (1 - 4) / sqrt((6 - 0) * (6 - 1)) = -3 / sqrt(30)
    assert tau[0, 3] == pytest.approx(-3 / np.sqrt(30))
    np.testing.assert_allclose(tau, tau.T)


def test_kendall_tau_nan_when_undefined():
    codes = np.array([[1.0, 0, 0], [0, 0, 0]])
    tau = analysis.kendall_tau_matrix(codes)
    assert np.isnan(tau[0, 1])


def test_most_similar_pairs_order_and_values():
    X = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [-1.0, 0]])
    pairs = analysis.most_similar_pairs(X, 2)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 2)]
    c01 = 0.9 / np.hypot(0.9, 0.1)
    assert pairs[0][2] == pytest.approx(c01, abs=1e-6)
    sims = analysis.pairwise_cosines(X)
    assert len(sims) == 6 and sims.max() == pytest.approx(c01, abs=1e-6)


def test_reranked_sorts_each_row_descending():
    codes = sp.csr_matrix(np.array([[0.0, 2.0, 5.0, 1.0], [4.0, 0.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(analysis.reranked(codes, top=3), [[5, 2, 1], [4, 3, 0]])


def test_latent_activations_are_the_column_nonzeros():
    codes = sp.csr_matrix(np.array([[0.0, 2.0], [1.5, 0.0], [0.0, 3.0]]))
    np.testing.assert_array_equal(np.sort(analysis.latent_activations(codes, 1)), [2.0, 3.0])


def test_sample_rows_bounded_sorted_unique():
    idx = analysis.sample_rows(100_000, 500, seed=3)
    assert len(idx) == 500 and np.all(np.diff(idx) > 0) and idx.max() < 100_000
    np.testing.assert_array_equal(analysis.sample_rows(10, 500), np.arange(10))


def test_project_2d_tsne_separates_clusters():
    rng = np.random.default_rng(0)
    centers = np.eye(8)[:2] * 10
    X = np.vstack([c + rng.standard_normal((25, 8)) * 0.1 for c in centers])
    coords, method = analysis.project_2d(X, "tsne", metric="euclidean")
    assert method == "t-SNE" and coords.shape == (50, 2)
    a, b = coords[:25].mean(0), coords[25:].mean(0)
    spread = max(coords[:25].std(0).max(), coords[25:].std(0).max())
    assert np.linalg.norm(a - b) > 3 * spread


def test_project_2d_small_input_uses_pca():
    coords, method = analysis.project_2d(np.eye(5), "auto")
    assert method == "PCA" and coords.shape == (5, 2)


def test_kmeans_labels_finds_planted_clusters():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.standard_normal((30, 3)) * 0.05 + c for c in ([0, 0, 5], [5, 0, 0], [0, 5, 0])])
    labels = analysis.kmeans_labels(X, 3)
    assert len(set(labels)) == 3
    for block in range(3):
        assert len(set(labels[block * 30:(block + 1) * 30])) == 1


def test_kendall_tau_b_agrees_with_scipy_on_ties():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 4, 12).astype(float)
        b = rng.integers(0, 4, 12).astype(float)
        assert analysis.kendall_tau_b(a, b) == pytest.approx(kendalltau(a, b).statistic)
