"""Curation page: metrics against baselines, the latents the selection leans on, the map, the rows."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from saescope.dashboard import state
from saescope.dashboard.widgets import (
    label_map,
    latent_table,
    latent_url,
    missing_box,
    paginate,
    to_csv,
)
from saescope.safetext import markdown_text
from saescope.viz.plots import ROLE_STYLE

WHY_COLUMNS = ("top_latents",)
"""curate's per-row list of the latents behind a row's score (`saescope.curate.explain`; the
`top_contributions` and `top_explanations` beside it are shown as they are)."""


@st.cache_data(show_spinner="Preparing the download…")
def selection_files(spec: str) -> tuple[bytes, bytes]:
    """(CSV, Parquet) bytes of the selection, built once per run."""
    sel = state.get_run(spec).selected()
    if "rank" in sel.columns:
        sel = sel.sort_values("rank")
    buf = io.BytesIO()
    sel.to_parquet(buf, index=False)
    return to_csv(sel), buf.getvalue()


def page_curation(spec: str) -> None:
    run = state.get_run(spec)
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
    _enriched_latents(spec)
    _projection(spec)
    _selection(spec)


def _enriched_latents(spec: str) -> None:
    man = state.get_run(spec).curate_manifest() or {}
    info = man.get("space_info") or {}
    top = info.get("seed_latents") or info.get("top_latents") or []
    if not top:
        return
    frame = pd.DataFrame(top)
    if "latent" not in frame.columns:
        return
    expl = state.explanations(spec)
    if "explanation" not in frame.columns or frame["explanation"].isna().all():
        frame["explanation"] = [expl.get(int(m), "") for m in frame["latent"]]
    st.subheader("Latents the selection leans on")
    weight = info.get("latent_weight", "weight in the " + str(man.get("space", "SAE")) + " space")
    st.caption("The latents that most set the seeds apart from the pool (weight: "
               f"{markdown_text(weight)}); "
               "click one to open its page.")
    latent_table(frame, "cur-latents")


def _projection(spec: str) -> None:
    run = state.get_run(spec)
    proj = run.projection()
    if proj is None:
        return
    st.subheader("PCA view")
    roles = [r for r in ("pool", "selected", "seed") if (proj["role"] == r).any()]
    by_role = proj.assign(_o=proj["role"].map({r: i for i, r in enumerate(roles)})).sort_values("_o")
    c = st.columns(2 if "label" in proj.columns else 1)
    fig = px.scatter(
        by_role, x="x", y="y", color="role", symbol="role", hover_data=["id"], height=480,
        color_discrete_map={r: ROLE_STYLE[r][0] for r in roles}, category_orders={"role": roles},
        symbol_map={"pool": "circle", "selected": "circle", "seed": "star"},
        title="seeds (gold stars, on top), selection (black), pool (grey)")
    fig.update_traces(selector={"name": "seed"}, marker={"size": 15, "line": {"width": 1, "color": "black"}})
    c[0].plotly_chart(fig, key="cur-pca")
    if "label" in proj.columns:
        c[1].plotly_chart(label_map(proj, "label", "the same points by label (shuffled draw order)"), key="cur-pca-label")
    seeds = proj[proj["role"] == "seed"]
    st.subheader(f"Seeds ({len(seeds)})")
    d = run.data()
    if d is not None and "text" in d[1].columns:
        seeds = seeds.merge(d[1][["id", "text"]], on="id", how="left")
    st.dataframe(paginate(seeds.drop(columns=["x", "y"]), "seed-page"), hide_index=True, key="seeds")


def latent_ids(values: object) -> list[int]:
    """The latent ids in a "why chosen" cell (a list of ids, of {latent, ...} dicts, or "1,2")."""
    if values is None or (isinstance(values, float) and np.isnan(values)):
        return []
    items = [v for v in values.split(",") if v.strip()] if isinstance(values, str) else list(values)
    out = []
    for v in items:
        try:
            out.append(int(v.get("latent") if isinstance(v, dict) else v))
        except (TypeError, ValueError):
            continue
    return out


def _selection(spec: str) -> None:
    sel = state.get_run(spec).selected()
    if sel is None:
        return
    if "rank" in sel.columns:
        sel = sel.sort_values("rank")
    st.subheader(f"Selection ({len(sel):,} rows)")
    page = paginate(sel, "sel-page")
    why = [c for c in WHY_COLUMNS if c in page.columns]
    config = {}
    if why:
        ids = [latent_ids(v) for v in page[why[0]]]
        page = page.assign(**{"top latent": [latent_url(i[0]) if i else None for i in ids],
                              why[0]: [", ".join(map(str, i)) for i in ids]})
        config["top latent"] = st.column_config.LinkColumn(
            "top latent", display_text=r"latent=(\d+)$", help="the latent that contributed most")
        st.caption(f"`{why[0]}`: the latents that contributed most to each row's score.")
    st.dataframe(page, hide_index=True, key="selected", column_config=config)
    csv, parquet = selection_files(spec)
    c = st.columns(2)
    c[0].download_button("Download selection (CSV)", csv, "selected.csv", "text/csv", key="dl-sel-csv")
    c[1].download_button("Download selection (Parquet)", parquet, "selected.parquet",
                         "application/octet-stream", key="dl-sel-pq")
