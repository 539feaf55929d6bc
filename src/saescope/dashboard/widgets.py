"""Small building blocks of the dashboard pages: tables with latent links, pagination, notes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from saescope.safetext import csv_safe_frame, markdown_text
from saescope.viz.plots import label_colors
from saescope.viz.rundata import RunData

PAGE_SIZE = 50
LATENT_PAGE = "Features"


def latent_url(latent: int) -> str:
    """The address of a latent's page (relative to the dashboard)."""
    return f"?page={LATENT_PAGE}&latent={int(latent)}"


LINKED = ("latent", "family")
"""Columns holding latent ids (a family is named by its root latent): shown as page links."""


def with_latent_links(df: pd.DataFrame, columns: tuple[str, ...] = LINKED) -> tuple[pd.DataFrame, dict]:
    """The frame with its latent-id columns turned into links to each latent's page, and the
    column config that shows them as the bare ids."""
    out = df.copy()
    cfg = {}
    for column in columns:
        if column not in df.columns:
            continue
        ids = pd.to_numeric(df[column], errors="coerce")
        out[column] = [latent_url(int(m)) if pd.notna(m) else None for m in ids]
        cfg[column] = st.column_config.LinkColumn(column, display_text=r"latent=(\d+)$",
                                                  help="open this latent's page")
    return out, cfg


def latent_table(df: pd.DataFrame, key: str, columns: tuple[str, ...] = LINKED, **kwargs) -> None:
    """`st.dataframe` of a frame whose latent ids link to their pages."""
    linked, cfg = with_latent_links(df, columns)
    st.dataframe(linked, hide_index=True, key=key, column_config=cfg, **kwargs)


def paginate(df: pd.DataFrame, key: str, page_size: int = PAGE_SIZE) -> pd.DataFrame:
    pages = max(1, int(np.ceil(len(df) / page_size)))
    page = st.number_input(f"page (of {pages})", 1, pages, 1, key=key) if pages > 1 else 1
    return df.iloc[(page - 1) * page_size: page * page_size]


def missing_box(run: RunData, needs: str, what: str) -> None:
    st.info(f"This run folder has no {needs}, so there is no {what} here. Folder: {markdown_text(run.root)}")


def to_csv(df: pd.DataFrame) -> bytes:
    """CSV bytes with formula-like cells neutralised (`safetext.csv_safe_frame`): a text
    `=HYPERLINK(...)` opens in a spreadsheet as text, not as a formula."""
    return csv_safe_frame(df).to_csv(index=False).encode("utf-8")


def histogram_bars(values: np.ndarray, bins: int, xlabel: str, ylabel: str = "count",
                   height: int = 300) -> go.Figure:
    """A histogram binned here, so millions of values never travel to the browser."""
    counts, edges = np.histogram(values, bins=bins)
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges)))
    fig.update_layout(height=height, xaxis_title=xlabel, yaxis_title=ylabel, bargap=0,
                      margin={"t": 30})
    return fig


MAX_MAP_COLORS = 18
"""Distinct label colours on a map (`label_colors` cycles beyond 18); rarer labels are "other"."""
OTHER_COLOR = "#c7c7c7"


def map_categories(values: pd.Series, max_colors: int = MAX_MAP_COLORS
                   ) -> tuple[np.ndarray, dict[str, str]]:
    """A label column as a map colours it: the legend label of each row, and legend label ->
    colour in legend order.

    Up to `max_colors` labels each get their own colour, in name order. Beyond that the
    `max_colors - 1` most frequent keep theirs and the rest become one grey "other (N labels)"
    group, listed first (colours repeat past 18, which made labels look alike).
    """
    values = values.astype(str).to_numpy()
    names, counts = np.unique(values, return_counts=True)
    if len(names) <= max_colors:
        return values, dict(zip(names.tolist(), label_colors(len(names)), strict=True))
    ranked = sorted(zip(names.tolist(), counts.tolist(), strict=True), key=lambda nc: (-nc[1], nc[0]))
    kept = sorted(n for n, _ in ranked[: max_colors - 1])
    other = f"other ({len(names) - len(kept)} labels)"
    shown = np.where(np.isin(values, kept), values, other)
    return shown, {other: OTHER_COLOR, **dict(zip(kept, label_colors(len(kept)), strict=True))}


def label_map(frame: pd.DataFrame, label: str, title: str, hover: tuple[str, ...] = (),
              seed: int = 0, height: int = 480) -> go.Figure:
    """Points (`x`, `y`) coloured by `label` in ONE trace drawn in a shuffled order, so no label is
    buried under another (one trace per label drew the last label over the rest); the legend
    entries are empty traces apart. Hover shows `id`, the label and the `hover` columns (text)."""
    shown, palette = map_categories(frame[label])
    o = np.random.default_rng(seed).permutation(len(frame))
    extra = [c for c in hover if c in frame.columns and c not in ("id", label)]
    custom = np.column_stack([frame["id"].astype(str).to_numpy()[o], shown[o]]
                             + [frame[c].astype(str).to_numpy()[o] for c in extra])
    template = "%{customdata[0]}<br>%{customdata[1]}" + "".join(
        f"<br>%{{customdata[{i + 2}]}}" for i in range(len(extra)))
    fig = go.Figure(go.Scattergl(
        x=frame["x"].to_numpy()[o], y=frame["y"].to_numpy()[o], mode="markers", showlegend=False,
        marker={"size": 6, "color": [palette[v] for v in shown[o]]}, name="points",
        customdata=custom, hovertemplate=template + "<extra></extra>"))
    for name, colour in palette.items():
        fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers",
                                   name=f"{name} ({int((shown == name).sum())})",
                                   marker={"size": 8, "color": colour}))
    fig.update_layout(height=height, title=title)
    return fig
