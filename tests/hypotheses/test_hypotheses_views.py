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
    assert frame["p"].tolist() == ["1e-09", "0.6"] and frame["q"].tolist() == ["2e-09", "0.6"]
    at.checkbox(key="hyp-significant").check().run(timeout=60)
    assert at.dataframe[0].value["latent"].tolist() == [7]


def test_report_and_dashboard_find_hypotheses_outside_the_run(tmp_path):
    """`hypotheses ... --out hyp` beside the run: `report/dashboard --hypotheses hyp` show them."""
    from saescope.cli.main import run
    from saescope.run_layout import RunLayout

    _write(tmp_path / "elsewhere")
    outside = tmp_path / "elsewhere" / "hypotheses"
    run_dir = tmp_path / "run"
    (run_dir / "sae").mkdir(parents=True)  # a run folder without hypotheses/ of its own
    for name in ("cfg.json", "sae.safetensors"):
        (run_dir / "sae" / name).write_text("{}")
    assert RunLayout.detect(run_dir).hypotheses is None
    lay = RunLayout.from_parts(run_dir, hypotheses=outside)
    assert lay.hypotheses == outside and lay.sae == run_dir / "sae"
    assert RunLayout.from_parts(None, hypotheses=outside).hypotheses == outside
    assert run(["report", "--hypotheses", tmp_path / "nope", run_dir]) == 2
    from saescope.viz.report import write_report

    html = (write_report(RunLayout.from_parts(None, hypotheses=outside), tmp_path / "r.html")).read_text()
    assert 'id="hypotheses"' in html and "1 of 2 tested latents significant" in html
    assert ">1e-09<" in html and ">2e-09<" in html  # p and q readable, two significant digits
    assert "fig-hypotheses-forest" in html and "latent 7: physics, &lt;script&gt;" in html


def test_forest_plots_label_rows_by_latent_and_explanation(tmp_path):
    from saescope.viz.hypotheses_section import (
        display_table,
        fig_forest,
        forest_figure,
        read_hypotheses,
    )

    _write(tmp_path)
    table, _ = read_hypotheses(tmp_path / "hypotheses")
    fig = forest_figure(table)
    assert fig.layout.yaxis.type == "category"  # not a numeric axis of ids
    assert list(fig.data[0].y) == ["latent 7: physics, <script>alert(1)</script>", "latent 3"]
    ax = fig_forest(table).axes[0]
    ticks = sorted((y, t.get_text()) for y, t in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True))
    assert [t for _, t in ticks] == ["latent 3", "latent 7: physics, <script>alert(1)</script>"]  # bottom up
    assert display_table(table)["p"].tolist() == ["1e-09", "0.6"]
