from __future__ import annotations

import numpy as np
import pytest

from saescope.data.synthetic import planted_dictionary, planted_domains
from saescope.errors import ConfigError


def test_planted_dictionary_structure() -> None:
    X, atoms, (idx, coef) = planted_dictionary(2000, noise=0.02, seed=1, return_codes=True)
    assert X.shape == (2000, 64) and X.dtype == np.float32
    assert atoms.shape == (256, 64)
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1.0, atol=1e-5)
    assert idx.shape == (2000, 5)
    assert all(len(set(r)) == 5 for r in idx.tolist())
    assert (coef >= 0.5).all() and (coef <= 1.5).all()
    residual = X - np.einsum("nk,nkd->nd", coef, atoms[idx])
    assert abs(residual.std() - 0.02) < 0.002
    # Atoms are used roughly uniformly.
    counts = np.bincount(idx.ravel(), minlength=256)
    assert counts.min() > 0
    X2, atoms2 = planted_dictionary(10, seed=1)
    np.testing.assert_array_equal(atoms2, atoms)
    with pytest.raises(ConfigError):
        planted_dictionary(10, k=300)


def _span_residual(X: np.ndarray, basis: np.ndarray) -> np.ndarray:
    Q, _ = np.linalg.qr(basis.T)
    return np.linalg.norm(X - (X @ Q) @ Q.T, axis=1) / np.linalg.norm(X, axis=1)


def test_planted_domains_share_directions() -> None:
    pd = planted_domains(n_seed=300, n_pool=1200, d=64, num_domains=4, overlap=0.0, noise=0.01, seed=2)
    assert pd.seed_X.shape == (300, 64) and pd.pool_X.shape == (1200, 64)
    assert set(pd.seed_labels.tolist()) == {0}
    assert set(pd.pool_labels.tolist()) == {0, 1, 2, 3}
    # Seeds and pool items of domain 0 live in the span of the same domain-0 directions.
    basis = pd.atoms[pd.domain_atoms[0]]
    assert _span_residual(pd.seed_X, basis).max() < 0.1
    in0 = pd.pool_labels == 0
    assert _span_residual(pd.pool_X[in0], basis).max() < 0.1
    assert _span_residual(pd.pool_X[~in0], basis).min() > 0.3
    assert np.array_equal(pd.pool_is_target, in0)
    # overlap=0: disjoint atom sets; overlap=1: identical.
    assert not set(pd.domain_atoms[0]) & set(pd.domain_atoms[1])
    same = planted_domains(n_seed=5, n_pool=5, overlap=1.0)
    assert all(np.array_equal(a, same.domain_atoms[0]) for a in same.domain_atoms)
    half = planted_domains(n_seed=5, n_pool=5, atoms_per_domain=8, overlap=0.5)
    assert len(set(half.domain_atoms[0]) & set(half.domain_atoms[1])) == 4


def test_planted_domains_sizes_fractions_tables() -> None:
    pd = planted_domains(n_seed=50, n_pool=4000, num_domains=3, seed_domains=(1, 2),
                         pool_fractions=[0.5, 0.25, 0.25], seed=0)
    assert set(pd.seed_labels.tolist()) == {1, 2}
    frac = np.bincount(pd.pool_labels, minlength=3) / 4000
    np.testing.assert_allclose(frac, [0.5, 0.25, 0.25], atol=0.03)
    seed_t, pool_t = pd.tables()
    assert seed_t.num_rows == 50 and pool_t.column_names == ["id", "embedding", "label"]
    assert pool_t.schema.field("embedding").type.list_size == 64
    assert pool_t["label"][0].as_py() == f"domain_{pd.pool_labels[0]}"
    with pytest.raises(ConfigError):
        planted_domains(seed_domains=(7,))
