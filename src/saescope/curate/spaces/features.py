"""Feature selection: the score is the sum of the chosen latents' activations (no seeds needed).

Chosen by `SelectionConfig.features` / `feature_query` whatever the space's name; rows where none
of the latents fires are not candidates (`pipeline.select_rows`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from saescope.curate.spaces.base import Chunk, FittedSpace, Space, register


@register
class FeatureSpace(Space):
    """Score = `sum_f a_f` over the chosen latents `f` of the raw SAE code."""

    names = ("features",)
    needs_codes = True

    def __init__(self, features: np.ndarray) -> None:
        self.features = np.asarray(features, dtype=np.int64)
        """int64 latent indices."""

    def score(self, chunk: Chunk, rep: FittedSpace) -> np.ndarray:
        return np.asarray(chunk.codes[:, self.features].sum(axis=1), dtype=np.float32).ravel()

    def contributions(self, codes: sp.csr_matrix, rep: FittedSpace) -> sp.csr_matrix:
        """`a_f` for the chosen latents: an exact split of the score."""
        C = sp.csr_matrix(codes, dtype=np.float64, copy=True)
        C.data = np.where(np.isin(C.indices, self.features), C.data, 0.0)
        return C

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"features": np.ascontiguousarray(self.features)}, {}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> FeatureSpace:
        return cls(arrays["features"])
