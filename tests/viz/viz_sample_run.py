"""A small real run folder (MMLU questions, MiniLM, a trained SAE) for the viz and dashboard tests.

`build_sample_run(out)` runs the real stages through their Python APIs, nothing stood in:
embeds a few hundred MMLU questions with all-MiniLM-L6-v2, trains a small TopK SAE with
`saescope.sae.train_sae`, explains and scores its latents with `saescope.interpret.interpret_vectors`
(keywords + embedding scorer, offline) and curates the STEM questions with
`saescope.curate.run_curate` (SAE space, embedding and random baselines). A test fixture, so it
lives under tests/ (it was `saescope.viz.sample_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from saescope.io import atomic_path, write_json
from saescope.run_layout import RunLayout


def _write_parquet(df: pd.DataFrame | pa.Table, path: Path) -> None:
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def build_data(lay: RunLayout, n_per_domain: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import Embedder
    from saescope.data.shards import vectors_to_arrow

    mmlu = load_mmlu().to_pandas()
    rng = np.random.default_rng(seed)
    parts = []
    for _, g in mmlu.groupby("domain", sort=True):
        parts.append(g.iloc[np.sort(rng.choice(len(g), size=min(n_per_domain, len(g)), replace=False))])
    meta = pd.concat(parts).reset_index(drop=True)
    meta["split"] = np.where(rng.random(len(meta)) < 0.8, "train", "val")
    X = Embedder("minilm", device="cpu").encode(meta["text"].tolist())
    table = pa.table({"id": meta["id"].astype(str), "embedding": vectors_to_arrow(X),
                      "text": meta["text"], "subject": meta["subject"], "domain": meta["domain"],
                      "split": meta["split"]})
    _write_parquet(table, lay.data)
    return X, meta


def build_sae(lay: RunLayout, X: np.ndarray, meta: pd.DataFrame, num_latents: int, k: int,
              steps: int, seed: int) -> Any:
    from saescope.sae import SAEConfig, TrainConfig, train_sae

    train = X[(meta["split"] == "train").to_numpy()]
    val = X[(meta["split"] == "val").to_numpy()]
    cfg = TrainConfig(sae=SAEConfig(arch="topk", k=k, num_latents=num_latents), batch_size=64,
                      steps=steps, log_every=max(1, steps // 20), checkpoint_every=0, seed=seed,
                      device="cpu", lr=2e-3)
    return train_sae(train, cfg, val_data=val, out_dir=lay.sae, progress=False).sae


def build_interpret(lay: RunLayout, sae: Any, X: np.ndarray, meta: pd.DataFrame, seed: int) -> None:
    """The real `saescope interpret` stage: keywords explainer, embedding scorer (offline)."""
    from saescope.interpret import interpret_vectors
    from saescope.interpret.pipeline import InterpretConfig

    interpret_vectors(sae, X, meta["id"].astype(str).tolist(), meta["text"].tolist(), lay.interpret,
                  InterpretConfig(seed=seed, device="cpu"), progress=False)


def build_curate(lay: RunLayout, meta_path: Path, target: str, n_seeds: int, budget: int,
                 seed: int) -> None:
    """The real `saescope curate` stage: seeds from the target domain, the rest as the pool."""
    from saescope.curate.config import CurateConfig
    from saescope.curate.pipeline import run_curate

    table = pq.read_table(meta_path)
    dom = table["domain"].to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(seed)
    is_seed = np.zeros(len(dom), dtype=bool)
    is_seed[rng.choice(np.flatnonzero(dom == target), size=n_seeds, replace=False)] = True
    inputs = lay.root / "data"
    _write_parquet(table.filter(pa.array(is_seed)), inputs / "seeds.parquet")
    _write_parquet(table.filter(pa.array(~is_seed)), inputs / "pool.parquet")
    run_curate(CurateConfig(seeds=str(inputs / "seeds.parquet"), pool=str(inputs / "pool.parquet"),
                            out=str(lay.curate), budget=budget, sae=str(lay.sae), space="sae", clusters=4,
                            label_field="domain", target=[target],
                            baselines=["embedding", "random"], device="cpu", seed=seed),
               progress=False)


def build_sample_run(out: str | Path, n_per_domain: int = 60, num_latents: int = 64, k: int = 8,
                     steps: int = 300, seed: int = 0) -> Path:
    """Write a complete small run folder under `out` and return its path."""
    import torch

    torch.manual_seed(seed)
    lay = RunLayout.paths(out)
    X, meta = build_data(lay, n_per_domain, seed)
    sae = build_sae(lay, X, meta, num_latents, k, steps, seed)
    build_interpret(lay, sae, X, meta, seed)
    build_curate(lay, lay.data, "STEM", 20, 40, seed)
    write_json(Path(out) / "run.json", {"command": "tests/viz/viz_sample_run.py build_sample_run",
                                        "config": {"n_per_domain": n_per_domain, "num_latents": num_latents,
                                                   "k": k, "steps": steps, "seed": seed}})
    return Path(out)


def ensure_sample_run(out: str | Path, **kwargs: Any) -> Path:
    """`build_sample_run(out)` unless `out` already holds a finished one (run.json is written last)."""
    out = Path(out)
    if (out / "run.json").is_file():
        return out
    return build_sample_run(out, **kwargs)
