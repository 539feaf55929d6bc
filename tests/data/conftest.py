"""Shared, expensive fixtures of the data tests: one model of each kind per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def smollm2():
    """(model, tokenizer) of the offline SmolLM2 (de-quantised once into the default cache)."""
    import torch

    from saescope.data.models import load_causal_lm

    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_causal_lm("smollm2", device="cpu")


@pytest.fixture(scope="session")
def minilm():
    from saescope.data.embed import Embedder

    return Embedder("minilm", device="cpu", batch_size=32)


@pytest.fixture(scope="session")
def mmlu():
    from saescope.data.builtin import load_mmlu

    return load_mmlu()
