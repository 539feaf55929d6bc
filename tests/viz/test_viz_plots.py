"""`plot_run` and `saescope plot` on a small real run folder and on single-stage folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from saescope.errors import ConfigError, InputError
from saescope.viz.plots import PlotConfig, fig_firing_histogram, plot_run
from saescope.viz.rundata import RunData

FAST = PlotConfig(projection="pca", interactive=False, formats=("png",))
STATIC = ("training_curves", "firing_frequency", "latents_reranked", "latents_sample_heatmaps",
          "latent_histograms", "decoder_map", "curation_pca", "curation_seed_selected")


@pytest.fixture(scope="module")
def plotted(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plots")
    plot_run(sample_run, out, PlotConfig(projection="pca", formats=("png", "svg"), n_seeds=7,
                                         n_selected=11))
    return out


def test_plot_run_full_run_writes_every_figure(plotted: Path):
    names = {p.name for p in plotted.iterdir()}
    for stem in STATIC:
        assert f"{stem}.png" in names and f"{stem}.svg" in names, stem
    for stem in ("training_curves", "decoder_map", "curation_pca"):
        html = (plotted / f"{stem}.html").read_text()
        assert "plotly" in html and "<script" in html
    assert (plotted / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (plotted / "training_curves.svg").read_text().lstrip().startswith("<?xml")
    assert (plotted / "MISSING.txt").read_text().strip() == "nothing missing"
    assert not [n for n in names if n.endswith(".tmp")]


def test_training_curves_plot_the_logged_values(sample_run: Path, plotted: Path):
    import xml.etree.ElementTree as ET

    log = RunData(sample_run).train_log()
    # The SVG keeps one polyline path per curve: the FVU panel has as many vertices as log rows.
    svg = ET.parse(plotted / "training_curves.svg").getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    lines = [g for g in svg.iterfind(".//s:g", ns) if (g.get("id") or "").startswith("line2d")]
    vertex_counts = [p.get("d").count("L") + 1 for g in lines for p in g.iterfind("s:path", ns)
                     if p.get("d")]
    assert len(log) in vertex_counts


def test_training_curves_figure_data():
    from saescope.viz.plots import fig_training_curves

    log = pd.DataFrame({"step": [0, 10, 20], "fvu": [0.9, 0.5, 0.3], "l0": [8, 8, 8],
                        "dead_fraction": [0.0, 0.1, 0.2]})
    fig = fig_training_curves(log)
    assert len(fig.axes) == 3
    x, y = fig.axes[0].lines[0].get_data()
    np.testing.assert_array_equal(x, [0, 10, 20])
    np.testing.assert_allclose(y, [0.9, 0.5, 0.3])
    assert "FVU" in fig.axes[0].get_title() and "dead" in fig.axes[2].get_title()
    plt.close(fig)


def test_firing_histogram_counts_alive_and_dead():
    stats = pd.DataFrame({"latent": range(6), "frequency": [0, 0, 1e-4, 1e-3, 1e-2, 0.5]})
    fig = fig_firing_histogram(stats)
    ax = fig.axes[0]
    assert "4 alive, 2 dead" in ax.get_title()
    assert ax.get_xscale() == "log"
    assert sum(p.get_height() for p in ax.patches) == 4
    plt.close(fig)


def test_seed_selected_heatmap_is_sampled(plotted: Path):
    from PIL import Image

    # Two panels (embedding space and SAE codes) of 7 seeds x 11 selected: the figure exists
    # and is wider than tall (two side-by-side heatmaps).
    w, h = Image.open(plotted / "curation_seed_selected.png").size
    assert w > 1.8 * h


def test_seed_selected_matrices(sample_run: Path):
    from saescope.viz.plots import Figures, _curation

    figs = Figures()
    _curation(RunData(sample_run), PlotConfig(projection="pca", interactive=False, n_seeds=7,
                                              n_selected=11), figs)
    fig = figs.static["curation_seed_selected"]
    arrays = [im.get_array() for ax in fig.axes for im in ax.images]
    assert [a.shape for a in arrays] == [(7, 11), (7, 11)]
    for a in arrays:  # real cosines: within [-1, 1], not constant
        assert a.max() <= 1 + 1e-5 and a.min() >= -1 - 1e-5 and a.std() > 0
    for f in figs.static.values():
        plt.close(f)


def test_single_train_output_plots_training_and_names_the_rest(sample_run: Path, tmp_path: Path):
    sae_only = tmp_path / "train_out"
    shutil.copytree(sample_run / "sae", sae_only)
    names = {p.name for p in plot_run(sae_only, tmp_path / "p", FAST)}
    assert {"training_curves.png", "firing_frequency.png", "decoder_map.png"} <= names
    assert not any(n.startswith("curation") for n in names)
    missing = (tmp_path / "p" / "MISSING.txt").read_text()
    assert "interpret" in missing and "curate" in missing and "data" in missing


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
        RunData(sae).train_log()


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="formats"):
        PlotConfig(formats=("jpg",))
    with pytest.raises(ConfigError, match="projection"):
        PlotConfig(projection="isomap")  # type: ignore[arg-type]


def test_cli_plot_on_a_curate_output(sample_run: Path, tmp_path: Path):
    from saescope.cli.main import main

    cur = tmp_path / "curate_out"
    shutil.copytree(sample_run / "curate", cur)
    main(["plot", str(cur), "--out", str(tmp_path / "cli"), "--formats", "png",
          "--no-interactive", "--projection", "pca"])
    names = {p.name for p in (tmp_path / "cli").iterdir()}
    assert "curation_pca.png" in names and "training_curves.png" not in names


def test_cli_plot_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from saescope.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["plot", str(tmp_path)])
    assert exc.value.code == 2
    assert "no run artifacts" in capsys.readouterr().err
