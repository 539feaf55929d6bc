"""The saescope dashboard (a Streamlit script): run with `saescope dashboard RUN_DIR`.

Reads only the run folder named by the `SAESCOPE_RUN_DIR` environment variable (or the first
argument after `--`). Heavy work is cached with `st.cache_data` / `st.cache_resource`; plots
use a random sample of rows and tables are paginated, so 100,000 rows and 16,000 latents stay
responsive.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from saescope.dashboard.page_hypotheses import page_hypotheses
from saescope.viz import analysis
from saescope.viz.rundata import RunData

PAGES = ("Overview", "Embedding space", "Features", "Try your text", "Curation", "Hypotheses")
PAGE_SIZE = 50
MAX_MAP_POINTS = 5000
MAX_PAIR_ROWS = 3000
CODE_SAMPLE = 5000  # rows encoded for latent histograms (16,000 latents: about 3 s once)


def run_dir() -> str:
    path = os.environ.get("SAESCOPE_RUN_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not path:
        st.error("No run folder given: start with `saescope dashboard RUN_DIR`.")
        st.stop()
    return str(Path(path).resolve())


# --------------------------------------------------------------------------- cached loads
@st.cache_resource(show_spinner=False)
def get_run(path: str) -> RunData:
    return RunData(path)


@st.cache_data(show_spinner="Sampling rows…")
def data_sample(path: str, n: int, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame, int]:
    """(X of a random sample of at most n rows, its metadata, total row count)."""
    X, meta = get_run(path).data()
    idx = analysis.sample_rows(len(X), n, seed)
    sub = meta.iloc[idx].reset_index(drop=True)
    sub.insert(0, "row", idx)
    return X[idx], sub, len(X)


@st.cache_data(show_spinner="PCA…")
def pca_stats(path: str, n: int) -> tuple[np.ndarray, int]:
    X, _, _ = data_sample(path, n)
    return analysis.pca_spectrum(X, max_components=100)


@st.cache_data(show_spinner="Projecting to 2-D…")
def projection_2d(path: str, n: int, method: str) -> tuple[np.ndarray, str]:
    X, _, _ = data_sample(path, n)
    return analysis.project_2d(X, method, metric="cosine")  # type: ignore[arg-type]


@st.cache_data(show_spinner="k-means…")
def clusters(path: str, n: int, k: int) -> np.ndarray:
    X, _, _ = data_sample(path, n)
    return analysis.kmeans_labels(X, k)


@st.cache_data(show_spinner="Pairwise similarities…")
def pair_stats(path: str, n: int) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    X, _, _ = data_sample(path, n)
    return analysis.pairwise_cosines(X), analysis.most_similar_pairs(X, 20)


@st.cache_data(show_spinner=False)
def latent_frame(path: str) -> pd.DataFrame | None:
    from saescope.viz.report import primary_order

    run = get_run(path)
    table = run.latent_table()
    return None if table is None else primary_order(run, table).reset_index(drop=True)


@st.cache_data(show_spinner="Encoding a sample with the SAE…")
def code_sample(path: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSC-like pieces of the SAE codes of a data sample: (data, indices, indptr) of CSC."""
    run = get_run(path)
    X, _ = run.data()
    idx = analysis.sample_rows(len(X), n)
    csc = run.codes(idx).tocsc()
    return csc.data, csc.indices, csc.indptr


@st.cache_data(show_spinner=False)
def decoder_unit(path: str) -> np.ndarray | None:
    W = get_run(path).decoder()
    return None if W is None else analysis.l2_normalize(W)


@st.cache_resource(show_spinner="Loading the sentence model…")
def embedder():
    from saescope.data.embed import Embedder

    return Embedder("minilm", device="cpu")


# --------------------------------------------------------------------------- helpers
def paginate(df: pd.DataFrame, key: str, page_size: int = PAGE_SIZE) -> pd.DataFrame:
    pages = max(1, int(np.ceil(len(df) / page_size)))
    if pages > 1:
        page = st.number_input(f"page (of {pages})", 1, pages, 1, key=key)
    else:
        page = 1
    return df.iloc[(page - 1) * page_size: page * page_size]


