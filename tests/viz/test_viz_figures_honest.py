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
    drawn_labels = {to_hex(fc) for c in label_ax.collections for fc in c.get_facecolor()}
    assert to_hex(ROLE_STYLE["selected"][0]) in drawn_roles
    assert not drawn_roles & drawn_labels


def _drawn(ax) -> list[str]:
    """Colours of an axes' points in the order they are painted (z-order, then call order)."""
    cols = sorted(enumerate(ax.collections), key=lambda ic: (ic[1].get_zorder(), ic[0]))
    out = []
    for _, c in cols:
        fc = c.get_facecolor()
        out += [to_hex(fc[i % len(fc)]) for i in range(len(c.get_offsets()))]
    return out


def _pool_5050(n: int = 400) -> pd.DataFrame:
    """A 50/50 pool, target second in sorted order (issue 28: orange drawn over blue)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": [str(i) for i in range(n)], "x": rng.normal(size=n), "y": rng.normal(size=n),
                         "role": ["seed"] * 30 + ["selected"] * 100 + ["pool"] * (n - 130),
                         "label": ["other" if i % 2 else "target" for i in range(n)]})


def test_label_maps_interleave_labels_so_none_is_hidden():
    proj = _pool_5050()
    for ax in (fig_curation_projection(proj).axes[1],
               fig_scatter(proj[["x", "y"]].to_numpy(), proj["label"].to_numpy(), "m", categorical=True).axes[0]):
        drawn = _drawn(ax)
        assert len(drawn) == len(proj)  # every point drawn once
        assert len(set(drawn)) == 2
        last = drawn[-len(drawn) // 4:]  # the points painted last, over the others
        share = last.count(drawn[-1]) / len(last)
        assert 0.35 < share < 0.65, share  # both labels on top, as in the pool (50/50)
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == ["other (200)", "target (200)"]


def test_seed_stars_are_big_and_drawn_over_the_selection():
    ax = fig_curation_projection(_pool_5050()).axes[0]
    by_label = {c.get_label().split(" ")[0]: c for c in ax.collections}
    seed, sel, pool = by_label["seed"], by_label["selected"], by_label["pool"]
    assert seed.get_zorder() > sel.get_zorder() > pool.get_zorder()
    assert seed.get_sizes()[0] >= 10 * sel.get_sizes()[0]
    assert len(seed.get_offsets()) == 30 and len(sel.get_offsets()) == 100


def test_curation_map_keeps_every_seed_and_selected_row_and_says_so():
    from saescope.viz.plots import curation_map_caption, curation_map_rows

    proj = _pool_5050(2000)
    sub = curation_map_rows(proj, 500, 0)
    counts = sub["role"].value_counts().to_dict()
    assert counts == {"seed": 30, "selected": 100, "pool": 370}
    selected = pd.DataFrame({"id": [str(i) for i in range(500)]})
    cap = curation_map_caption(proj, sub, "UMAP", selected)
    assert cap.startswith("UMAP of the embeddings of all 30 seeds, 100 of the 500 selected rows")
    assert "370 of projection.parquet's 1870 sampled pool rows" in cap
    assert "all 100 selected rows" in curation_map_caption(proj, sub, "UMAP", selected.head(100))


def test_structureless_maps_are_flagged():
    from saescope.viz.plots import structure_flag

    rng = np.random.default_rng(0)
    assert structure_flag(rng.normal(size=(800, 2))).startswith("no cluster structure: Hopkins statistic 0.")
    blobs = np.concatenate([rng.normal(loc=c, scale=0.3, size=(100, 2)) for c in rng.normal(scale=6, size=(8, 2))])
    assert structure_flag(blobs) == ""
