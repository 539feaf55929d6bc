"""The dashboard's "Hypotheses" page: latents that predict a label, with intervals and q-values."""

from __future__ import annotations

import streamlit as st

from saescope.dashboard.widgets import latent_table
from saescope.safetext import markdown_text
from saescope.viz.hypotheses_section import (
    display_table,
    forest_figure,
    heldout_lines,
    hypotheses_dir,
    read_hypotheses,
)


def page_hypotheses(path: str) -> None:
    st.header("Hypotheses")
    folder = hypotheses_dir(path)
    if folder is None:
        st.info("No hypotheses in this run: run `saescope hypotheses VECTORS --sae SAE_DIR --label-field F "
                f"--out` {markdown_text(path)}/hypotheses, or start the dashboard with `--hypotheses DIR`.")
        return
    table, m = read_hypotheses(folder)
    st.write(f"{m.get('n_significant', 0)} of {m.get('n_tested', 0)} tested latents significant at FDR "
             f"{markdown_text(m.get('fdr'))} (Benjamini-Hochberg, held-out rows).")
    for line in heldout_lines(m):
        st.write(markdown_text(line))
    only = st.checkbox("significant only", value=False, key="hyp-significant")
    shown = table[table["significant"]] if only and "significant" in table.columns else table
    # "page": each latent's feature page (the latent column stays the bare id)
    latent_table(display_table(shown).assign(page=shown["latent"]), "hypotheses-table", columns=("page",))
    if len(shown):
        st.plotly_chart(forest_figure(shown), key="hyp-effects")
