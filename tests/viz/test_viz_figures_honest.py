"""Figures that do not mislead (issue 12, item 5): what they say, checked in their content."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from matplotlib.colors import to_hex

from saescope.viz.plots import (
    DEAD_COLOR,
    ROLE_STYLE,
    fig_curation_projection,
    fig_firing_histogram,
    fig_sample_heatmaps,
    fig_scatter,
    fig_training_curves,
    heatmap_samples,
    label_colors,
)

LOG = pd.DataFrame({"step": [10, 20, 30], "fvu": [0.9, 0.6, 0.5], "l0": [32.0] * 3,
                    "dead_fraction": [0.0, 0.01, 0.02]})


def test_fvu_curve_says_training_batches_and_marks_validation():
    fig = fig_training_curves(LOG, "relu", {"fvu": 0.55, "l0": 20.0, "split": "validation"})
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["training batches", "validation rows (end of training)"]
    x, y = ax.lines[1].get_data()
    assert list(x) == [30] and list(y) == [0.55]  # the held-out value, at the last step


def test_no_l0_panel_for_fixed_k_architectures():
    titles = [a.get_title() for a in fig_training_curves(LOG, "topk").axes]
    assert not any("L0" in t for t in titles) and len(titles) == 2
    assert "k latents active by construction" in fig_training_curves(LOG, "topk")._suptitle.get_text()
    assert any("L0" in a.get_title() for a in fig_training_curves(LOG, "relu").axes)


def test_firing_frequency_tick_labels_do_not_overlap():
    for freq in ([0.011, 0.013, 0.02, 0.05, 0.09], np.logspace(-6, -0.5, 300), [0.2, 0.21, 0.3]):
        fig = fig_firing_histogram(pd.DataFrame({"latent": range(len(freq)), "frequency": freq}))
        fig.canvas.draw()
        ax = fig.axes[0]
        boxes = [t.get_window_extent() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True)
                 if t.get_text() and t.get_visible()
                 and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
        assert len(boxes) >= 2, freq
        boxes.sort(key=lambda b: b.x0)
        assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:], strict=False)), freq


def test_decoder_map_names_dead_latents_apart_from_the_colour_bar():
    coords = np.random.default_rng(0).standard_normal((10, 2))
    dens = np.array([0, 0, 0, 1e-3, 1e-2, 0.1, 0.2, 0.05, 0.01, 0.3])
    dead = dens == 0
    fig = fig_scatter(coords, np.log10(np.where(dead, np.nan, dens)), "map",
                      cbar_label="log10 density of live latents (dead: grey)", dead=dead)
    ax, cbar = fig.axes
    assert "dead" in cbar.get_ylabel()
    grey, live = ax.collections
    assert len(grey.get_offsets()) == 3 and to_hex(grey.get_facecolor()[0]) == DEAD_COLOR
    assert len(live.get_offsets()) == 7
    assert ax.get_legend().get_texts()[0].get_text() == "dead (never fired): 3"


def test_sample_heatmaps_sorted_by_label():
    rng = np.random.default_rng(0)
    codes = sp.csr_matrix(rng.random((40, 8)) * (rng.random((40, 8)) > 0.5))
    meta = pd.DataFrame({"topic": rng.choice(["c", "a", "b"], 40)})
    pick, labels = heatmap_samples(codes, meta, "topic", 12, 0)
    assert labels == sorted(labels) and list(meta["topic"].to_numpy()[pick]) == labels
    fig = fig_sample_heatmaps(np.eye(12), np.eye(12), labels, "topic")
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == sorted(set(labels))
    assert "sorted by topic" in fig.axes[0].get_xlabel()


def test_selected_never_shares_a_colour_with_a_label():
    role_colors = {to_hex(c) for c, _, _ in ROLE_STYLE.values()}
    for n in (2, 6, 9, 10, 15, 18):
        assert not role_colors & set(label_colors(n)), n
    proj = pd.DataFrame({"id": [str(i) for i in range(60)], "x": np.arange(60.0), "y": np.arange(60.0),
                         "role": ["seed"] * 5 + ["selected"] * 20 + ["pool"] * 35,
                         "label": [f"L{i % 10}" for i in range(60)]})
    fig = fig_curation_projection(proj)
    role_ax, label_ax = fig.axes
    drawn_roles = {to_hex(c.get_facecolor()[0]) for c in role_ax.collections}
    drawn_labels = {to_hex(c.get_facecolor()[0]) for c in label_ax.collections}
    assert to_hex(ROLE_STYLE["selected"][0]) in drawn_roles
    assert not drawn_roles & drawn_labels
