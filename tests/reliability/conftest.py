from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "interpret"))  # fault_server, synth

from crashkit import ForkServer, strace_problem  # noqa: E402


@pytest.fixture(scope="session")
def fork_server():
    """One fork server for every crash test (it pays the imports once), or a skip with the reason."""
    problem = strace_problem()
    if problem is not None:
        pytest.skip(problem)
    with ForkServer() as fs:
        yield fs
