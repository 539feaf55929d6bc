"""The report section and the dashboard page of a hypotheses output."""

from __future__ import annotations

import json

import pandas as pd

from saescope.viz.hypotheses_section import hypotheses_section


def _write(folder):
    h = folder / "hypotheses"
    h.mkdir(parents=True)
    pd.DataFrame({
        "latent": [7, 3], "effect": [0.41, -0.02], "ci_low": [0.35, -0.08], "ci_high": [0.47, 0.04],
        "p": [1e-9, 0.6], "q": [2e-9, 0.6], "significant": [True, False], "purity": [0.95, 0.4],
        "n_fires_test": [120, 40], "explanation": ["physics, <script>alert(1)</script>", None],
    }).to_parquet(h / "hypotheses.parquet")
    (h / "manifest.json").write_text(json.dumps({
        "n_tested": 2, "n_significant": 1, "fdr": 0.05, "outcome": {"source": "a.parquet:domain", "positive": "STEM"},
        "split": {"n_train": 500, "n_test": 500, "rule": "group_split on identical texts"},
        "auroc": {"selected_features": 0.912, "raw_embedding": 0.955},
        "auroc_ci": {"selected_features": [0.9, 0.93], "raw_embedding": [0.94, 0.97]},
    }))


def test_report_section_shows_significance_intervals_and_escapes(tmp_path):
    assert hypotheses_section(tmp_path) == ""
    _write(tmp_path)
    html = hypotheses_section(tmp_path)
    assert "1 of 2 tested latents significant at FDR 0.05" in html
    assert "selected latents: 0.912 [0.900, 0.930]" in html and "raw embedding (baseline): 0.955" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    rows = html.split("<tr")[2:]  # header row first
    assert "background:#e8f5e9" in rows[0] and ">7<" in rows[0]  # the significant latent, highlighted
    assert "background" not in rows[1] and ">3<" in rows[1]


def test_dashboard_page_lists_the_latents(tmp_path):
    from streamlit.testing.v1 import AppTest

    _write(tmp_path)

    def app(path):
        from saescope.dashboard.page_hypotheses import page_hypotheses

        page_hypotheses(path)

    at = AppTest.from_function(app, args=(str(tmp_path),)).run(timeout=60)
    assert not at.exception
    assert any("1 of 2 tested latents significant" in m.value for m in at.markdown)
    frame = at.dataframe[0].value
    assert frame["latent"].tolist() == [7, 3]
    at.checkbox(key="hyp-significant").check().run(timeout=60)
    assert at.dataframe[0].value["latent"].tolist() == [7]
