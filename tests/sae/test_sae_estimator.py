"""The scikit-learn style estimator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from saescope.sae.estimator import SAETransformer


def test_fit_transform_inverse(sparse_X):
    X, _ = sparse_X
    est = SAETransformer(k=3, num_latents=48, steps=60, batch_size=128, lr=5e-3, device="cpu")
    with pytest.raises(NotFittedError):
        est.transform(X)
    codes = est.fit(X).transform(X[:200])
    assert sp.isspmatrix_csr(codes) and codes.shape == (200, 48)
    assert (np.diff(codes.indptr) == 3).all()
    X_hat = est.inverse_transform(codes)
    fvu = ((X[:200] - X_hat) ** 2).sum() / ((X[:200] - X[:200].mean(0)) ** 2).sum()
    assert fvu == pytest.approx(est.metrics_["fvu"], abs=0.1)
    assert fvu < 0.7
    assert est.components_.shape == (48, 16) and est.n_features_in_ == 16
    assert clone(est).get_params()["k"] == 3