def missing_box(run: RunData, needs: str, what: str) -> None:
    st.info(f"This run folder has no {needs}, so there is no {what} here. "
            f"Folder: `{run.root}`")


def scores_frame(run: RunData, row: pd.Series) -> pd.DataFrame:
    rows = []
    for s in run.scorers():
        rows.append({"scorer": s, "score": row[s], "95% CI low": row[f"{s}_lo"],
                     "95% CI high": row[f"{s}_hi"],
                     "shuffled baseline": row.get(f"{s}_baseline", np.nan)})
    return pd.DataFrame(rows)


def to_csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def histogram_bars(values: np.ndarray, bins: int, xlabel: str, height: int = 300) -> go.Figure:
    """A histogram binned here, so millions of values never travel to the browser."""
    counts, edges = np.histogram(values, bins=bins)
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges)))
    fig.update_layout(height=height, xaxis_title=xlabel, yaxis_title="count", bargap=0)
    return fig


@st.cache_data(show_spinner="Preparing the download…")
def selection_files(path: str) -> tuple[bytes, bytes]:
    """(CSV, Parquet) bytes of the selection, built once per run folder."""
    sel = get_run(path).selected()
    if "rank" in sel.columns:
        sel = sel.sort_values("rank")
    buf = io.BytesIO()
    sel.to_parquet(buf, index=False)
    return to_csv(sel), buf.getvalue()


# --------------------------------------------------------------------------- pages
def page_overview(path: str) -> None:
    run = get_run(path)
    st.header("Run overview")
    st.write(f"Run folder: `{run.root}`")
    stages = {s: (str(getattr(run.layout, s)) if getattr(run.layout, s) else "absent")
              for s in ("data", "sae", "interpret", "curate")}
    st.table(pd.DataFrame({"stage": list(stages), "path": list(stages.values())}))
    missing = run.missing()
    if missing:
        st.warning("Missing: " + "; ".join(missing))
    cfg, met = run.sae_cfg(), run.train_metrics()
    if cfg or met:
        cols = st.columns(4)
        vals = [("architecture", (cfg or {}).get("arch")), ("latents", (cfg or {}).get("num_latents")),
                ("FVU", (met or {}).get("fvu")), ("L0", (met or {}).get("l0"))]
        for c, (k, v) in zip(cols, vals, strict=True):
            c.metric(k, "–" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)))
    log = run.train_log()
    if log is not None:
        st.subheader("Training curves")
        metrics = [c for c in ("fvu", "l0", "dead_fraction") if c in log.columns]
        cols = st.columns(len(metrics))
        for c, m in zip(cols, metrics, strict=True):
            c.plotly_chart(px.line(log, x="step", y=m, height=280, title=m), key=f"curve-{m}")
    stats = run.latent_stats()
    if stats is not None:
        freq = stats["frequency"].to_numpy(dtype=float)
        alive = freq[freq > 0]
        st.subheader("Firing frequency")
        st.caption(f"{len(alive)} alive, {int((freq == 0).sum())} dead latents (log10 frequency)")
        if len(alive):
            st.plotly_chart(px.histogram(x=np.log10(alive), nbins=40, height=300,
                                         labels={"x": "log10 firing frequency"}), key="freq-hist")


