"""Run folders shared by the viz and dashboard tests: a small real run (MMLU + MiniLM + a trained
SAE, `viz_sample_run.py`) and a data-only run of planted clusters."""

from __future__ import annotations

from pathlib import Path

import pytest
from viz_planted import write_planted_run
from viz_sample_run import ensure_sample_run


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)  # small models; threads only contend on 2 cores
    # The same folder for tests/viz and tests/dashboard: built once per session.
    return ensure_sample_run(tmp_path_factory.getbasetemp() / "saescope-sample-run")


@pytest.fixture(scope="session")
def planted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_planted_run(tmp_path_factory.getbasetemp() / "saescope-planted-run")
