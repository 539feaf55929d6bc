"""Interrupted and diverged trials, with the SAE training replaced by a fast stand-in."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from saescope.tune import TuneConfig, sae_adapter, tune_matrices


def _fake_metrics(params):
    # Lower FVU near lr = 3e-3; NaN (a diverged run) above lr = 2e-2.
    if params["lr"] > 2e-2:
        return {"fvu": math.nan, "l0": math.nan, "dead_fraction": math.nan}
    return {"fvu": 0.1 + abs(math.log10(params["lr"] / 3e-3)), "l0": float(params["k"]),
            "dead_fraction": 0.0}


@pytest.fixture()
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 8)).astype(np.float32), rng.normal(size=(20, 8)).astype(np.float32)


def test_interrupted_study_keeps_its_trials_and_resumes(data, base, tmp_path, monkeypatch):
    calls = []

    def interrupted(X_tr, X_va, params, base):
        calls.append(params)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return _fake_metrics(params)

    monkeypatch.setattr(sae_adapter, "train_trial", interrupted)
    cfg = TuneConfig(trials=5, target_l0=4, archs=("topk",), expansions=(2,),
                     lr_range=(1e-4, 1e-2), base=base, n_startup_trials=2)
    with pytest.raises(KeyboardInterrupt):
        tune_matrices(*data, cfg, tmp_path, progress=False)
    rows = pq.read_table(tmp_path / "trials.parquet").to_pylist()
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert (tmp_path / "best_config.yaml").is_file()

    monkeypatch.setattr(sae_adapter, "train_trial", lambda a, b, p, c: _fake_metrics(p))
    summary = tune_matrices(*data, cfg, tmp_path, progress=False)
    rows = pq.read_table(tmp_path / "trials.parquet").to_pylist()
    # The interrupted trial does not count: 2 finished + 3 new.
    assert summary["n_finished"] == 5 and len(rows) == 6


def test_diverged_trial_is_finished_but_never_best(data, base, tmp_path, monkeypatch):
    monkeypatch.setattr(sae_adapter, "train_trial", lambda a, b, p, c: _fake_metrics(p))
    cfg = TuneConfig(trials=3, target_l0=4, archs=("topk",), expansions=(2,),
                     lr_range=(1e-4, 5e-2), base=base,
                     enqueue=[{"arch": "topk", "lr": 4e-2, "expansion": 2}])
    summary = tune_matrices(*data, cfg, tmp_path, progress=False)
    rows = pq.read_table(tmp_path / "trials.parquet").to_pylist()
    assert rows[0]["state"] == "PRUNED" and rows[0]["fvu"] is None
    assert summary["n_finished"] == 3
    assert summary["best"]["trial"] != 0 and math.isfinite(summary["best"]["fvu"])
