"""`random`: a uniform score from a keyed hash of the row id (the floor). Its similarity columns
are measured in the `embedding` space."""

from __future__ import annotations

from typing import Any

import numpy as np

from saescope.curate.spaces.base import Chunk, FitData, FittedSpace, Space, keyed_hash, register


@register
class RandomSpace(Space):
    """Score = `random_scores(ids, seed)`: independent of sharding and order."""

    names = ("random",)

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        """Key of the hash."""

    def fit(self, data: FitData, rep: FittedSpace) -> None:
        self.seed = data.seed

    def score(self, chunk: Chunk, rep: FittedSpace) -> np.ndarray:
        if chunk.ids is None:
            raise ValueError("the random space needs row ids")
        return random_scores(chunk.ids, self.seed)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"random_seed": self.seed}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> RandomSpace:
        return cls(int(meta.get("random_seed", 0)))


def random_scores(ids: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) scores from a keyed hash of each id: independent of sharding and order."""
    return (keyed_hash(ids, seed) / 2.0**64).astype(np.float32)
