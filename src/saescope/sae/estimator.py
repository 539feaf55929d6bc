"""A scikit-learn style estimator around `train_sae`: fit, transform (CSR codes), inverse_transform.

```python
from saescope.sae.estimator import SAETransformer
est = SAETransformer(k=16, expansion_factor=8, epochs=20).fit(X)
codes = est.transform(X)            # scipy.sparse.csr_matrix [N, M]
X_hat = est.inverse_transform(codes)
```
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from saescope.errors import InputError
from saescope.sae.config import SAEConfig, TrainConfig
from saescope.sae.encode import decode_csr, encode_csr
from saescope.sae.model import SparseAutoencoder
from saescope.sae.train import train_sae


class SAETransformer(TransformerMixin, BaseEstimator):
    """Sparse autoencoder as a scikit-learn transformer.

    Parameters mirror `SAEConfig`/`TrainConfig` and share their defaults (None: sized for the
    data, early stopping on the validation FVU); `options` holds architecture options
    (e.g. {"l1_coef": 0.1} for relu). Learned state: `sae_` (SparseAutoencoder), `metrics_`
    (validation metrics), `n_features_in_`, `components_` (decoder rows [M, D] as numpy).
    """

    def __init__(self, arch: str = "topk", k: int = 32, expansion_factor: int | None = None,
                 num_latents: int = 0, epochs: int | None = None, steps: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, seed: int = 0,
                 device: str = "auto", val_fraction: float = 0.1,
                 options: dict[str, Any] | None = None, progress: bool = False) -> None:
        self.arch = arch
        self.k = k
        self.expansion_factor = expansion_factor
        self.num_latents = num_latents
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.val_fraction = val_fraction
        self.options = options
        self.progress = progress

    def _config(self) -> TrainConfig:
        sae = SAEConfig(arch=self.arch, k=self.k, expansion_factor=self.expansion_factor,
                        num_latents=self.num_latents, options=dict(self.options or {}))
        return TrainConfig(sae=sae, epochs=self.epochs, steps=self.steps,
                           batch_size=self.batch_size, lr=self.lr, seed=self.seed,
                           device=self.device, val_fraction=self.val_fraction)

    def fit(self, X: Any, y: Any = None) -> SAETransformer:
        """Train on X [N, D] (y is ignored)."""
        X = _as_matrix(X)
        result = train_sae(X, self._config(), progress=self.progress)
        self.sae_ = result.sae.cpu()
        self.metrics_ = result.metrics
        self.n_features_in_ = X.shape[1]
        self.components_ = self.sae_.W_dec.detach().numpy().copy()
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        """Sparse codes, float32 CSR [N, M]."""
        self._check_fitted()
        return encode_csr(self.sae_, _as_matrix(X))

    def inverse_transform(self, codes: Any) -> np.ndarray:
        """Reconstructions [N, D] from codes (CSR or dense [N, M])."""
        self._check_fitted()
        return decode_csr(self.sae_, codes)

    @classmethod
    def from_pretrained(cls, folder: str) -> SAETransformer:
        """Wrap a saved SAE folder (cfg.json + sae.safetensors) without training."""
        sae = SparseAutoencoder.load(folder)
        est = cls(arch=sae.cfg.arch, k=sae.cfg.k, num_latents=sae.num_latents)
        est.sae_, est.metrics_, est.n_features_in_ = sae, {}, sae.d_in
        est.components_ = sae.W_dec.detach().numpy().copy()
        return est

    def _check_fitted(self) -> None:
        if not hasattr(self, "sae_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("SAETransformer is not fitted yet; call fit(X) first")


def _as_matrix(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise InputError(f"expected a 2-D array [N, D], got shape {X.shape}")
    if not np.isfinite(X).all():
        bad = int(np.flatnonzero(~np.isfinite(X).all(1))[0])
        raise InputError(f"input has NaN or Inf values (first at row {bad})")
    return X
