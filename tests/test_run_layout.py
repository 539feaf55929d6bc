"""The run folder layout: a full run or a single stage's output is recognised."""

from __future__ import annotations

import pytest

from saescope.errors import SaescopeError
from saescope.run_layout import RunLayout


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


def test_from_parts_puts_separate_outputs_together(tmp_path):
    from saescope.errors import InputError

    _touch(tmp_path / "sae", "cfg.json", "sae.safetensors")
    _touch(tmp_path / "interp", "latents.parquet", "summary.json")
    _touch(tmp_path / "picked", "selected.parquet", "manifest.json")
    (tmp_path / "emb.parquet").write_text("x")
    lay = RunLayout.from_parts(data=tmp_path / "emb.parquet", sae=tmp_path / "sae",
                               interpret=tmp_path / "interp", curate=tmp_path / "picked")
    assert lay.missing() == [] and lay.root == tmp_path.resolve()
    assert lay.interpret == tmp_path / "interp" and lay.cache == lay.root / ".saescope-cache"
    # A run folder with one stage replaced by an output given apart.
    run = tmp_path / "run"
    _touch(run / "sae", "cfg.json", "sae.safetensors")
    lay = RunLayout.from_parts(run, curate=tmp_path / "picked")
    assert lay.sae == run / "sae" and lay.curate == tmp_path / "picked"
    with pytest.raises(InputError, match=r"--interpret .*no summary.json"):
        _touch(tmp_path / "half", "latents.parquet")
        RunLayout.from_parts(interpret=tmp_path / "half")
    with pytest.raises(InputError, match="--data .*no such file"):
        RunLayout.from_parts(data=tmp_path / "nope.parquet")
    with pytest.raises(InputError, match="give a run folder"):
        RunLayout.from_parts()


def test_stage_cache_skips_finished_stages_and_redoes_what_follows_a_change(tmp_path):
    from saescope.run_layout import StageCache

    out = tmp_path / "a.txt"
    out.write_text("x")
    cache = StageCache(tmp_path, command="mine", config={"rows": 3})
    fp_a = cache.fingerprint("a", {"rows": 3})
    assert not cache.fresh("a", fp_a, [out])  # never finished
    cache.finish("a", fp_a)
    fp_b = cache.fingerprint("b", {})
    cache.finish("b", fp_b)
    again = StageCache(tmp_path)  # read back from run.json
    assert again.fresh("a", again.fingerprint("a", {"rows": 3}), [out])
    assert again.fresh("b", again.fingerprint("b", {}), [])
    assert not again.fresh("b", fp_b, [tmp_path / "gone"])  # an output is missing
    changed = StageCache(tmp_path)
    assert not changed.fresh("a", changed.fingerprint("a", {"rows": 4}), [out])
    assert not changed.fresh("b", changed.fingerprint("b", {}), [])  # upstream changed
    import json

    state = json.loads((tmp_path / "run.json").read_text())
    assert state == {"command": "mine", "config": {"rows": 3}, "stages": {"a": fp_a, "b": fp_b}}
