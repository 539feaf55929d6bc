"""Overview page: what the run holds, the SAE's figures, training curves, firing frequencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from saescope.dashboard.state import get_run
from saescope.dashboard.widgets import histogram_bars
from saescope.safetext import markdown_text
from saescope.viz.plots import FIXED_L0_ARCHS


def page_overview(spec: str) -> None:
    run = get_run(spec)
    st.header("Run overview")
    st.write("Run folder: " + markdown_text(run.root))
    # st.table renders Markdown in its cells: paths are escaped like every user text
    stages = {s: (markdown_text(getattr(run.layout, s)) if getattr(run.layout, s) else "absent")
              for s in ("data", "sae", "interpret", "curate")}
    st.table(pd.DataFrame({"stage": list(stages), "path": list(stages.values())}))
    missing = run.missing()
    if missing:
        st.warning("Missing: " + "; ".join(markdown_text(m) for m in missing))
    cfg, met = run.sae_cfg() or {}, run.train_metrics() or {}
    if cfg or met:
        cols = st.columns(4)
        vals = [("architecture", cfg.get("arch")), ("latents", cfg.get("num_latents")),
                ("FVU", met.get("fvu")), ("L0", met.get("l0"))]
        for c, (k, v) in zip(cols, vals, strict=True):
            c.metric(k, "–" if v is None else (f"{v:.4g}" if isinstance(v, float) else markdown_text(v)))
        if met.get("split"):
            st.caption(f"FVU and L0 above: {markdown_text(met['split'])} rows "
                       f"({markdown_text(met.get('n_samples', '?'))}), "
                       "held out of training.")
    _training_curves(run, cfg, met)
    _firing(run)


def _training_curves(run, cfg: dict, met: dict) -> None:  # noqa: ANN001
    log = run.train_log()
    if log is None:
        return
    st.subheader("Training curves")
    metrics = [c for c in ("fvu", "l0", "dead_fraction") if c in log.columns]
    if cfg.get("arch") in FIXED_L0_ARCHS and "l0" in metrics:
        metrics.remove("l0")
        st.caption(f"No L0 curve: a {markdown_text(cfg['arch'])} SAE keeps k = {markdown_text(cfg.get('k'))} latents active "
                   "per sample by construction.")
    cols = st.columns(len(metrics))
    for c, m in zip(cols, metrics, strict=True):
        fig = go.Figure(go.Scatter(x=log["step"], y=log[m], mode="lines", name="training batches"))
        if m in met and met.get("split"):
            fig.add_trace(go.Scatter(x=[log["step"].iloc[-1]], y=[met[m]], mode="markers",
                                     marker={"size": 10, "symbol": "diamond"},
                                     name=f"{met['split']} (final)"))
        fig.update_layout(height=280, title=m, xaxis_title="step", yaxis_title=m,
                          legend={"orientation": "h", "y": -0.3}, margin={"t": 40})
        c.plotly_chart(fig, key=f"curve-{m}")


def _firing(run) -> None:  # noqa: ANN001
    stats = run.latent_stats()
    if stats is None:
        return
    freq = stats["frequency"].to_numpy(dtype=float)
    alive = freq[freq > 0]
    st.subheader("Firing frequency")
    st.caption(run.dead_words() or f"{len(alive)} alive, {int((freq == 0).sum())} dead latents "
               "(on the SAE's training rows)")
    if len(alive):
        st.plotly_chart(histogram_bars(np.log10(alive), 40, "log10 firing frequency (fraction of the SAE's training rows)",
                                       "latents"), key="freq-hist")
