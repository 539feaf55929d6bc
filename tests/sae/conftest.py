"""Shared fixtures of the SAE tests (small data, built once per session)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # These tests use tiny tensors, where intra-op threads cost more than they give; restore
    # the setting for the other stages' tests.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def gaussian_X() -> np.ndarray:
    """1,200 x 16 correlated Gaussian rows with an offset (a non-zero mean to learn)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((16, 16)) / 4
    return (rng.standard_normal((1200, 16)) @ A + 3.0).astype(np.float32)


@pytest.fixture(scope="session")
def sparse_X() -> tuple[np.ndarray, np.ndarray]:
    """Rows that are non-negative combinations of 3 of 32 unit directions in 16-d."""
    rng = np.random.default_rng(1)
    atoms = rng.standard_normal((32, 16))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    n = 3000
    idx = np.argsort(rng.random((n, 32)), axis=1)[:, :3]
    coef = rng.uniform(0.5, 1.5, (n, 3))
    X = np.einsum("nk,nkd->nd", coef, atoms[idx]) + 0.01 * rng.standard_normal((n, 16))
    return X.astype(np.float32), atoms.astype(np.float32)
