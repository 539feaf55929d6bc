"""Fixtures of the viz tests: see conftest_shared.py (also used by tests/dashboard)."""

from conftest_shared import planted_run, sample_run  # noqa: F401
