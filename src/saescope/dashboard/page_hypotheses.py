"""The dashboard's "Hypotheses" page: latents that predict a label, with intervals and q-values."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from saescope.viz.hypotheses_section import heldout_lines, hypotheses_dir, read_hypotheses


def page_hypotheses(path: str) -> None:
    st.header("Hypotheses")
    folder = hypotheses_dir(path)
    if folder is None:
        st.info("No hypotheses in this run: run `saescope hypotheses VECTORS --sae SAE_DIR --label-field F "
                f"--out {path}/hypotheses`.")
        return
    table, m = read_hypotheses(folder)
    st.write(f"{m.get('n_significant', 0)} of {m.get('n_tested', 0)} tested latents significant at FDR "
             f"{m.get('fdr')} (Benjamini-Hochberg, held-out rows).")
    for line in heldout_lines(m):
        st.write(line)
    only = st.checkbox("significant only", value=False, key="hyp-significant")
    shown = table[table["significant"]] if only and "significant" in table.columns else table
    st.dataframe(shown, hide_index=True, key="hypotheses-table")
    if len(shown):
        fig = go.Figure(go.Scatter(
            x=shown["effect"], y=[f"#{int(x)}" for x in shown["latent"]], mode="markers",
            error_x={"type": "data", "symmetric": False, "array": shown["ci_high"] - shown["effect"],
                     "arrayminus": shown["effect"] - shown["ci_low"]},
            text=shown["explanation"], hovertemplate="%{y}: %{x:.3f}<br>%{text}<extra></extra>"))
        fig.update_layout(height=max(300, 22 * len(shown)), xaxis_title="effect (held-out correlation, 95% CI)",
                          yaxis={"autorange": "reversed"}, margin={"l": 60, "r": 10, "t": 10, "b": 40})
        st.plotly_chart(fig, key="hyp-effects")