def page_embedding(path: str) -> None:
    run = get_run(path)
    st.header("Embedding space")
    if run.data() is None:
        missing_box(run, "data/embeddings.parquet", "embedding-space explorer")
        return
    total = len(run.data()[0])
    options = sorted({min(total, v) for v in (500, 1000, 2000, MAX_MAP_POINTS)})
    if len(options) > 1:
        n = st.select_slider("rows sampled for the views", options=options, value=min(total, 2000))
    else:
        n = total
    X, meta, total = data_sample(path, n)
    norms = np.linalg.norm(X, axis=1)
    ratio, n95 = pca_stats(path, n)
    c = st.columns(5)
    c[0].metric("rows", f"{total:,}")
    c[1].metric("dimensions", X.shape[1])
    c[2].metric("mean norm", f"{norms.mean():.3f}")
    c[3].metric("norm std", f"{norms.std():.3f}")
    c[4].metric("PCA comps for 95% var.", n95)
    st.subheader("PCA scree")
    scree = pd.DataFrame({"component": np.arange(1, len(ratio) + 1), "explained": ratio,
                          "cumulative": np.cumsum(ratio)})
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=scree["component"], y=scree["explained"], name="explained variance ratio"))
    fig.add_trace(go.Scatter(x=scree["component"], y=scree["cumulative"], name="cumulative"),
                  secondary_y=True)
    fig.add_hline(y=0.95, line_dash="dot", secondary_y=True, annotation_text="95%")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", secondary_y=True)
    fig.update_layout(height=320, xaxis_title="principal component")
    st.plotly_chart(fig, key="scree")
    st.caption(f"{n95} principal components explain 95% of the variance of the {n}-row sample.")

    st.subheader("2-D map")
    cols = st.columns(3)
    method = cols[0].selectbox("method", ["t-SNE", "UMAP", "PCA"], key="map-method")
    labels = run.label_columns()
    color_by = cols[1].selectbox("colour by", labels + ["norm", "cluster"], key="map-color")
    k = cols[2].slider("k-means clusters", 2, 30, 8, key="kmeans-k")
    map_n = min(n, 1000)
    coords, used = projection_2d(path, map_n, {"t-SNE": "tsne", "UMAP": "umap", "PCA": "pca"}[method])
    cl = clusters(path, n, k)
    frame = meta.head(map_n).copy()
    frame["x"], frame["y"] = coords[:, 0], coords[:, 1]
    frame["norm"] = norms[:map_n]
    frame["cluster"] = cl[:map_n].astype(str)
    hover = [h for h in ("id", "text") if h in frame.columns]
    if "text" in frame.columns:
        frame["text"] = frame["text"].astype(str).str.slice(0, 120)
    st.plotly_chart(px.scatter(frame, x="x", y="y", color=color_by, hover_data=hover, height=520,
                               title=f"{used} of {map_n} rows, coloured by {color_by}"), key="map")
    sizes = pd.Series(cl).value_counts().sort_index()
    st.write(f"k-means with k = {k}: {len(sizes)} clusters")
    st.dataframe(pd.DataFrame({"cluster": sizes.index, "rows": sizes.values}), hide_index=True,
                 key="cluster-sizes", height=200)

    st.subheader("Cosine similarity between rows")
    pn = min(n, MAX_PAIR_ROWS)
    sims, pairs = pair_stats(path, pn)
    st.plotly_chart(histogram_bars(sims, 60, f"cosine ({len(sims):,} pairs of {pn} rows)"),
                    key="sim-hist")
    st.caption(f"mean cosine {sims.mean():.3f}, median {np.median(sims):.3f}")
    show = [c for c in ("id", "text") if c in meta.columns]
    prs = pd.DataFrame([{"cosine": s, **{f"{c} A": meta.iloc[i][c] for c in show},
                         **{f"{c} B": meta.iloc[j][c] for c in show}} for i, j, s in pairs])
    st.write("Most similar pairs in the sample")
    st.dataframe(prs, hide_index=True, key="pairs")
    export = frame.drop(columns=[c for c in ("text",) if c in frame.columns])
    st.download_button("Download the sample (CSV)", to_csv(export), "embedding_sample.csv",
                       "text/csv", key="dl-sample")


