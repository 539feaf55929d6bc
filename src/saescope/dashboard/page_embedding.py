"""Embedding space page: norms, PCA spectrum, a 2-D map coloured by label or cluster, similarities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from saescope.dashboard import state
from saescope.dashboard.widgets import histogram_bars, label_map, missing_box, to_csv

MAX_MAP_POINTS = 5000
MAP_POINTS = 1000
MAX_PAIR_ROWS = 3000
METHODS = {"PCA": "pca", "t-SNE": "tsne", "UMAP": "umap"}


def page_embedding(spec: str) -> None:
    run = state.get_run(spec)
    st.header("Embedding space")
    if run.data() is None:
        missing_box(run, "data/embeddings.parquet", "embedding-space explorer")
        return
    total = len(run.data()[0])
    options = sorted({min(total, v) for v in (500, 1000, 2000, MAX_MAP_POINTS)})
    n = (st.select_slider("rows sampled for the views", options=options, value=min(total, 2000))
         if len(options) > 1 else total)
    X, meta, total = state.data_sample(spec, n)
    norms = np.linalg.norm(X, axis=1)
    _stats_and_scree(spec, X, norms, total, n)
    frame = _map(spec, run, meta, norms, n)
    _similarities(spec, meta, n)
    export = frame.drop(columns=[c for c in ("text",) if c in frame.columns])
    st.download_button("Download the sample (CSV)", to_csv(export), "embedding_sample.csv",
                       "text/csv", key="dl-sample")


def _stats_and_scree(spec: str, X: np.ndarray, norms: np.ndarray, total: int, n: int) -> None:
    ratio, n95 = state.pca_stats(spec, n)
    c = st.columns(5)
    c[0].metric("rows", f"{total:,}")
    c[1].metric("dimensions", X.shape[1])
    c[2].metric("mean norm", f"{norms.mean():.3f}")
    c[3].metric("norm std", f"{norms.std():.3f}")
    c[4].metric("PCA comps for 95% var.", n95)
    st.subheader("PCA scree")
    comp = np.arange(1, len(ratio) + 1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=comp, y=ratio, name="explained variance ratio"))
    fig.add_trace(go.Scatter(x=comp, y=np.cumsum(ratio), name="cumulative"), secondary_y=True)
    fig.add_hline(y=0.95, line_dash="dot", secondary_y=True, annotation_text="95%",
                  annotation_position="bottom right")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", secondary_y=True, title_text="cumulative")
    fig.update_yaxes(title_text="explained variance ratio", secondary_y=False)
    # Legend above the plot: at its default place it sat on the right axis' tick labels.
    fig.update_layout(height=340, xaxis_title="principal component",
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
                      margin={"t": 50})
    st.plotly_chart(fig, key="scree")
    st.caption(f"{n95} principal components explain 95% of the variance of the {n}-row sample.")


def map_frame(meta: pd.DataFrame, norms: np.ndarray, cl: np.ndarray, coords: np.ndarray,
              pos: np.ndarray) -> pd.DataFrame:
    """The rows drawn on the map (positions `pos` of the sample) with their coordinates: every
    column comes from the same rows, so a point's colour is its own row's label."""
    frame = meta.iloc[pos].reset_index(drop=True)
    frame["x"], frame["y"] = coords[:, 0], coords[:, 1]
    frame["norm"] = norms[pos]
    frame["cluster"] = cl[pos].astype(str)
    if "text" in frame.columns:
        frame["text"] = frame["text"].astype(str).str.slice(0, 120)
    return frame


def _map(spec: str, run, meta: pd.DataFrame, norms: np.ndarray, n: int) -> pd.DataFrame:  # noqa: ANN001
    st.subheader("2-D map")
    cols = st.columns(4)
    method = cols[0].selectbox("method", list(METHODS), key="map-method",
                               help="t-SNE and UMAP are computed once and cached in the run folder.")
    labels = run.label_columns()
    color_by = cols[1].selectbox("colour by", labels + ["norm", "cluster"], key="map-color")
    k = cols[2].slider("k-means clusters", 2, 30, 8, key="kmeans-k")
    # The map has its own count (t-SNE/UMAP of thousands of rows takes long): the slider says
    # exactly how many rows it draws, out of the rows sampled above.
    map_options = sorted({min(n, v) for v in (500, MAP_POINTS, 2000, MAX_MAP_POINTS)})
    map_n = (cols[3].select_slider("rows on the map", options=map_options, value=min(n, MAP_POINTS),
                                   key="map-n") if len(map_options) > 1 else n)
    coords, used = state.projection_2d(spec, n, map_n, METHODS[method])
    cl = state.clusters(spec, n, k)
    frame = map_frame(meta, norms, cl, coords, state.map_positions(n, map_n))
    title = f"{used} of {map_n} of the {n} sampled rows, coloured by {color_by}"
    if color_by == "norm":
        hover = [h for h in ("id", "text") if h in frame.columns]
        fig = px.scatter(frame, x="x", y="y", color="norm", hover_data=hover, height=520, title=title)
    else:
        fig = label_map(frame, color_by, title, hover=("text",), height=520)
    st.plotly_chart(fig, key="map")
    sizes = pd.Series(cl).value_counts().sort_index()
    st.write(f"k-means with k = {k}: {len(sizes)} clusters")
    st.dataframe(pd.DataFrame({"cluster": sizes.index, "rows": sizes.values}), hide_index=True,
                 key="cluster-sizes", height=200)
    return frame


def _similarities(spec: str, meta: pd.DataFrame, n: int) -> None:
    st.subheader("Cosine similarity between rows")
    pn = min(n, MAX_PAIR_ROWS)
    sims, pairs = state.pair_stats(spec, pn)
    st.plotly_chart(histogram_bars(sims, 60, f"cosine ({len(sims):,} pairs of {pn} rows)", "pairs"),
                    key="sim-hist")
    st.caption(f"mean cosine {sims.mean():.3f}, median {np.median(sims):.3f}")
    _, pmeta, _ = state.data_sample(spec, pn)
    show = [c for c in ("id", "text") if c in pmeta.columns]
    prs = pd.DataFrame([{"cosine": s, **{f"{c} A": pmeta.iloc[i][c] for c in show},
                         **{f"{c} B": pmeta.iloc[j][c] for c in show}} for i, j, s in pairs])
    st.write("Most similar pairs in the sample")
    st.dataframe(prs, hide_index=True, key="pairs")
