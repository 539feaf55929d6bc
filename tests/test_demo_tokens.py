"""`saescope demo --per-token` at a tiny size, end to end as a user runs it (real SmolLM2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.timeout(900)

TINY = ["--token-rows", "60", "--token-steps", "20", "--token-latents", "4", "--token-seeds", "4",
        "--token-budget", "8", "--max-tokens", "24", "--no-progress"]


def _demo(out, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "saescope.cli.main", "demo", "--per-token",
                           "--out", str(out), *TINY, *extra], capture_output=True, text=True, timeout=800)


def test_per_token_demo_runs_the_token_level_path(tmp_path):
    out = tmp_path / "run"
    proc = _demo(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["per_token"] is True and s["layer"] == 15
    # one row per token, first position left out, seeds held out of the pool by question
    tok = pq.read_table(out / "data" / "pool_tokens.parquet", columns=["doc_id", "position", "split"])
    assert min(tok["position"].to_pylist()) >= 1 and "seed" not in set(tok["split"].to_pylist())
    seeds = set(pq.read_table(out / "data" / "seed_tokens.parquet", columns=["doc_id"])["doc_id"].to_pylist())
    assert len(seeds) == 4 and not seeds & set(tok["doc_id"].to_pylist())
    # documents are their tokens' pooled codes; curation in the SAE's space names latents and tokens
    docs = pq.read_table(out / "docs" / "pool.parquet")
    assert docs.num_rows == len(set(tok["doc_id"].to_pylist()))
    sel = pq.read_table(out / "curate" / "selected.parquet")
    assert sel.num_rows == 8 and {"top_latents", "top_tokens"} <= set(sel.column_names)
    man = json.loads((out / "curate" / "manifest.json").read_text())
    assert man["sae"]["pool_rows_are_codes"] is True
    assert set(s["curation"]) == {"sae-pu", "embedding-pu", "embedding-centered", "random"}
    assert "top_tokens" in pq.read_table(out / "hypotheses" / "hypotheses.parquet").column_names
    assert "Summary (token level)" in proc.stdout and "first pick" in proc.stdout
    # a rerun finds every stage done
    again = _demo(out)
    assert again.returncode == 0 and again.stdout.count("(skipped)") == 6


def test_per_token_demo_refuses_a_bad_pooling(tmp_path):
    proc = _demo(tmp_path / "bad", "--token-pooling", "median")
    assert proc.returncode == 2 and "max, mean, topk" in proc.stderr
