"""`run_train(cfg)`: the train stage's manifest.json, written before cfg.json (the completion mark)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saescope.sae import SAEConfig, TrainConfig, TrainRunConfig, run_train


def _cfg(tmp_path, **kw):
    train = TrainConfig(steps=4, batch_size=32, sae=SAEConfig(k=2, num_latents=16), device="cpu")
    return TrainRunConfig(out=str(tmp_path / "sae"), train=train, **kw)


def test_run_train_writes_a_manifest(tmp_path, monkeypatch):
    from saescope.sae.model import SparseAutoencoder

    saved, seen = SparseAutoencoder.save, []

    def save(self, folder):  # cfg.json, the completion mark, is written by save
        seen.append((Path(folder) / "manifest.json").is_file())
        return saved(self, folder)

    monkeypatch.setattr(SparseAutoencoder, "save", save)
    X = np.random.default_rng(1).standard_normal((120, 6)).astype(np.float32)
    X[7] = np.inf
    split = ["val" if i % 4 == 0 else "train" for i in range(120)]
    pq.write_table(pa.table({"id": np.arange(120), "embedding": list(X), "split": split}),
                   tmp_path / "x.parquet")
    cfg = _cfg(tmp_path, input=str(tmp_path / "x.parquet"), drop_nonfinite=True)
    result = run_train(cfg, progress=False)
    out = tmp_path / "sae"
    man = json.loads((out / "manifest.json").read_text())
    assert man["stage"] == "train" and man["inputs"]["input"] == str(tmp_path / "x.parquet")
    assert man["rows"] == {"used": 119, "dropped_nonfinite": 1} and man["validation"] == "split column"
    assert man["steps"] == result["metrics"]["steps"] == 4 and man["samples"] == 4 * 32
    assert man["config"]["train"]["sae"]["k"] == 2 and man["config"]["drop_nonfinite"] is True
    assert "metrics.json" in man["files"] and all((out / f).is_file() for f in man["files"])
    assert seen == [True]  # manifest.json comes first, so a finished folder always has one
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == \
        [".saescope-lock", ".saescope-output"]  # the output's mark and lock (io.open_output)


def test_train_sae_alone_writes_no_manifest(tmp_path):
    from saescope.sae import train_sae

    X = np.random.default_rng(2).standard_normal((64, 4)).astype(np.float32)
    train_sae(X, _cfg(tmp_path).train, out_dir=tmp_path / "sae", progress=False)
    assert not (tmp_path / "sae" / "manifest.json").exists()
    np.save(tmp_path / "x.npy", X)
    run_train(_cfg(tmp_path, input=str(tmp_path / "x.npy"), overwrite=True), progress=False)
    man = json.loads((tmp_path / "sae" / "manifest.json").read_text())
    assert man["validation"] == "val_fraction" and man["rows"]["used"] == 64
    assert "overwrite" not in man["config"] and "resume" not in man["config"]  # as a rerun's
