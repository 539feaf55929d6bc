"""One dead-latent count everywhere (issue 28, item 6): metrics.json's, and the firing frequency
labelled with the rows it is computed on (the SAE's training rows, not the validation split)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from saescope.viz.plots import fig_firing_histogram, fig_scatter
from saescope.viz.rundata import RunData


def _run_with_dead(sample_run: Path, tmp_path: Path) -> Path:
    """A copy of the sample run whose metrics.json and latent_stats.parquet count 9 dead latents."""
    run = tmp_path / "run"
    shutil.copytree(sample_run, run, ignore=shutil.ignore_patterns(".saescope-cache", "report.html", "plots"))
    stats = pd.read_parquet(run / "sae" / "latent_stats.parquet")
    stats.loc[stats.index[:9], "frequency"] = 0.0
    stats.to_parquet(run / "sae" / "latent_stats.parquet")
    m = json.loads((run / "sae" / "metrics.json").read_text())
    m.update(dead_fraction=9 / len(stats), dead_window=4500)
    (run / "sae" / "metrics.json").write_text(json.dumps(m))
    return run


def test_dead_count_comes_from_metrics_json_and_agrees_with_the_mask(sample_run, tmp_path):
    run = RunData(_run_with_dead(sample_run, tmp_path))
    d = run.dead_latents()
    assert d["n_dead"] == 9 and d["rows"] == 4500 and int(run.dead_mask().sum()) == 9
    assert run.dead_words().startswith(f"9 of {d['n_latents']} latents dead (never fired on 4,500 training rows")
    ax = fig_firing_histogram(run.latent_stats(), d).axes[0]
    assert ax.get_title().endswith("9 dead") and "4,500 training rows" in ax.get_xlabel()


def test_report_labels_firing_frequency_with_its_rows_and_one_dead_count(sample_run, tmp_path):
    from saescope.viz.report import write_report

    run_dir = _run_with_dead(sample_run, tmp_path)
    html = write_report(run_dir).read_text()
    assert "validation split" not in html
    assert "Latent firing frequency on a uniform sample of the SAE&#x27;s training rows" in html or \
        "Latent firing frequency on a uniform sample of the SAE's training rows" in html


def test_a_sampled_map_says_how_many_dead_latents_it_shows_of_all():
    coords = np.random.default_rng(0).normal(size=(20, 2))
    dead = np.zeros(20, bool)
    dead[:5] = True
    ax = fig_scatter(coords, np.ones(20), "map", dead=dead, dead_total=9).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dead (never fired): 5 shown, of 9 dead in all"]
