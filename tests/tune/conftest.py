"""Shared small data for the tune tests: a planted dictionary, split once, disjointly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saescope.data.synthetic import planted_dictionary
from saescope.tune import train_val_split

D_IN = 32
TARGET_L0 = 4


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and CI has 2 cores
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="session")
def base() -> dict:
    """Training settings of every trial: short runs (each well under a second on one core)."""
    return {"steps": 120, "batch_size": 128, "device": "cpu", "seed": 0, "log_every": 1000,
            "checkpoint_every": 0, "init_sample": 1024}


@pytest.fixture(scope="session")
def planted() -> np.ndarray:
    X, _ = planted_dictionary(2000, d=D_IN, num_atoms=96, k=TARGET_L0, noise=0.01, seed=3)
    return X


@pytest.fixture(scope="session")
def split(planted):
    tr, va = train_val_split(len(planted), 0.2, seed=0)
    return planted[tr], planted[va]
