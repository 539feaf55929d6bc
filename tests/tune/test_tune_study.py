"""run_tune on small planted data: it improves on a bad start, resumes, and scores honestly."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from saescope.errors import ConfigError, InputError
from saescope.tune import TuneConfig, tune_matrices

TARGET_L0 = 4


def _cfg(base, **kw) -> TuneConfig:
    args = dict(target_l0=TARGET_L0, archs=("topk", "relu"), expansions=(2, 4),
                lr_range=(1e-4, 3e-2), l1_range=(1e-3, 3.0), base=base, n_startup_trials=4)
    args.update(kw)
    return TuneConfig(**args)


def _rows(out):
    return pq.read_table(out / "trials.parquet").to_pylist()


def test_tune_beats_a_bad_starting_config(split, base, tmp_path):
    X_tr, X_va = split
    bad = {"arch": "topk", "lr": 1e-4, "expansion": 2}
    out = tmp_path / "tune"
    summary = tune_matrices(X_tr, X_va, _cfg(base, trials=8, enqueue=[bad]), out, progress=False)
    rows = _rows(out)
    assert len(rows) == 8 and all(r["state"] == "COMPLETE" for r in rows)
    first = rows[0]
    assert (first["arch"], first["lr"], first["expansion"], first["k"]) == ("topk", 1e-4, 2, 4)
    best = summary["best"]
    assert best["score"] == pytest.approx(min(r["score"] for r in rows))
    # A clear margin, at the target sparsity, on the validation split.
    assert best["score"] < min(0.7 * first["score"], first["score"] - 0.15), (best, first)
    assert best["l0"] <= TARGET_L0 * 1.05
    # Outputs.
    for name in ("best_config.yaml", "trials.csv", "summary.json", "study.db"):
        assert (out / name).is_file(), name
    assert (out / "tune_plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 9
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["best"]["trial"] == best["trial"]
    assert on_disk["n_train"] == len(X_tr) and on_disk["n_val"] == len(X_va)
    config = yaml.safe_load((out / "best_config.yaml").read_text())
    assert config["sae"]["arch"] == best["params"]["arch"]
    assert config["sae"]["expansion_factor"] == best["params"]["expansion"]
    assert config["lr"] == pytest.approx(best["params"]["lr"])
    assert config["steps"] == base["steps"]


def test_resume_from_sqlite_adds_trials(split, base, tmp_path):
    X_tr, X_va = split
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cfg = _cfg(base, trials=2, archs=("topk",), expansions=(2,), storage=storage)
    tune_matrices(X_tr, X_va, cfg, tmp_path / "a", progress=False)
    first = _rows(tmp_path / "a")
    cfg.trials = 4
    summary = tune_matrices(X_tr, X_va, cfg, tmp_path / "b", progress=False)
    rows = _rows(tmp_path / "b")
    assert [r["number"] for r in rows] == [0, 1, 2, 3]
    assert summary["n_finished"] == 4
    for old, new in zip(first, rows[:2], strict=True):  # the old trials kept, not rerun
        assert (old["lr"], old["fvu"], old["datetime_start"]) == (
            new["lr"], new["fvu"], new["datetime_start"])
    # The resumed sampler does not replay the first run's random start-up trials.
    assert {r["lr"] for r in rows[2:]}.isdisjoint({r["lr"] for r in rows[:2]})
    tune_matrices(X_tr, X_va, cfg, tmp_path / "b", progress=False)  # already complete: no new trial
    assert len(_rows(tmp_path / "b")) == 4
    cfg2 = _cfg(base, trials=5, archs=("topk",), expansions=(2,), storage=storage, target_l0=3)
    with pytest.raises(ConfigError, match="target_l0"):
        tune_matrices(X_tr, X_va, cfg2, tmp_path / "c", progress=False)
    with pytest.raises(ConfigError, match="other data"):
        tune_matrices(X_tr[:-5], X_va, cfg, tmp_path / "c", progress=False)


def test_relu_tiny_penalty_scores_worse_than_meeting_the_target(split, base, tmp_path):
    X_tr, X_va = split
    tiny = {"arch": "relu", "lr": 3e-3, "expansion": 4, "l1_coef": 1e-3}
    meets = {"arch": "relu", "lr": 3e-3, "expansion": 4, "l1_coef": 3.0}
    cfg = _cfg(base, trials=2, archs=("relu",), expansions=(4,), enqueue=[tiny, meets])
    summary = tune_matrices(X_tr, X_va, cfg, tmp_path / "t", progress=False)
    weak, strong = _rows(tmp_path / "t")
    assert weak["l1_coef"] == 1e-3 and strong["l1_coef"] == 3.0
    assert weak["l0"] > 2 * TARGET_L0 and strong["l0"] <= TARGET_L0
    # Plain FVU (like the capstone's training loss) prefers the weak penalty ...
    assert weak["fvu"] < strong["fvu"]
    # ... the tune objective does not.
    assert weak["score"] > strong["score"]
    assert summary["best"]["trial"] == 1


def test_pareto_front_is_non_dominated(split, base, tmp_path):
    X_tr, X_va = split
    cfg = _cfg(base, trials=5, objective="pareto", archs=("topk",), expansions=(2,),
               k_range=(1, 16))
    summary = tune_matrices(X_tr, X_va, cfg, tmp_path / "p", progress=False)
    rows = [r for r in _rows(tmp_path / "p") if r["state"] == "COMPLETE"]
    front = [r for r in rows if r["pareto"]]
    assert front and summary["pareto_front"] == [r["number"] for r in front]
    for r in rows:
        dominated = any(o["fvu"] <= r["fvu"] and o["l0"] <= r["l0"]
                        and (o["fvu"], o["l0"]) != (r["fvu"], r["l0"]) for o in rows)
        assert dominated != r["pareto"], r
    best = summary["best"]
    meeting = [r for r in front if r["l0"] <= TARGET_L0]
    if meeting:
        assert best["fvu"] == pytest.approx(min(r["fvu"] for r in meeting))
    assert len({r["k"] for r in rows}) > 1  # k is searched in pareto mode


def test_bad_inputs_are_refused_before_training(split, base, tmp_path):
    X_tr, X_va = split
    with pytest.raises(InputError, match="columns"):
        tune_matrices(X_tr, X_va[:, :8], _cfg(base, trials=1), tmp_path / "x", progress=False)
    with pytest.raises(ConfigError, match="target_l0"):
        tune_matrices(X_tr, X_va, _cfg(base, trials=1, target_l0=64, expansions=(2,)), tmp_path / "x",
                 progress=False)
    with pytest.raises(ConfigError, match="no_such_field"):
        tune_matrices(X_tr, X_va, _cfg({**base, "no_such_field": 1}, trials=1), tmp_path / "x",
                 progress=False)
    with pytest.raises(ConfigError, match="arch"):
        tune_matrices(X_tr, X_va, _cfg(base, trials=1, archs=("nope",)), tmp_path / "x",
                 progress=False)
    assert not (tmp_path / "x").exists()
