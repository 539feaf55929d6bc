from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fault_server import FaultServer, Oracle  # noqa: E402
from synth import TOPICS  # noqa: E402


@pytest.fixture()
def fault_server():
    with FaultServer(Oracle(TOPICS)) as srv:
        yield srv


@pytest.fixture()
def fast_backoff(monkeypatch):
    """Backends built inside run_interpret back off for milliseconds instead of seconds."""
    import saescope.interpret.llm as llm_mod

    real = llm_mod.OpenAIBackend.__post_init__

    def fast(self):
        real(self)
        self.backoff_base, self.backoff_max, self.max_retries = 0.01, 0.05, 2

    monkeypatch.setattr(llm_mod.OpenAIBackend, "__post_init__", fast)