def page_features(path: str) -> None:
    run = get_run(path)
    st.header("Feature browser")
    table = latent_frame(path)
    if table is None:
        missing_box(run, "interpret or SAE latent statistics", "feature browser")
        return
    q = st.text_input("search explanations", key="feature-query")
    shown = table
    if q and "explanation" in table.columns:
        shown = table[table["explanation"].fillna("").str.contains(q, case=False, regex=False)]
    st.caption(f"{len(shown):,} of {len(table):,} latents")
    cols = [c for c in ("latent", "status", "explanation", "density", "n_fires", "frequency",
                        *run.scorers(), "family") if c in shown.columns]
    page = paginate(shown[cols], "feature-page")
    st.dataframe(page, hide_index=True, key="feature-table")
    if len(shown) == 0:
        return
    expl = (table.set_index("latent")["explanation"].fillna("") if "explanation" in table.columns
            else pd.Series(dtype=str))
    c = st.columns([3, 1])
    lat = c[0].selectbox("open a latent from this page", page["latent"].astype(int).tolist(),
                         format_func=lambda m: f"#{m} {expl.get(m, '')}", key="latent-pick")
    jump = c[1].text_input("or latent id", key="latent-jump").strip()
    if jump:
        if not jump.isdigit():
            st.warning(f"{jump!r} is not a latent id (a whole number)")
            return
        lat = int(jump)
    rows = table[table["latent"] == lat]
    if rows.empty:
        st.warning(f"latent {lat} is not in this run")
        return
    latent_page(path, run, rows.iloc[0], table)


def latent_page(path: str, run: RunData, row: pd.Series, table: pd.DataFrame) -> None:
    lat = int(row["latent"])
    expl = row.get("explanation", "")
    st.subheader(f"Latent {lat}: {'' if pd.isna(expl) else expl}")
    c = st.columns(4)
    c[0].metric("density", f"{float(row.get('density', row.get('frequency', np.nan))):.3g}")
    c[1].metric("fires", str(row.get("n_fires", "–")))
    c[2].metric("status", str(row.get("status", "–")))
    c[3].metric("family", str(row.get("family", "–")))
    if run.scorers():
        st.write("Scores with bootstrap 95% intervals")
        st.dataframe(scores_frame(run, row), hide_index=True, key="latent-scores")
    acts = None
    if run.layout.data is not None and run.layout.sae is not None:
        data, indices, indptr = code_sample(path, CODE_SAMPLE)
        acts = data[indptr[lat]:indptr[lat + 1]] if lat + 1 < len(indptr) else np.zeros(0)
        src = "SAE codes of a data sample"
    ex = run.examples()
    ex_l = ex[ex["latent"] == lat] if ex is not None else None
    if (acts is None or len(acts) == 0) and ex_l is not None:
        acts = ex_l.loc[ex_l["activation"] > 0, "activation"].to_numpy()
        src = "examples"
    if acts is not None and len(acts):
        st.plotly_chart(px.histogram(x=acts, nbins=40, height=260,
                                     labels={"x": f"activation ({src}, {len(acts)} non-zero)"}),
                        key="latent-hist")
    if ex_l is not None and len(ex_l):
        for kind in ("top", "quantile", "random_negative", "hard_negative"):
            k = ex_l[ex_l["kind"] == kind].sort_values("activation", ascending=False)
            if len(k):
                st.write(f"**{kind.replace('_', ' ')} examples** ({len(k)})")
                cols = [c for c in ("activation", "text", "id", "split") if c in k.columns]
                st.dataframe(k[cols].head(20), hide_index=True, key=f"ex-{kind}")
    W = decoder_unit(path)
    if W is not None and lat < len(W):
        sims = W @ W[lat]
        sims[lat] = -np.inf
        top = np.argsort(-sims)[:10]
        expl = table.set_index("latent")["explanation"] if "explanation" in table.columns else {}
        st.write("**Similar latents** (decoder cosine)")
        st.dataframe(pd.DataFrame({"latent": top, "cosine": sims[top],
                                   "explanation": [expl.get(int(t), "") for t in top]}),
                     hide_index=True, key="similar")
    if "family" in table.columns and pd.notna(row.get("family")):
        fam = table[table["family"] == row["family"]]
        st.write(f"**Family** (root latent {int(row['family'])}, {len(fam)} members)")
        cols = [c for c in ("latent", "explanation", "density") if c in fam.columns]
        st.dataframe(fam[cols].head(50), hide_index=True, key="family")


