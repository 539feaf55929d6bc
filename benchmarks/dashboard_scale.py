"""Benchmark: first render of every dashboard page, and the report, on a run folder.

Not a test (pytest does not collect it). Like one `saescope dashboard` server visited page after
page: one Python process, Streamlit warmed up first (its start-up scan of installed components,
which a server does before the first request), then each page rendered through Streamlit's
AppTest for the first time (its data cold; what earlier pages loaded, such as the run's tables,
stays cached, as in a real session) and once more (cached). The first page also pays the
imports (plotly); the dashboard loads the SAE and the sentence model in a background thread
from the first page on, and the benchmark waits for it after the first page (the reader's
time on it) and prints how long that took. The goal of issue 12 is a first render under 5 s for every page of the
demo run. Usage:

    python benchmarks/dashboard_scale.py --run runs/demo-quick          # an existing run folder
    python benchmarks/dashboard_scale.py [--rows 100000] [--latents 16384] [--dir DIR]  # synthetic
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

APP = str(Path(__file__).resolve().parents[1] / "src" / "saescope" / "dashboard" / "app.py")


def make_run(root: Path, rows: int, latents: int, d: int = 384, seed: int = 0) -> None:
    """Synthetic but well-formed run folder: clustered unit vectors, an (untrained) TopK SAE,
    latent tables, examples and a curation of 10,000 rows."""
    import torch

    from saescope.data.shards import vectors_to_arrow
    from saescope.io import write_json
    from saescope.sae import SAEConfig, SparseAutoencoder

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, d)).astype(np.float32)
    lab = rng.integers(0, 20, rows)
    X = centers[lab] + 0.5 * rng.standard_normal((rows, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ids = [f"r{i}" for i in range(rows)]
    (root / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": ids, "embedding": vectors_to_arrow(X),
                             "text": [f"text of row {i} about topic {t}" for i, t in enumerate(lab)],
                             "domain": [f"topic {t}" for t in lab]}), root / "data" / "embeddings.parquet")
    sae = SparseAutoencoder(SAEConfig(arch="topk", k=32, num_latents=latents), d_in=d,
                            generator=torch.Generator().manual_seed(seed))
    sae.save(root / "sae")
    steps = np.arange(0, 10000, 50)
    (root / "sae" / "train_log.jsonl").write_text("".join(
        f'{{"step": {s}, "samples": {s * 1024}, "loss": {1 / (1 + s / 500):.4f}, "fvu": {1 / (1 + s / 500):.4f}, '
        f'"l0": 32, "dead_fraction": {0.3 * np.exp(-s / 2000):.4f}, "lr": 0.0002}}\n' for s in steps))
    write_json(root / "sae" / "metrics.json", {"fvu": 0.05, "l0": 32, "dead_fraction": 0.0})
    freq = rng.beta(0.5, 200, latents)
    pq.write_table(pa.table({"latent": np.arange(latents), "frequency": freq,
                             "mean_activation": rng.random(latents)}), root / "sae" / "latent_stats.parquet")
    score = rng.random(latents)
    lat = pd.DataFrame({
        "latent": np.arange(latents, dtype=np.int32), "density": freq,
        "n_fires": (freq * rows).astype(np.int64), "status": "ok",
        "explanation": [f"keyword{i % 997}, topic {i % 20}" for i in range(latents)],
        "explainer": "keywords", "top_ids": [[ids[j] for j in rng.integers(0, rows, 5)] for _ in range(latents)],
        "top_acts": [rng.random(5).astype(np.float32) for _ in range(latents)],
        "embedding": score, "embedding_lo": score - 0.05, "embedding_hi": score + 0.05,
        "embedding_baseline": 0.5, "family": (np.arange(latents) // 8 * 8).astype(np.int32),
        "similar_latents": [rng.integers(0, latents, 5).astype(np.int32) for _ in range(latents)]})
    (root / "interpret").mkdir()
    pq.write_table(pa.Table.from_pandas(lat), root / "interpret" / "latents.parquet")
    n_ex = 20
    ex_rows = rng.integers(0, rows, latents * n_ex)
    pq.write_table(pa.table({
        "latent": np.repeat(np.arange(latents), n_ex), "id": [ids[j] for j in ex_rows],
        "text": [f"text of row {j}" for j in ex_rows], "activation": rng.random(latents * n_ex).astype(np.float32),
        "kind": np.tile(["top"] * 10 + ["quantile"] * 5 + ["random_negative"] * 5, latents),
        "split": np.tile(["explain", "test"], latents * n_ex // 2)}), root / "interpret" / "examples.parquet")
    write_json(root / "interpret" / "summary.json", {"scores": {"embedding": {"mean": 0.5, "ci": [0.49, 0.51], "baseline_mean": 0.5}}, "counts": {}})
    (root / "curate").mkdir()
    sel = rng.choice(rows, 10000, replace=False)
    pq.write_table(pa.table({"id": [ids[j] for j in sel], "score": rng.random(10000),
                             "rank": np.arange(1, 10001)}), root / "curate" / "selected.parquet")
    proj = rng.choice(rows, 5000, replace=False)
    pq.write_table(pa.table({"id": [ids[j] for j in proj], "role": np.where(np.arange(5000) < 100, "seed", "pool"),
                             "label": [f"topic {lab[j]}" for j in proj], "x": rng.standard_normal(5000),
                             "y": rng.standard_normal(5000)}), root / "curate" / "projection.parquet")
    write_json(root / "curate" / "manifest.json", {"config": {"space": "sae"}, "metrics": {"avg_similarity": 0.3, "diversity": 0.7},
                                                   "baselines": {"embedding": {"avg_similarity": 0.28, "diversity": 0.6}}})


PAGES = {
    "Overview": {},
    "Embedding space": {},
    "Features": {},
    "Features (?latent=N)": {"latent": "first"},
    "Try your text": {},
    "Try your text (answer)": {"text": "Which planet is closest to the sun?"},
    "Curation": {},
}


def _first_latent(root: Path) -> str:
    import pyarrow.parquet as pq

    return str(pq.read_table(root / "interpret" / "latents.parquet", columns=["latent"])["latent"][0])


def render_page(root: Path, page: str) -> tuple[float, float]:
    """(first, cached) seconds of one page in this process: a render of the page, or, for a
    page with a text, the answer to it (the page itself rendered untimed first)."""
    from streamlit.testing.v1 import AppTest

    os.environ["SAESCOPE_RUN_DIR"] = str(root)
    opts = PAGES[page]
    times = []
    for _ in range(2):
        at = AppTest.from_file(APP, default_timeout=900)
        at.query_params["page"] = page.split(" (")[0]
        if opts.get("latent"):
            at.query_params["latent"] = _first_latent(root)
        if opts.get("text"):
            at.run()
        t = time.perf_counter()
        if opts.get("text"):  # loads the sentence model the first time
            at.text_area(key="try-text").input(opts["text"]).run()
        else:
            at.run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    return times[0], times[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--latents", type=int, default=16_384)
    ap.add_argument("--dir", type=Path, default=None, help="Synthetic run folder (built if absent).")
    ap.add_argument("--run", type=Path, default=None, help="Measure an existing run folder instead.")
    ap.add_argument("--no-report", action="store_true", help="Skip timing the report.")
    args = ap.parse_args()
    root = args.run
    if root is None:
        root = args.dir or Path(tempfile.mkdtemp()) / "run"
        if not (root / "interpret").exists():
            t = time.perf_counter()
            make_run(root, args.rows, args.latents)
            print(f"built run folder {root} in {time.perf_counter() - t:.1f} s")
        print(f"{args.rows:,} rows x {args.latents:,} latents (synthetic)")
    else:
        print(f"run folder {root}")
    from streamlit.testing.v1 import AppTest

    t = time.perf_counter()
    AppTest.from_string("import streamlit as st\nst.write('warm-up')").run()
    print(f"Streamlit warm-up (server start) {time.perf_counter() - t:.1f} s")
    for i, page in enumerate(PAGES):
        first, cached = render_page(root, page)
        print(f"{page:22s} first {first:6.1f} s   cached {cached:5.2f} s")
        if i == 0:  # the reader is on the first page while the server warms up (state.warm_up)
            t = time.perf_counter()
            for th in threading.enumerate():
                if th.name == "saescope-warm-up":
                    th.join()
            print(f"  (background warm-up: SAE and sentence model loaded "
                  f"{time.perf_counter() - t:.1f} s after the first page)")
    if args.no_report:
        return
    from saescope.viz.plots import PlotConfig
    from saescope.viz.report import write_report

    t = time.perf_counter()
    out = write_report(root, root / "report.bench.html", PlotConfig(interactive=False))
    print(f"report (projections cached after the first) {time.perf_counter() - t:6.1f} s   "
          f"{out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
