from __future__ import annotations

from pathlib import Path

import pytest

from saescope.data import models
from saescope.errors import InputError


def test_cache_dir_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAESCOPE_CACHE_DIR", str(tmp_path / "c"))
    assert models.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SAESCOPE_CACHE_DIR")
    assert models.default_cache_dir().name == "saescope"


def test_resolve_sentence_model(tmp_path: Path) -> None:
    folder = Path(models.resolve_sentence_model("minilm"))
    assert (folder / "modules.json").is_file()
    assert models.resolve_sentence_model(str(tmp_path)) == str(tmp_path)
    assert models.resolve_sentence_model("org/some-model") == "org/some-model"


def test_smollm2_dequantised_once(smollm2, monkeypatch) -> None:
    model, tok = smollm2
    cached = models.dequantised_model_dir("smollm2")
    assert (cached / "config.json").is_file() and (cached / "model.safetensors").is_file()
    assert model.dtype.is_floating_point and str(model.dtype) == "torch.float32"
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576

    def no_gguf(_path):
        raise AssertionError("the cached folder should have been reused")

    monkeypatch.setattr(models, "_load_gguf", no_gguf)
    assert models.dequantised_model_dir("smollm2") == cached
    assert models.resolve_causal_lm("smollm2") == str(cached)


def test_bad_causal_lm_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no config.json"):
        models.resolve_causal_lm(str(tmp_path))
    with pytest.raises(InputError, match="cannot load causal LM"):
        models.load_causal_lm("no-such-org/no-such-model-xyz")
