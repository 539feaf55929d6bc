"""Try your text page: embed a text with MiniLM, encode it with the SAE, list its latents."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from saescope.dashboard import state
from saescope.dashboard.widgets import latent_table, missing_box


def page_try(spec: str) -> None:
    run = state.get_run(spec)
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

    emb = state.embedder()
    if emb.dim != sae.d_in:
        st.error(f"The SAE expects {sae.d_in}-d inputs but MiniLM gives {emb.dim}-d vectors: this "
                 "run was not trained on MiniLM sentence embeddings.")
        return
    with torch.no_grad():
        out = sae.encode(torch.from_numpy(emb.encode([text])))
    acts, idx = out.top_acts[0].numpy(), out.top_indices[0].numpy()
    keep = acts > 0
    res = pd.DataFrame({"latent": idx[keep], "activation": acts[keep]}).sort_values(
        "activation", ascending=False)
    table = state.latent_frame(spec)
    if table is not None:
        cols = [c for c in ("latent", "explanation", "status", "density") if c in table.columns]
        res = res.merge(table[cols], on="latent", how="left")
    st.write(f"{len(res)} active latents (click one to open its page)")
    latent_table(res, "try-latents")
