"""`saescope demo --quick` end to end, as a user runs it (the README's main job)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from saescope.run_layout import RunLayout

# The cold demo embeds 2,000 questions and trains an SAE: give it more than the suite's default.
pytestmark = pytest.mark.timeout(1500)


def _demo(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saescope.cli.main", "demo", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo") / "run"
    proc = _demo(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_demo_writes_a_complete_run_folder(demo_run):
    out, proc = demo_run
    layout = RunLayout.detect(out)
    assert layout.missing() == []
    for name in ("cfg.json", "sae.safetensors", "metrics.json", "train_log.jsonl"):
        assert (out / "sae" / name).is_file(), name
    assert (out / "report.html").stat().st_size > 10_000
    assert any((out / "plots").glob("*.png"))
    assert "saescope dashboard" in proc.stdout and "report.html" in proc.stdout
    assert "precision over 3 seed draws" in proc.stdout
    split = pq.read_table(out / "data" / "embeddings.parquet", columns=["split"])["split"].to_pylist()
    assert split.count("seed") == 50
    # Seeds are held out of the pool the curation selects from.
    seeds = set(pq.read_table(out / "data" / "seeds.parquet", columns=["id"])["id"].to_pylist())
    pool = set(pq.read_table(out / "data" / "pool.parquet", columns=["id"])["id"].to_pylist())
    assert seeds and not seeds & pool


def test_demo_figures_are_sane(demo_run):
    out, _ = demo_run
    s = json.loads((out / "summary.json").read_text())
    assert 0 < s["sae"]["fvu"] < 0.8
    assert s["sae"]["l0"] == pytest.approx(32, abs=0.5)
    emb = s["interpret"]["scores"]["embedding"]
    assert emb["mean"] > emb["baseline_mean"] + 0.05  # explanations beat shuffled ones
    cur = s["curation"]
    # SAE-space selection finds the domain far above the random floor.
    assert cur["sae-enrich"]["precision"] > cur["random"]["precision"] + 0.3
    assert set(cur) >= {"sae-enrich", "sae-centered", "embedding", "embedding-centered", "random"}
    assert "embedding-graph" in cur and "sae-pu" in cur  # the default space is the main run
    # the table shows several budgets and the spread over seed draws
    draws = s["curation_draws"]
    assert draws["draws"] == 3 and list(draws["best"]) == ["100", "500"]
    for space, per in draws["precision"].items():
        for b in ("100", "500"):
            assert per[b]["min"] <= per[b]["mean"] <= per[b]["max"] <= 1.0, space
    assert draws["precision"]["embedding-graph"]["100"]["mean"] > draws["precision"]["random"]["100"]["max"] + 0.3
    # why the rows were chosen: latents with their keyword explanations
    sel = pq.read_table(out / "curate" / "selected.parquet")
    assert {"top_latents", "top_explanations"} <= set(sel.column_names)
    assert any(e for e in sel["top_explanations"].to_pylist()[0])
    assert s["seed_latents"] and any(r["explanation"] for r in s["seed_latents"])


def test_demo_rerun_skips_finished_stages(demo_run):
    out, _ = demo_run
    proc = _demo(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["redone"] == []
    assert "skipped" in proc.stdout
