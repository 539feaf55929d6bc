"""The dashboard tests use the viz tests' run folders (tests/viz/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viz"))

from conftest_shared import planted_run, sample_run  # noqa: E402, F401
