"""`saescope tune` end to end through the CLI; its best config trains with `saescope train`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from saescope.cli.main import app


def test_tune_cli_best_config_round_trips_through_train(planted, base, tmp_path):
    data = tmp_path / "vectors.npy"
    np.save(data, planted)
    base_file = tmp_path / "base.yaml"
    base_file.write_text(yaml.safe_dump({k: v for k, v in base.items() if k != "steps"}))
    out = tmp_path / "tune"
    runner = CliRunner()
    res = runner.invoke(app, [
        "tune", str(data), "--trials", "3", "--out", str(out), "--target-l0", "4",
        "--archs", "topk,relu", "--expansions", "2,4", "--steps", "100", "--config",
        str(base_file), "--val-fraction", "0.2", "--no-progress",
    ])
    assert res.exit_code == 0, res.output
    assert "best trial" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_finished"] == 3 and summary["n_val"] == 400 and summary["n_train"] == 1600
    best = summary["best"]["params"]
    config = yaml.safe_load((out / "best_config.yaml").read_text())
    assert config["steps"] == 100 and config["batch_size"] == base["batch_size"]

    sae_dir = tmp_path / "sae"
    res = runner.invoke(app, ["train", str(data), "--config", str(out / "best_config.yaml"),
                              "--out", str(sae_dir), "--quiet"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((sae_dir / "cfg.json").read_text())
    assert cfg["arch"] == best["arch"]
    assert cfg["expansion_factor"] == best["expansion"]
    if best["arch"] == "topk":
        assert cfg["k"] == best["k"] == 4
    else:
        assert cfg["l1_coef"] == pytest.approx(best["l1_coef"])
    metrics = json.loads((sae_dir / "metrics.json").read_text())
    assert metrics["steps"] == 100 and np.isfinite(metrics["fvu"])

    # Rerun with more trials resumes the same study in OUT/study.db.
    res = runner.invoke(app, [
        "tune", str(data), "--trials", "4", "--out", str(out), "--target-l0", "4",
        "--archs", "topk,relu", "--expansions", "2,4", "--steps", "100", "--config",
        str(base_file), "--val-fraction", "0.2", "--no-progress",
    ])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text())["n_finished"] == 4


def test_tune_cli_bad_range_is_a_clear_error(planted, tmp_path):
    data = tmp_path / "vectors.npy"
    np.save(data, planted[:100])
    res = CliRunner().invoke(app, ["tune", str(data), "--trials", "2", "--lr-range", "0.1",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert "--lr-range" in str(res.exception) or "--lr-range" in res.output
    res = CliRunner().invoke(app, ["tune", str(data), "--trials", "2", "--group-by", "doc",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "doc" in str(res.exception)
    assert not (tmp_path / "o").exists()
