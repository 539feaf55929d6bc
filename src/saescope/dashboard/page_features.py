"""Features page: the searchable latent table and one page per latent (`?page=Features&latent=N`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from saescope.dashboard import state
from saescope.dashboard.widgets import latent_table, missing_box, paginate
from saescope.safetext import markdown_text
from saescope.viz import latent_page as lp
from saescope.viz.plots import structure_flag
from saescope.viz.rundata import RunData


def page_features(spec: str) -> None:
    run = state.get_run(spec)
    st.header("Feature browser")
    table = state.latent_frame(spec)
    if table is None:
        missing_box(run, "interpret or SAE latent statistics", "feature browser")
        return
    jump = st.text_input("latent id (its page: ?page=Features&latent=N)", key="latent",
                         bind="query-params").strip()
    if jump:
        if not jump.isdigit():
            st.warning(f"{markdown_text(repr(jump))} is not a latent id (a whole number)")
            return
        rows = table[table["latent"] == int(jump)]
        if rows.empty:
            st.warning(f"latent {jump} is not in this run (ids 0-{int(table['latent'].max())})")
            return
        latent_view(spec, run, rows.iloc[0], table)
        return
    _browser(spec, run, table)


def _browser(spec: str, run: RunData, table: pd.DataFrame) -> None:
    q = st.text_input("search explanations", key="feature-query")
    shown = table
    if q and "explanation" in table.columns:
        shown = table[table["explanation"].fillna("").str.contains(q, case=False, regex=False)]
    st.caption(f"{len(shown):,} of {len(table):,} latents")
    cols = [c for c in ("latent", "status", "explanation", "density", "n_fires", "frequency",
                        *run.scorers(), "family") if c in shown.columns]
    page = paginate(shown[cols], "feature-page")
    latent_table(page, "feature-table")
    _decoder_map(spec, table)
    if len(page):
        expl = state.explanations(spec)
        lat = st.selectbox("open a latent from this page", page["latent"].astype(int).tolist(),
                           format_func=lambda m: f"#{m} {expl.get(m, '')}", key="latent-pick")
        st.caption("Or click a latent id in the table; each latent's page has its own address.")
        rows = table[table["latent"] == lat]
        latent_view(spec, run, rows.iloc[0], table)


def _decoder_map(spec: str, table: pd.DataFrame) -> None:
    with st.expander("Decoder map (the map of `saescope plot` and `report`, shared through the run's cache)"):
        again = st.button("compute with UMAP (t-SNE without umap-learn; ~30 s the first time)",
                          key="decoder-map-umap")
        got = state.decoder_map(spec, "auto" if again else None)
        if got is None:
            st.caption("No SAE in this run: no decoder directions to map.")
            return
        idx, coords, used = got
        dens = table.set_index("latent").reindex(idx)
        col = "density" if "density" in dens.columns else "frequency"
        d = dens[col].to_numpy(dtype=float) if col in dens.columns else np.full(len(idx), np.nan)
        frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "latent": idx,
                              "log10 density": np.log10(np.where(d > 0, d, np.nan)),
                              "explanation": [state.explanations(spec).get(int(m), "") for m in idx]})
        mask = state.get_run(spec).dead_mask()  # the training rows' count, as metrics.json
        dead = mask[idx] if mask is not None and len(mask) > int(np.max(idx, initial=0)) \
            else frame["log10 density"].isna().to_numpy()
        total = state.get_run(spec).dead_latents()
        text = [f"#{m} {e}" for m, e in zip(frame["latent"], frame["explanation"], strict=True)]
        fig = go.Figure()
        fig.add_trace(go.Scattergl(x=frame["x"][dead], y=frame["y"][dead], mode="markers",
                                   name=f"dead (never fired): {int(dead.sum())}"
                                        + (f" shown, of {total['n_dead']}" if total else ""),
                                   marker={"size": 5, "color": "#bdbdbd"},
                                   text=[t for t, x in zip(text, dead, strict=True) if x]))
        fig.add_trace(go.Scattergl(x=frame["x"][~dead], y=frame["y"][~dead], mode="markers",
                                   name="live", text=[t for t, x in zip(text, dead, strict=True) if not x],
                                   marker={"size": 5, "color": frame["log10 density"][~dead],
                                           "colorscale": "Viridis",
                                           "colorbar": {"title": "log10 density"}}))
        flag = structure_flag(coords)
        fig.update_layout(height=480, title=f"{used} of {len(idx)} decoder directions"
                          + (" (no cluster structure)" if flag else ""),
                          xaxis={"visible": False}, yaxis={"visible": False})
        st.plotly_chart(fig, key="decoder-map")
        if flag:
            st.caption(flag[0].upper() + flag[1:] + ".")


def latent_view(spec: str, run: RunData, row: pd.Series, table: pd.DataFrame) -> None:
    """Everything about one latent (see `saescope.viz.latent_page`)."""
    lat = int(row["latent"])
    expl = row.get("explanation", "")
    st.subheader(f"Latent {lat}: {'' if pd.isna(expl) else markdown_text(expl)}")
    st.markdown(f"[link to this page](?page=Features&latent={lat})")
    c = st.columns(4)
    c[0].metric("density", f"{float(row.get('density', row.get('frequency', np.nan))):.3g}")
    c[1].metric("fires", markdown_text(row.get("n_fires", "–")))
    c[2].metric("status", markdown_text(row.get("status", "–")))  # metric values render Markdown
    c[3].metric("family", markdown_text(row.get("family", "–")))
    if "explainer" in row and pd.notna(row.get("explainer")):
        st.caption("Explanation by the " + markdown_text(lp.EXPLAINER_WORDS.get(
            str(row["explainer"]), f"{row['explainer']} explainer")))
    if run.scorers():
        st.write("**Scores** (95% bootstrap interval over the held-out test texts)")
        st.dataframe(lp.scores_in_words(run.scorers(), row), hide_index=True, key="latent-scores")
    others = lp.other_explanations(run.extra_interpretations(), lat)
    if others is not None:
        st.write("**Other explanations** (further interpret outputs of this run)")
        st.dataframe(others, hide_index=True, key="other-explanations")
    ex_l = state.examples_of(spec).get(lat)
    _activation_histogram(spec, lat, ex_l)
    _tokens(ex_l)
    for kind, frame in lp.examples_by_kind(ex_l).items():
        st.write(f"**{lp.KIND_TITLES[kind]}** ({len(frame)})")
        st.dataframe(frame, hide_index=True, key=f"ex-{kind}")
    _labels(run, ex_l)
    _neighbours(spec, row, table)


def _activation_histogram(spec: str, lat: int, ex_l: pd.DataFrame | None) -> None:
    codes = state.code_sample(spec)
    acts, src = np.zeros(0), ""
    if codes is not None and lat < codes.shape[1]:
        csc = codes.tocsc()
        acts, src = csc.data[csc.indptr[lat]:csc.indptr[lat + 1]], f"a sample of {codes.shape[0]:,} rows"
    if len(acts) == 0 and ex_l is not None:
        acts, src = ex_l.loc[ex_l["activation"] > 0, "activation"].to_numpy(), "its examples"
    if len(acts) == 0:
        st.caption("No non-zero activation in the sample.")
        return
    counts, edges = np.histogram(acts, bins=30)
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges)))
    fig.update_layout(height=260, bargap=0, margin={"t": 40},
                      title=f"activation histogram ({len(acts)} non-zero, {src})",
                      xaxis_title="activation", yaxis_title="rows")
    st.plotly_chart(fig, key="latent-hist")


def _tokens(ex_l: pd.DataFrame | None) -> None:
    seqs = lp.token_highlights(ex_l)
    if not seqs:
        return
    st.write("**Where it fires, token by token** (top examples)")
    for seq in seqs:
        st.markdown(f"<div>{lp.token_spans_html(seq)}</div>", unsafe_allow_html=True)


def _labels(run: RunData, ex_l: pd.DataFrame | None) -> None:
    labels = run.label_columns()
    if ex_l is None or not labels:
        return
    top = ex_l.loc[ex_l["kind"] == "top", "id"]
    d = run.data()
    lb = lp.label_breakdown(top, d[1] if d is not None else None, labels[0])
    if lb is not None:
        st.write(f"**Label breakdown of the top examples** ({markdown_text(labels[0])}, beside its share of all rows)")
        st.dataframe(lb, hide_index=True, key="label-breakdown")


def _neighbours(spec: str, row: pd.Series, table: pd.DataFrame) -> None:
    expl = state.explanations(spec)
    lat = int(row["latent"])
    for title, frame, key in (
        ("Similar latents by decoder cosine", lp.decoder_neighbours(row, state.decoder_unit(spec)), "similar"),
        ("Latents that fire on the same rows (co-activation in the code sample)",
         lp.coactivation_neighbours(state.code_sample(spec), lat), "coactive"),
        (f"Family (root latent {markdown_text(row.get('family'))})", lp.family_members(table, row), "family"),
    ):
        if frame is None or len(frame) == 0:
            continue
        if "explanation" not in frame.columns:
            frame = frame.assign(explanation=[expl.get(int(m), "") for m in frame["latent"]])
        st.write(f"**{title}**")
        latent_table(frame, key)
