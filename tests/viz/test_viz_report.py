"""The self-contained HTML report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from saescope.viz.plots import PlotConfig
from saescope.viz.report import write_report
from saescope.viz.rundata import RunData

FAST = PlotConfig(projection="pca", interactive=False)


@pytest.fixture(scope="module")
def report_html(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = write_report(sample_run, tmp_path_factory.mktemp("report") / "report.html", FAST)
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained(report_html: str):
    # No external resource: every src/href is inline data or an in-page anchor.
    refs = re.findall(r'(?:src|href)="([^"]*)"', report_html)
    assert refs, "report has no figures or links"
    assert all(r.startswith(("data:", "#")) for r in refs), [r for r in refs if not r.startswith(("data:", "#"))][:3]
    assert "default-src 'none'" in report_html  # the page itself forbids network loads
    assert "<svg" in report_html  # training curves inline as SVG


def test_report_sections_and_tables(report_html: str, sample_run: Path):
    run = RunData(sample_run)
    for sec in ("summary", "training", "latents", "top-latents", "curation"):
        assert f'id="{sec}"' in report_html
    rows = re.search(r'<table class="sortable" id="latents-table">.*?</table>', report_html, re.S).group(0)
    assert rows.count("<tr>") - 1 == len(run.latents())  # every latent (small run: no cut)
    # Scores appear with intervals.
    assert "embedding 95% CI" in rows
    metrics = re.search(r'id="curation-metrics">.*?</table>', report_html, re.S).group(0)
    assert "embedding (baseline)" in metrics and "random (baseline)" in metrics
    # The first latent page: among ok latents firing >= 20 times, the best lower 95% bound.
    lat = run.latents()
    cand = lat[(lat["status"] == "ok") & (lat["n_fires"] >= 20)]
    assert len(cand), "sample run should have well-supported latents"
    first = int(re.search(r'<article id="latent-(\d+)">', report_html).group(1))
    assert first in set(cand["latent"])
    assert cand.set_index("latent").loc[first, "embedding_lo"] == cand["embedding_lo"].max()


def test_report_escapes_text_from_the_data(sample_run: Path, tmp_path: Path):
    from saescope.viz.report import _latent_cards, _latents

    run_copy = tmp_path / "run"
    shutil.copytree(sample_run / "interpret", run_copy)
    path = run_copy / "latents.parquet"
    df = pq.read_table(path).to_pandas()
    df.loc[df["status"] == "ok", "explanation"] = "<script>alert('x')</script>"
    df.to_parquet(path, index=False)
    run = RunData(run_copy)
    html = _latents(run, {}, 100) + _latent_cards(run, 3)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_report_of_interpret_only_output_names_what_is_missing(sample_run: Path, tmp_path: Path):
    interp = tmp_path / "interp"
    shutil.copytree(sample_run / "interpret", interp)
    html = write_report(interp, tmp_path / "r.html", FAST).read_text()
    assert 'id="latents-table"' in html
    assert 'id="curation"' not in html and 'id="training"' not in html
    assert "curate: no selected.parquet" in html


def test_report_cli_default_path(sample_run: Path, tmp_path: Path):
    from saescope.cli.main import main

    run_copy = tmp_path / "run"
    shutil.copytree(sample_run, run_copy, ignore=shutil.ignore_patterns("data", "sae"))
    main(["report", str(run_copy), "--projection", "pca"])
    html = (run_copy / "report.html").read_text()
    assert "data: no data/embeddings.parquet" in html  # the copy has no data: said so
    assert "sae: no SAE" in html
    assert 'id="curation-metrics"' in html


def test_every_live_latent_has_a_card_and_every_id_links_to_one(report_html: str, sample_run: Path):
    lat = RunData(sample_run).latents()
    live = set(lat.loc[lat["status"] == "ok", "latent"].astype(int))
    cards = {int(m) for m in re.findall(r'<article id="latent-(\d+)">', report_html)}
    assert cards == live
    index = re.search(r'id="latents-table">.*?</table>', report_html, re.S).group(0)
    assert {int(m) for m in re.findall(r'href="#latent-(\d+)"', index)} == set(lat["latent"].astype(int))
    card = re.search(r'<article id="latent-\d+">.*?</article>', report_html, re.S).group(0)
    for words in ("embedding AUROC", "95% bootstrap interval", "another latent&#x27;s explanation",
                  "Top activating examples", "similar by decoder cosine", "fires together with",
                  "activation (non-zero", "Top examples by domain"):
        assert words in card, words


def test_projections_are_computed_once_and_shared(sample_run: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]):
    from saescope.cli.main import run
    from saescope.viz import analysis

    run_copy = tmp_path / "run"
    shutil.copytree(sample_run, run_copy)
    calls = []
    real = analysis.project_2d
    monkeypatch.setattr(analysis, "project_2d", lambda X, m, **kw: calls.append(m) or real(X, "pca"))
    assert run(["plot", run_copy, "--projection", "tsne", "--formats", "png", "--no-interactive"]) == 0
    assert "projecting 64 decoder directions to 2-D (tsne)" in capsys.readouterr().err
    n = len(calls)
    assert n >= 1
    assert run(["report", run_copy, "--projection", "tsne"]) == 0  # same maps: read from the cache
    assert len(calls) == n and "projecting" not in capsys.readouterr().err
    assert list((run_copy / ".saescope-cache" / "projections").glob("*.parquet"))


def test_curation_why_chosen_and_enriched_latents_link_to_cards(sample_run: Path, tmp_path: Path):
    """Newer curate outputs: a per-row list of contributing latents and enriched latents in the
    manifest; both show as links to the latent cards."""
    import json

    import pandas as pd

    from saescope.viz.report import _curation

    cur = tmp_path / "curate"
    shutil.copytree(sample_run / "curate", cur)
    sel = pd.read_parquet(cur / "selected.parquet")
    sel["top_latents"] = [[3, 5], [7]] + [[1]] * (len(sel) - 2)
    sel["top_contributions"] = [[0.5, 0.25], [0.125]] + [[0.1]] * (len(sel) - 2)
    sel.to_parquet(cur / "selected.parquet", index=False)
    man = json.loads((cur / "manifest.json").read_text())
    man["space_info"] = {"top_latents": [{"latent": 11, "weight": 1.5}, {"latent": 2, "weight": 0.9}]}
    (cur / "manifest.json").write_text(json.dumps(man))
    html = _curation(RunData(cur), {}, 10)
    enriched = re.search(r'id="enriched-latents">.*?</table>', html, re.S).group(0)
    assert '<a href="#latent-11">11</a>' in enriched and '<a href="#latent-2">2</a>' in enriched
    selected = re.search(r'id="selected-table">.*?</table>', html, re.S).group(0)
    assert '<a href="#latent-3">3</a> 0.500; <a href="#latent-5">5</a> 0.250' in selected


def test_cards_show_explanations_of_a_second_interpret_output(sample_run: Path, tmp_path: Path):
    from saescope.viz.report import _latent_cards

    run_copy = tmp_path / "run"
    shutil.copytree(sample_run, run_copy, ignore=shutil.ignore_patterns("data"))
    shutil.copytree(sample_run / "interpret", run_copy / "interpret-llm")
    html = _latent_cards(RunData(run_copy), 3)
    card = re.search(r'<article id="latent-\d+">.*?</article>', html, re.S).group(0)
    assert "Other explanations" in card and "interpret-llm" in card


def test_report_cli_takes_a_second_interpret_output(sample_run: Path, tmp_path: Path):
    from saescope.cli.main import run

    shutil.copytree(sample_run / "interpret", tmp_path / "interp")
    shutil.copytree(sample_run / "interpret", tmp_path / "interp-llm")
    out = tmp_path / "r.html"
    assert run(["report", "--interpret", tmp_path / "interp", "--interpret", tmp_path / "interp-llm",
                "--out", out, "--projection", "pca"]) == 0
    html = out.read_text()
    assert "Other explanations" in html and "interp-llm" in html


def test_cards_colour_the_tokens_a_latent_fires_on(sample_run: Path, tmp_path: Path):
    """Token-level examples (`tokens`, `token_acts`): each token shaded by its activation
    relative to the window's largest; token text escaped."""
    from saescope.viz.report import _latent_cards

    run_copy = tmp_path / "run"
    shutil.copytree(sample_run / "interpret", run_copy)
    path = run_copy / "examples.parquet"
    df = pq.read_table(path).to_pandas()
    df["tokens"] = [[" the", " <b>", " lava"] for _ in range(len(df))]
    df["token_acts"] = [[0.0, float(a), float(a) / 2] for a in df["activation"]]
    df.to_parquet(path, index=False)
    html = _latent_cards(RunData(run_copy), 3)
    spans = re.findall(r'<span class="tok" style="background:rgba\(255,120,0,([0-9.]+)\)" '
                       r'title="[^"]*">([^<]*)</span>', html)
    assert spans, "no token highlighting in the cards"
    shade = {}
    for alpha, tok in spans:
        shade.setdefault(tok, set()).add(alpha)
    assert shade == {" the": {"0.00"}, " &lt;b&gt;": {"1.00"}, " lava": {"0.50"}}
    assert "Where it fires, token by token" in html
