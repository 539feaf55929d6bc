"""Approximate against exact neighbours of `embedding-graph` on the MMLU benchmark, texts on.

For each target (the 10 tuning subjects of `curate_mmlu.TUNE_SUBJECTS` with `--tuning`, else the
10 reported subjects), 50 seeds per draw, `saescope.curate.evaluate.precision_over_draws` (the
CLI's seed-duplicate rule) runs the default space with `GraphConfig(index="exact")` and with
`index="approx"` at each parameter setting of `--grid`; it prints precision@100 / @500 per
setting averaged over the cells, the gap to exact, and the seconds per cell. Parameters are chosen
on `--tuning` and reported on the other subjects.

    python benchmarks/curate_approx_mmlu.py --tuning --draws 1 --max-targets 5 \\
        --grid "ef_search=32,text_query_terms=8;ef_search=21,text_query_terms=4"
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def settings(grid: str) -> list[dict[str, int]]:
    """`a=1,b=2;a=3` -> [{a: 1, b: 2}, {a: 3}] (GraphConfig fields)."""
    out = []
    for part in grid.split(";"):
        kv = [p.split("=") for p in part.split(",") if p.strip()]
        out.append({k.strip(): int(v) for k, v in kv})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tuning", action="store_true", help="the tuning subjects (else the reported ones)")
    ap.add_argument("--max-targets", type=int, default=10)
    ap.add_argument("--draws", type=int, default=1)
    ap.add_argument("--grid", default="", help="approx settings: `field=v,...;field=v,...` ('' = the defaults)")
    ap.add_argument("--no-exact", action="store_true", help="skip the exact reference")
    args = ap.parse_args()

    import torch
    from curate_mmlu import BUDGETS, SUBJECTS, TUNE_SUBJECTS, embeddings
    from threadpoolctl import threadpool_limits

    from saescope.curate.evaluate import precision_over_draws
    from saescope.curate.spaces import GraphConfig
    from saescope.data.models import default_cache_dir

    torch.set_num_threads(1)
    threadpool_limits(1)
    X, ids, subject, _, texts = embeddings(default_cache_dir() / "bench" / "mmlu_minilm.parquet")
    subjects = (TUNE_SUBJECTS if args.tuning else SUBJECTS)[: args.max_targets]
    variants = ([("exact", {})] if not args.no_exact else []) + [
        ("approx " + ",".join(f"{k}={v}" for k, v in s.items()), {"index": "approx", **s})
        for s in settings(args.grid)]
    res: dict[str, dict[int, list[float]]] = {name: {b: [] for b in BUDGETS} for name, _ in variants}
    secs: dict[str, list[float]] = {name: [] for name, _ in variants}
    for s in subjects:
        line = []
        for name, params in variants:
            r = precision_over_draws(X, ids, subject == s, ["embedding-graph"], BUDGETS, args.draws, 50,
                                     texts=texts, graph=GraphConfig(**params))
            for b in BUDGETS:
                res[name][b] += r.precision["embedding-graph"][b]
            secs[name] += r.seconds["embedding-graph"]
            line.append(f"{np.mean(r.precision['embedding-graph'][100]):.2f}")
        print(f"  {s:32s} p@100 " + " / ".join(line) + f"  (load {os.getloadavg()[0]:.1f})", flush=True)
    which = "tuning" if args.tuning else "reported (held-out)"
    print(f"\n{len(subjects)} {which} subjects x {args.draws} draw(s), 50 seeds, texts on, one thread; "
          f"{time.strftime('%H:%M')} load {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| variant | p@100 | p@500 | p@100 - exact | p@500 - exact | s a cell |")
    print("| --- | --- | --- | --- | --- | --- |")
    ref = {b: np.mean(res["exact"][b]) for b in BUDGETS} if "exact" in res else None
    for name, _ in variants:
        p = {b: np.mean(res[name][b]) for b in BUDGETS}
        gap = [f"{p[b] - ref[b]:+.3f}" if ref else "" for b in BUDGETS]
        print(f"| {name} | {p[100]:.3f} | {p[500]:.3f} | {gap[0]} | {gap[1]} | {np.mean(secs[name]):.1f} |")


if __name__ == "__main__":
    main()
