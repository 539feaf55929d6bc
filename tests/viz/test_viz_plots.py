"""`plot_run` and `saescope plot` on a small real run folder and on single-stage folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from saescope.errors import ConfigError, InputError
from saescope.viz.plots import PlotConfig, build_figures, fig_firing_histogram, plot_run
from saescope.viz.rundata import RunData

FAST = PlotConfig(projection="pca", interactive=False, formats=("png",))


def test_plot_run_full_run_writes_every_figure(sample_run: Path, tmp_path: Path):
    paths = plot_run(sample_run, tmp_path / "plots", PlotConfig(projection="pca", formats=("png", "svg")))
    names = {p.name for p in paths}
    for stem in ("training_curves", "firing_frequency", "latents_reranked", "latents_sample_heatmaps",
                 "latent_histograms", "decoder_map", "curation_pca", "curation_seed_selected"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names, stem
    for stem in ("training_curves", "decoder_map", "curation_pca"):
        html = (tmp_path / "plots" / f"{stem}.html").read_text()
        assert "plotly" in html and "<script" in html
    png = (tmp_path / "plots" / "training_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "training_curves.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "plots" / "MISSING.txt").read_text().strip() == "nothing missing"
    assert not list((tmp_path / "plots").glob("*.tmp"))


def test_training_curves_plot_the_logged_values(sample_run: Path):
    run = RunData(sample_run)
    figs = build_figures(run, FAST)
    try:
        log = run.train_log()
        ax = figs.static["training_curves"].axes[0]
        x, y = ax.lines[0].get_data()
        np.testing.assert_array_equal(x, log["step"].to_numpy())
        np.testing.assert_allclose(y, log["fvu"].to_numpy())
        assert "FVU" in ax.get_title()
    finally:
        for f in figs.static.values():
            plt.close(f)


def test_firing_histogram_counts_alive_and_dead():
    stats = pd.DataFrame({"latent": range(6), "frequency": [0, 0, 1e-4, 1e-3, 1e-2, 0.5]})
    fig = fig_firing_histogram(stats)
    ax = fig.axes[0]
    assert "4 alive, 2 dead" in ax.get_title()
    assert ax.get_xscale() == "log"
    assert sum(p.get_height() for p in ax.patches) == 4
    plt.close(fig)


def test_seed_selected_heatmap_has_sampled_shape(sample_run: Path):
    cfg = PlotConfig(projection="pca", interactive=False, n_seeds=7, n_selected=11)
    figs = build_figures(RunData(sample_run), cfg)
    try:
        fig = figs.static["curation_seed_selected"]
        shapes = [im.get_array().shape for ax in fig.axes for im in ax.images]
        assert shapes == [(7, 11), (7, 11)]  # embedding space and SAE codes
        # The embedding-space heatmap holds real cosines: within [-1, 1], not all equal.
        arr = fig.axes[0].images[0].get_array()
        assert arr.max() <= 1 + 1e-5 and arr.min() >= -1 - 1e-5 and arr.std() > 0
    finally:
        for f in figs.static.values():
            plt.close(f)


def test_single_train_output_plots_training_and_names_the_rest(sample_run: Path, tmp_path: Path):
    sae_only = tmp_path / "train_out"
    shutil.copytree(sample_run / "sae", sae_only)
    paths = plot_run(sae_only, tmp_path / "p", FAST)
    names = {p.name for p in paths}
    assert {"training_curves.png", "firing_frequency.png", "decoder_map.png"} <= names
    assert not any(n.startswith("curation") for n in names)
    missing = (tmp_path / "p" / "MISSING.txt").read_text()
    assert "interpret" in missing and "curate" in missing and "data" in missing


def test_single_curate_output(sample_run: Path, tmp_path: Path):
    cur = tmp_path / "curate_out"
    shutil.copytree(sample_run / "curate", cur)
    names = {p.name for p in plot_run(cur, tmp_path / "p", FAST)}
    assert "curation_pca.png" in names
    assert "training_curves.png" not in names


def test_empty_folder_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="no run artifacts"):
        plot_run(tmp_path, tmp_path / "out")


def test_malformed_log_names_file_and_line(sample_run: Path, tmp_path: Path):
    sae = tmp_path / "sae"
    shutil.copytree(sample_run / "sae", sae)
    with (sae / "train_log.jsonl").open("a") as fh:
        fh.write("{not json\n")
    n = len((sae / "train_log.jsonl").read_text().splitlines())
    with pytest.raises(InputError, match=rf"train_log.jsonl: line {n} "):
        plot_run(sae, tmp_path / "out", FAST)


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="formats"):
        PlotConfig(formats=("jpg",))
    with pytest.raises(ConfigError, match="projection"):
        PlotConfig(projection="isomap")  # type: ignore[arg-type]


def test_cli_plot(sample_run: Path, tmp_path: Path):
    from saescope.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["plot", str(sample_run), "--out", str(tmp_path / "cli"), "--formats", "png",
              "--no-interactive", "--projection", "pca"])
    assert exc.value.code in (0, None)
    assert (tmp_path / "cli" / "decoder_map.png").is_file()
    assert json.loads((sample_run / "run.json").read_text())  # run folder untouched and readable
