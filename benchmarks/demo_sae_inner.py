"""The demo's SAE stage on an inner split of the demo's SAE training rows, for choosing defaults.

Replays `saescope.demo._make_data`'s sampling and split (DemoConfig defaults: 10,000 MMLU
questions stratified by subject, 50 seeds, 10% validation) on the cached MiniLM vectors of all
MMLU questions (benchmarks/curate_mmlu.py's cache, joined on `id`), keeps the demo's SAE
training rows, holds out `holdout_rows(n, 0.1, seed 0)` of them and trains as the demo trains:
`train_sae(X_inner_train, demo._sae_config(run), val_data=X_inner_val)`. The demo's own
validation rows are never loaded. Prints validation FVU, L0, dead fraction, steps, train FVU.

    python benchmarks/demo_sae_inner.py [--init-encoder-scale S] [--auxk-alpha A]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from saescope import demo
from saescope.curate.evaluate import seed_pool_split
from saescope.data.builtin import load_mmlu
from saescope.data.models import default_cache_dir
from saescope.data.splits import holdout_rows
from saescope.sae import train_sae


def demo_train_rows(cfg: demo.DemoConfig) -> np.ndarray:
    """The demo's SAE training rows (split == "train"), as MiniLM vectors from the cache."""
    table = load_mmlu()
    rng = np.random.default_rng(cfg.seed)
    subjects = np.asarray(table["subject"].to_pylist())
    keep: list[int] = []
    frac = cfg.rows / table.num_rows
    for s in np.unique(subjects):
        rows = np.flatnonzero(subjects == s)
        n = max(1, int(round(len(rows) * frac)))
        keep.extend(rng.choice(rows, size=min(n, len(rows)), replace=False).tolist())
    table = table.take(pa.array(sorted(keep)))
    is_target = np.asarray(table["domain"].to_pylist()) == cfg.domain
    split = np.full(table.num_rows, "train", dtype=object)
    seeds, _ = seed_pool_split(is_target, cfg.n_seeds, rng)
    split[seeds] = "seed"
    rest = np.flatnonzero(split == "train")
    split[rng.choice(rest, size=int(round(len(rest) * cfg.val_fraction)), replace=False)] = "val"
    cache = pq.read_table(default_cache_dir() / "bench" / "mmlu_minilm.parquet")
    pos = {i: j for j, i in enumerate(cache["id"].to_pylist())}
    E = np.stack(cache["embedding"].to_numpy(zero_copy_only=False)).astype(np.float32)
    X = E[[pos[i] for i in table["id"].to_pylist()]]
    return X[split == "train"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init-encoder-scale", type=float, default=None)
    ap.add_argument("--auxk-alpha", type=float, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = demo.DemoConfig()
    X = demo_train_rows(cfg)
    itr, iva = holdout_rows(len(X), 0.1, 0)
    run = argparse.Namespace(cfg=cfg)  # demo._sae_config reads run.cfg only
    tc = demo._sae_config(run)
    tc.device = "cpu"
    if args.init_encoder_scale is not None:
        tc.sae.init_encoder_scale = args.init_encoder_scale
    if args.auxk_alpha is not None:
        tc.sae.options["auxk_alpha"] = args.auxk_alpha
    print(f"demo SAE rows {len(X)}: inner train {len(itr)}, inner val {len(iva)}; "
          f"init_encoder_scale {tc.sae.init_encoder_scale}, options {tc.sae.options}")
    t0 = time.perf_counter()
    res = train_sae(X[itr], tc, val_data=X[iva], progress=False)
    m = res.metrics
    with torch.no_grad():
        train_fvu = float(res.sae(torch.from_numpy(X[itr])).fvu)
    print(json.dumps({**{k: m.get(k) for k in ("fvu", "l0", "dead_fraction", "steps", "best_step",
                                                 "stop_reason", "batch_size", "lr")},
                      "train_fvu": train_fvu, "seconds": round(time.perf_counter() - t0)}))


if __name__ == "__main__":
    main()
