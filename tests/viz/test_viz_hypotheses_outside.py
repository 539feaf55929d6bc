"""`saescope report RUN --hypotheses DIR`: hypotheses written outside the run folder (issue 28:
the README writes `--out hyp`, and only RUN/hypotheses was looked at)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from saescope.cli.main import run


def test_report_of_a_run_shows_hypotheses_given_apart(sample_run: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(sample_run, run_dir, ignore=shutil.ignore_patterns(".saescope-cache", "report.html", "plots"))
    hyp = tmp_path / "hyp"
    hyp.mkdir()
    pd.DataFrame({"latent": [4, 9], "effect": [0.5, -0.2], "ci_low": [0.4, -0.3], "ci_high": [0.6, -0.1],
                  "p": [2.3e-8, 0.004], "q": [4.6e-8, 0.004], "significant": [True, True], "purity": [0.9, 0.7],
                  "n_fires_test": [40, 30], "explanation": ["crooked hillary", "unfit, temperamentally"],
                  }).to_parquet(hyp / "hypotheses.parquet")
    (hyp / "manifest.json").write_text(json.dumps({"n_tested": 2, "n_significant": 2, "fdr": 0.05}))
    out = tmp_path / "report.html"
    assert run(["report", run_dir, "--hypotheses", hyp, "--out", out, "--projection", "pca"]) == 0
    html = out.read_text()
    assert 'id="hypotheses"' in html and "2 of 2 tested latents significant" in html
    assert ">2.3e-08<" in html and ">4.6e-08<" in html
    assert "latent 4: crooked hillary" in html and "latent 9: unfit, temperamentally" in html  # forest labels
