"""The chunked scoring kernel against a brute-force dense computation, space by space."""

from __future__ import annotations

import numpy as np
import pytest

from saescope.curate.spaces import fit_space, random_scores
from saescope.errors import ConfigError, InputError
from saescope.sae import SparseAutoencoder, encode_csr


def _dense_space(name: str, X: np.ndarray, sample: np.ndarray, sae: SparseAutoencoder | None):
    """Brute force: the space's rows as a dense matrix, centred, for X (fitted on `sample`)."""
    if name.startswith("embedding"):
        A, S = X.astype(np.float64), sample.astype(np.float64)
    else:
        A = encode_csr(sae, X).toarray().astype(np.float64)
        S = encode_csr(sae, sample).toarray().astype(np.float64)
        if name == "sae-idf":
            df = (S != 0).sum(axis=0)
            w = np.log((1 + len(S)) / (1 + df)) + 1
            A, S = A * w, S * w
    mu = S.mean(axis=0) if name.endswith("centered") else np.zeros(A.shape[1])
    return A - mu


def _unit(A: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(A, axis=1, keepdims=True)
    return np.divide(A, n, out=np.zeros_like(A), where=n > 0)


@pytest.mark.parametrize("name", ["embedding", "embedding-centered", "sae", "sae-idf", "sae-centered"])
def test_scores_match_brute_force(planted, name):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    pool, seeds = d.pool_X[:300], d.seed_X
    space = fit_space(name, seeds, pool, sae=sae, aggregate="max", clusters=3, seed=0)
    got = space.score(pool)
    P = _unit(_dense_space(name, pool, pool, sae))
    S = _unit(_dense_space(name, seeds, pool, sae))
    cos = P @ S.T
    np.testing.assert_allclose(got.max_sim, cos.max(axis=1), atol=2e-5)
    # the nearest seed is a true argmax (ties allowed)
    np.testing.assert_allclose(cos[np.arange(len(P)), got.nearest_seed], cos.max(axis=1), atol=2e-5)
    c = S.mean(axis=0)
    np.testing.assert_allclose(got.centroid_sim, P @ (c / np.linalg.norm(c)), atol=2e-5)
    np.testing.assert_array_equal(got.score, got.max_sim)
    # clusters: nearest k-means centre of the uncentred unit rows
    raw = _unit(_dense_space(name.replace("-centered", ""), pool, pool, sae)
                if name != "sae-centered" else encode_csr(sae, pool).toarray().astype(np.float64))
    dist = ((raw[:, None, :] - space.cluster_centers[None].astype(np.float64)) ** 2).sum(-1)
    best = dist.min(axis=1)
    np.testing.assert_allclose(dist[np.arange(len(raw)), got.cluster], best, atol=1e-4)
    # chunking does not change anything
    half = space.score(pool[:150])
    np.testing.assert_allclose(half.max_sim, got.max_sim[:150], atol=1e-6)


def test_centering_changes_the_ranking(planted):
    """embedding-centered is not embedding under another name: the pool mean is really removed."""
    d = planted.data
    raw = fit_space("embedding", d.seed_X, d.pool_X).score(d.pool_X)
    cen = fit_space("embedding-centered", d.seed_X, d.pool_X).score(d.pool_X)
    assert np.abs(raw.centroid_sim - cen.centroid_sim).max() > 0.01


def test_feature_score_is_sum_of_chosen_latent_activations(planted):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    feats = [int(i) for i in d.domain_atoms[1][-2:]]  # own atoms (the first are shared)
    space = fit_space("sae", None, d.pool_X, sae=sae, features=feats)
    got = space.score(d.pool_X)
    codes = encode_csr(sae, d.pool_X).toarray()
    np.testing.assert_allclose(got.score, codes[:, feats].sum(axis=1), rtol=1e-5)
    assert np.isnan(got.centroid_sim).all() and (got.nearest_seed == -1).all()
    # the chosen latents belong to domain 1: its rows score highest
    top = np.argsort(-got.score)[:100]
    assert (d.pool_labels[top] == 1).mean() > 0.9
    with pytest.raises(ConfigError, match="out of range"):
        fit_space("sae", None, d.pool_X, sae=sae, features=[10_000])


def test_random_scores_depend_on_id_and_seed_only():
    ids = np.array([f"x{i}" for i in range(1000)], dtype=object)
    a = random_scores(ids, 0)
    np.testing.assert_array_equal(a[500:], random_scores(ids[500:], 0))
    assert not np.array_equal(a, random_scores(ids, 1))
    assert 0 <= a.min() and a.max() < 1 and abs(a.mean() - 0.5) < 0.05


def test_fit_rejects_bad_inputs(planted):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    with pytest.raises(InputError, match="empty"):
        fit_space("embedding", d.seed_X[:0], d.pool_X)
    with pytest.raises(InputError, match="dimension"):
        fit_space("embedding", d.seed_X[:, :16], d.pool_X)
    with pytest.raises(InputError, match="SAE expects"):
        fit_space("sae", d.seed_X[:, :16], d.pool_X[:, :16], sae=sae)
    with pytest.raises(ConfigError, match="needs an SAE"):
        fit_space("sae", d.seed_X, d.pool_X)
