"""Cached loads shared by the dashboard pages (one Streamlit cache per run).

Large read-only results use `st.cache_resource` (one shared object, no copy per rerun; callers
never modify them), small ones `st.cache_data`. Every function takes the run's `spec` (a JSON string naming the run folder and any stage
outputs given one by one, see `run_spec`) so caches are per run and survive reruns.
"""

from __future__ import annotations

import json
import os
import sys
import threading

import numpy as np
import pandas as pd
import scipy.sparse as sp
import streamlit as st

from saescope.linalg import unit_rows
from saescope.run_layout import RunLayout
from saescope.viz import analysis
from saescope.viz.projection_cache import cached_project_2d
from saescope.viz.rundata import RunData

CODE_SAMPLE = 5000  # rows encoded for latent histograms and co-activation (16,000 latents: ~3 s once)
PARTS = ("data", "sae", "interpret", "curate", "hypotheses", "also_interpret")


def run_spec() -> str:
    """The run this dashboard shows: SAESCOPE_RUN_DIR (or the first argument after `--`) and
    the stage outputs in SAESCOPE_RUN_PARTS (JSON: data, sae, interpret, curate, hypotheses)."""
    if "SAESCOPE_RUN_DIR" in os.environ:  # set by the launcher (empty: stage outputs only)
        root = os.environ["SAESCOPE_RUN_DIR"]
    else:
        root = sys.argv[1] if len(sys.argv) > 1 else ""
    parts = json.loads(os.environ.get("SAESCOPE_RUN_PARTS") or "{}")
    if not root and not parts:
        st.error("No run folder given: start with `saescope dashboard RUN_DIR` "
                 "(or --data/--sae/--interpret/--curate).")
        st.stop()
    parts = {k: parts.get(k) for k in PARTS}
    parts["also_interpret"] = list(parts["also_interpret"] or [])
    return json.dumps({"root": root or None, **parts}, sort_keys=True)


@st.cache_resource(show_spinner=False)
def get_run(spec: str) -> RunData:
    d = json.loads(spec)
    return RunData(RunLayout.from_parts(d.pop("root"), **d))


@st.cache_resource(show_spinner="Sampling rows…")
def data_sample(spec: str, n: int, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame, int]:
    """(X of a random sample of at most n rows, its metadata with the data `row`, total rows)."""
    X, meta = get_run(spec).data()
    idx = analysis.sample_rows(len(X), n, seed)
    sub = meta.iloc[idx].reset_index(drop=True)
    sub.insert(0, "row", idx)
    return X[idx], sub, len(X)


def map_positions(n: int, map_n: int) -> np.ndarray:
    """Positions, within the n-row sample, of the rows drawn on the 2-D map: coordinates,
    labels, norms and clusters of a map point all come from this one row."""
    return analysis.sample_rows(n, map_n, seed=1)


@st.cache_data(show_spinner="PCA…")
def pca_stats(spec: str, n: int) -> tuple[np.ndarray, int]:
    X, _, _ = data_sample(spec, n)
    return analysis.pca_spectrum(X, max_components=100)


@st.cache_data(show_spinner="Projecting to 2-D…")
def projection_2d(spec: str, n: int, map_n: int, method: str) -> tuple[np.ndarray, str]:
    X, _, _ = data_sample(spec, n)
    return cached_project_2d(X[map_positions(n, map_n)], method,  # type: ignore[arg-type]
                             get_run(spec).layout.cache, metric="cosine")


@st.cache_data(show_spinner="k-means…")
def clusters(spec: str, n: int, k: int) -> np.ndarray:
    X, _, _ = data_sample(spec, n)
    return analysis.kmeans_labels(X, k)


@st.cache_data(show_spinner="Pairwise similarities…")
def pair_stats(spec: str, n: int) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    X, _, _ = data_sample(spec, n)
    return analysis.pairwise_cosines(X), analysis.most_similar_pairs(X, 20)


@st.cache_resource(show_spinner=False)
def latent_frame(spec: str) -> pd.DataFrame | None:
    from saescope.viz.report import primary_order

    run = get_run(spec)
    table = run.latent_table()
    return None if table is None else primary_order(run, table).reset_index(drop=True)


@st.cache_resource(show_spinner=False)
def explanations(spec: str) -> dict[int, str]:
    table = latent_frame(spec)
    if table is None or "explanation" not in table.columns:
        return {}
    return {int(m): ("" if pd.isna(e) else str(e)) for m, e in zip(table["latent"], table["explanation"],
                                                                     strict=True)}


@st.cache_resource(show_spinner="Encoding a sample with the SAE…")
def code_sample(spec: str, n: int = CODE_SAMPLE) -> sp.csr_matrix | None:
    """SAE codes of a data sample (CSR [rows, latents]); None without data and SAE."""
    run = get_run(spec)
    if run.layout.data is None or run.layout.sae is None:
        return None
    X, _ = run.data()
    return run.codes(analysis.sample_rows(len(X), n)).tocsr()


@st.cache_resource(show_spinner=False)
def decoder_unit(spec: str) -> np.ndarray | None:
    W = get_run(spec).decoder()
    return None if W is None else unit_rows(W)


@st.cache_resource(show_spinner=False)
def examples_of(spec: str) -> dict[int, pd.DataFrame]:
    """examples.parquet split by latent once, so a latent page is a lookup."""
    ex = get_run(spec).examples()
    return {} if ex is None else {int(m): g for m, g in ex.groupby("latent", sort=False)}


@st.cache_resource(show_spinner="Loading the sentence model…")
def embedder():
    from saescope.data.embed import Embedder

    return Embedder("minilm", device="cpu")


DECODER_MAP_POINTS = 1500  # = PlotConfig.max_points: the same sample as `saescope plot`/`report`


@st.cache_data(show_spinner="Decoder map…")
def decoder_map(spec: str, compute: str | None = None) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(latent ids, 2-D coordinates, method) of the decoder map that `plot`/`report` drew and
    cached (the same sample, seed and key); PCA when none was cached, or `compute` on request."""
    from saescope.viz.projection_cache import read_cached

    W = get_run(spec).decoder()
    if W is None:
        return None
    idx = analysis.sample_rows(len(W), DECODER_MAP_POINTS, 0)
    cache = get_run(spec).layout.cache
    if compute:
        coords, used = cached_project_2d(W[idx], compute, cache)  # type: ignore[arg-type]
        return idx, coords, used
    for method in ("auto", "umap", "tsne", "pca"):
        hit = read_cached(W[idx], method, cache)
        if hit is not None:
            return idx, hit[0], hit[1]
    coords, used = cached_project_2d(W[idx], "pca", cache)
    return idx, coords, used


_WARMING = threading.Event()


def warm_up(spec: str) -> None:
    """Once per server: import torch and load the SAE and the sentence model in a background
    thread, so the first page that needs them (Features, Try your text) does not wait for them
    while the reader is still on the first page. Loads go through the same caches."""
    if _WARMING.is_set():
        return
    _WARMING.set()

    def work() -> None:
        try:
            run = get_run(spec)
            if run.layout.sae is not None:
                sae = run.sae()
                if sae is not None and sae.d_in == 384:  # MiniLM's dimension: "Try your text" works
                    embedder()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs time; pages report errors
            pass

    threading.Thread(target=work, name="saescope-warm-up", daemon=True).start()
