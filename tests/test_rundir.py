"""The run folder layout: a full run or a single stage's output is recognised."""

from __future__ import annotations

import pytest

from saescope.errors import SaescopeError
from saescope.rundir import RunLayout


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_text("x")


def test_full_run_folder(tmp_path):
    _touch(tmp_path / "sae", "cfg.json", "sae.safetensors")
    _touch(tmp_path / "curate", "selected.parquet", "manifest.json")
    _touch(tmp_path / "data", "embeddings.parquet")
    layout = RunLayout.detect(tmp_path)
    assert layout.sae == tmp_path / "sae"
    assert layout.curate == tmp_path / "curate"
    assert layout.data == tmp_path / "data" / "embeddings.parquet"
    assert layout.missing() == ["interpret"]


def test_single_stage_outputs(tmp_path):
    _touch(tmp_path / "t", "cfg.json", "sae.safetensors")
    _touch(tmp_path / "i", "latents.parquet", "summary.json")
    assert RunLayout.detect(tmp_path / "t").sae == tmp_path / "t"
    layout = RunLayout.detect(tmp_path / "i")
    assert layout.interpret == tmp_path / "i" and layout.sae is None


def test_incomplete_stage_is_not_detected(tmp_path):
    _touch(tmp_path / "sae", "cfg.json")  # weights missing
    assert RunLayout.detect(tmp_path).sae is None
    with pytest.raises(SaescopeError, match="not a folder"):
        RunLayout.detect(tmp_path / "nope")
