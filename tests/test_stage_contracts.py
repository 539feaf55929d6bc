"""Every stage is `run_<stage>(cfg) -> manifest`: one signature shape, and the manifest it
returns is the one it writes."""

from __future__ import annotations

import inspect
import json
import typing

import numpy as np
import pytest

from saescope.curate import run_curate
from saescope.data.run import run_activations, run_embed
from saescope.demo import run_demo
from saescope.hypotheses.pipeline import run_hypotheses
from saescope.interop.export import run_export
from saescope.interpret import run_interpret
from saescope.run_layout import manifest_path
from saescope.sae import run_encode, run_train
from saescope.tune import run_tune

STAGES = [run_embed, run_activations, run_train, run_tune, run_encode, run_interpret,
          run_hypotheses, run_curate, run_export, run_demo]


@pytest.mark.parametrize("fn", STAGES, ids=lambda f: f.__name__)
def test_every_stage_takes_its_config_and_returns_a_manifest(fn):
    params = list(inspect.signature(fn).parameters.values())
    hints = typing.get_type_hints(fn)
    cfg = params[0]
    assert cfg.name == "cfg" and cfg.default is inspect.Parameter.empty
    assert isinstance(hints["cfg"], type) and hints["cfg"].__name__.endswith("Config")
    assert hints["return"] == dict[str, typing.Any]
    assert params[1].name == "progress" and params[1].default in (True, False)
    # no *args/**kwargs overloads: every other parameter is named and has a default
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty for p in params[1:])
    # inputs and `out` live in the config (CurateConfig groups its fields: output.out)
    names = set(typing.get_type_hints(hints["cfg"]))
    assert "out" in names or "output" in names, names


def test_legacy_forms_are_refused_with_the_function_to_use(tmp_path):
    from saescope.errors import ConfigError

    X = np.zeros((4, 2), np.float32)
    with pytest.raises(ConfigError, match="tune_matrices"):
        run_tune(X, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="interpret_vectors"):
        run_interpret(None)  # type: ignore[arg-type]


@pytest.fixture
def sae_dir(tmp_path):
    from saescope.sae import SAEConfig, TrainConfig, TrainRunConfig

    X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    cfg = TrainRunConfig(input=str(tmp_path / "x.npy"), out=str(tmp_path / "sae"),
                         train=TrainConfig(steps=3, batch_size=64, sae=SAEConfig(k=2, num_latents=16)))
    with pytest.warns(UserWarning):
        man = run_train(cfg, progress=False)
    assert man == json.loads((tmp_path / "sae" / "manifest.json").read_text())
    assert man["stage"] == "train" and man["metrics"]["steps"] == 3
    return tmp_path / "sae"


def test_encode_and_export_write_the_manifest_they_return(sae_dir, tmp_path):
    import pyarrow.parquet as pq

    from saescope.interop.export import ExportConfig
    from saescope.sae import EncodeConfig

    X = np.random.default_rng(1).standard_normal((10, 8)).astype(np.float32)
    X[3] = np.nan
    np.save(tmp_path / "v.npy", X)
    out = tmp_path / "codes.parquet"
    man = run_encode(EncodeConfig(sae=str(sae_dir), input=str(tmp_path / "v.npy"), out=str(out),
                                  drop_nonfinite=True), progress=False)
    assert man == json.loads(manifest_path(out).read_text())
    assert (man["stage"], man["rows"], man["dropped_nonfinite"]) == ("encode", 9, 1)
    assert pq.read_table(out).num_rows == 9
    exp = tmp_path / "lens"
    man = run_export(ExportConfig(src=str(sae_dir), format="saelens", out=str(exp)))
    assert man == json.loads(manifest_path(exp).read_text())
    assert man["result"]["arch"] == "topk" and (exp / "sae_weights.safetensors").is_file()
    assert not (exp / "manifest.json").exists()  # the folder holds only what SAELens reads


def test_tune_writes_the_stage_manifest_it_returns(tmp_path):
    """tune's summary.json is its manifest: it names the stage, the version and the config."""
    from saescope import __version__
    from saescope.tune import TuneConfig

    X = np.random.default_rng(2).standard_normal((120, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    cfg = TuneConfig(input=str(tmp_path / "x.npy"), out=str(tmp_path / "tune"), trials=1,
                     archs=("topk",), expansions=(2,), target_l0=4, base={"steps": 5, "batch_size": 32})
    man = run_tune(cfg, progress=False)
    assert man == json.loads((tmp_path / "tune" / "summary.json").read_text())
    assert (man["stage"], man["saescope_version"]) == ("tune", __version__)
    assert man["config"]["trials"] == 1 and man["n_trials"] == 1