def page_try(path: str) -> None:
    run = get_run(path)
    st.header("Try your text")
    sae = run.sae() if run.layout.sae is not None else None
    if sae is None:
        missing_box(run, "SAE", "text encoder")
        return
    text = st.text_area("Text to embed with all-MiniLM-L6-v2", key="try-text",
                        placeholder="Type a sentence, e.g. a question about photosynthesis")
    if not text.strip():
        st.caption("Type some text and press Ctrl+Enter (or click outside the box).")
        return
    import torch

    emb = embedder()
    if emb.dim != sae.d_in:
        st.error(f"The SAE expects {sae.d_in}-d inputs but MiniLM gives {emb.dim}-d vectors: this "
                 "run was not trained on MiniLM sentence embeddings.")
        return
    x = emb.encode([text])
    with torch.no_grad():
        out = sae.encode(torch.from_numpy(x))
    acts = out.top_acts[0].numpy()
    idx = out.top_indices[0].numpy()
    keep = acts > 0
    table = latent_frame(path)
    res = pd.DataFrame({"latent": idx[keep], "activation": acts[keep]}).sort_values(
        "activation", ascending=False)
    if table is not None:
        cols = [c for c in ("latent", "explanation", "status", "density") if c in table.columns]
        res = res.merge(table[cols], on="latent", how="left")
    st.write(f"{len(res)} active latents")
    st.dataframe(res, hide_index=True, key="try-latents")


def page_curation(path: str) -> None:
    run = get_run(path)
    st.header("Curation")
    if run.layout.curate is None:
        missing_box(run, "curate output", "curation view")
        return
    metrics = run.curation_metrics()
    if metrics is not None:
        st.subheader("Metrics against baselines")
        st.dataframe(metrics.rename_axis("space").reset_index(), hide_index=True, key="cur-metrics")
        num = [c for c in ("avg_similarity", "diversity", "precision", "recall", "f1")
               if c in metrics.columns]
        if num:
            long = metrics[num].rename_axis("space").reset_index().melt(id_vars="space")
            st.plotly_chart(px.bar(long, x="variable", y="value", color="space", barmode="group",
                                   height=320), key="cur-bars")
    proj = run.projection()
    if proj is not None:
        st.subheader("PCA view")
        color = "label" if "label" in proj.columns else "role"
        st.plotly_chart(px.scatter(proj, x="x", y="y", color=color, symbol="role",
                                   hover_data=["id"], height=520,
                                   title=f"seeds, pool sample and selection, coloured by {color}"),
                        key="cur-pca")
        seeds = proj[proj["role"] == "seed"]
        st.subheader(f"Seeds ({len(seeds)})")
        d = run.data()
        if d is not None and "text" in d[1].columns:
            seeds = seeds.merge(d[1][["id", "text"]], on="id", how="left")
        st.dataframe(paginate(seeds.drop(columns=["x", "y"]), "seed-page"), hide_index=True,
                     key="seeds")
    sel = run.selected()
    if sel is not None:
        if "rank" in sel.columns:
            sel = sel.sort_values("rank")
        st.subheader(f"Selection ({len(sel):,} rows)")
        st.dataframe(paginate(sel, "sel-page"), hide_index=True, key="selected")
        csv, parquet = selection_files(path)
        c = st.columns(2)
        c[0].download_button("Download selection (CSV)", csv, "selected.csv", "text/csv",
                             key="dl-sel-csv")
        c[1].download_button("Download selection (Parquet)", parquet, "selected.parquet",
                             "application/octet-stream", key="dl-sel-pq")


PAGE_FUNCS = {
    "Overview": page_overview,
    "Embedding space": page_embedding,
    "Features": page_features,
    "Try your text": page_try,
    "Curation": page_curation,
    "Hypotheses": page_hypotheses,
}


def main() -> None:
    st.set_page_config(page_title="saescope", layout="wide")
    path = run_dir()
    st.sidebar.title("saescope")
    page = st.sidebar.radio("Page", PAGES, key="page", bind="query-params")
    st.sidebar.caption(f"run: {Path(path).name}")
    PAGE_FUNCS[page](path)


main()
