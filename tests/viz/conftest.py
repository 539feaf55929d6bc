"""One small real run folder (MMLU + MiniLM + a trained SAE) shared by the viz tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from saescope.viz.sample_run import ensure_sample_run

    torch.set_num_threads(1)  # small models; threads only contend on 2 cores
    # The same folder for tests/viz and tests/dashboard: built once per session.
    return ensure_sample_run(tmp_path_factory.getbasetemp() / "saescope-sample-run")
