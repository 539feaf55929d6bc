"""Approximate against exact neighbours of `embedding-graph` on the MMLU benchmark, texts on.

Targets: the 10 tuning subjects of `curate_mmlu.TUNE_SUBJECTS` with `--tuning`; else the 10
reported subjects, and with `--all` the benchmark's 14 reported targets (MMLU's 4 domains and
the 10 subjects, as `curate_mmlu.py` reports them). 50 seeds per draw; draw `r` is `curate_mmlu`'s
draw `r` (`precision_over_draws(..., first_draw=r)`: same seeds, same fit seed, same tie-break).
Each cell (target, draw) runs the default space with `GraphConfig(index="exact")` (the
reference) and with `index="approx"` at each setting of `--grid`, in the same process, draws
outermost (a run cut short holds whole draws). It prints precision@100 / @500 per setting
averaged over the cells, the gap to exact with a paired 95% t-interval over the cells and over
the draws (each draw's mean over the targets), and the wall and CPU seconds per cell
(`time.process_time`, one thread). `--out` keeps every cell as it is measured (JSON lines), and
`--from-json` prints the tables of such a file (also of a run cut short). Parameters are chosen
on `--tuning` and reported on the other targets.

    python benchmarks/curate_approx_mmlu.py --tuning --draws 1 --max-targets 5 \\
        --grid "ef_search=32,text_query_terms=8;ef_search=21,text_query_terms=4"
    python benchmarks/curate_approx_mmlu.py --all --draws 5 --out approx14x5.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

BUDGETS = (100, 500)


def settings(grid: str) -> list[dict[str, int]]:
    """`a=1,b=2;a=3` -> [{a: 1, b: 2}, {a: 3}] (GraphConfig fields)."""
    out = []
    for part in grid.split(";"):
        kv = [p.split("=") for p in part.split(",") if p.strip()]
        out.append({k.strip(): int(v) for k, v in kv})
    return out


def _approx_defaults() -> dict[str, int]:
    """The approximate search's GraphConfig defaults, named in each variant (defaults change)."""
    from saescope.curate.spaces import GraphConfig

    g = GraphConfig()
    return {k: getattr(g, k) for k in ("ef_search", "text_shortlist", "text_query_terms", "fit_shortlist",
                                       "fit_query_terms")}


def run(args: argparse.Namespace) -> list[dict]:
    """Every cell as a dict {target, draw, variant, p100, p500, wall, cpu}, appended to `--out`."""
    import torch
    from curate_mmlu import SUBJECTS, TUNE_SUBJECTS, embeddings
    from threadpoolctl import threadpool_limits

    from saescope.curate.evaluate import precision_over_draws
    from saescope.curate.spaces import GraphConfig
    from saescope.data.builtin import MMLU_DOMAINS
    from saescope.data.models import default_cache_dir

    torch.set_num_threads(1)
    threadpool_limits(1)
    X, ids, subject, domain, texts = embeddings(default_cache_dir() / "bench" / "mmlu_minilm.parquet")
    if args.tuning:
        targets = {f"tuning subject: {s}": subject == s for s in TUNE_SUBJECTS[: args.max_targets]}
    else:
        targets = {f"subject: {s}": subject == s for s in SUBJECTS[: args.max_targets]}
        if args.all:
            targets = {**{f"domain: {d}": domain == d for d in MMLU_DOMAINS}, **targets}
    variants = ([("exact", {})] if not args.no_exact else []) + [
        ("approx " + ",".join(f"{k}={v}" for k, v in {**_approx_defaults(), **s}.items()), {"index": "approx", **s})
        for s in settings(args.grid)]
    cells = []
    for r in range(args.first_draw, args.first_draw + args.draws):
        for key, is_t in targets.items():
            line = []
            for name, params in variants:
                w0, c0 = time.perf_counter(), time.process_time()
                res = precision_over_draws(X, ids, is_t, ["embedding-graph"], BUDGETS, 1, 50, texts=texts,
                                           graph=GraphConfig(**params), first_draw=r)
                p = res.precision["embedding-graph"]
                cell = {"target": key, "draw": r, "variant": name, "p100": p[100][0], "p500": p[500][0],
                        "wall": time.perf_counter() - w0, "cpu": time.process_time() - c0,
                        "load": os.getloadavg()[0]}
                cells.append(cell)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(cell) + "\n")
                line.append(f"{cell['p100']:.2f}/{cell['p500']:.3f} ({cell['cpu']:.0f} s cpu)")
            print(f"  draw {r} {key:40s} " + "  ".join(line) + f"  load {os.getloadavg()[0]:.1f}", flush=True)
    return cells


def t_interval(v: np.ndarray) -> tuple[float, float]:
    """(mean, half-width of the 95% t-interval) of `v` (nan with fewer than 2 values)."""
    from scipy import stats

    if len(v) < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def report(cells: list[dict]) -> None:
    """Mean precision per variant, the paired gap to exact (95% t over cells and over draws), and
    the per-cell differences."""
    names = sorted(dict.fromkeys(c["variant"] for c in cells), key=lambda n: n != "exact")  # exact first
    by = {(c["variant"], c["target"], c["draw"]): c for c in cells}
    keys = sorted({(c["target"], c["draw"]) for c in cells if all((n, c["target"], c["draw"]) in by
                                                                    for n in names)},
                  key=lambda td: (td[1], td[0]))
    draws = sorted({d for _, d in keys})
    n_t = len({t for t, _ in keys})
    print(f"\n{n_t} targets x draws {draws} ({len(keys)} complete cells), 50 seeds, texts on, one thread\n")
    print("| variant | p@100 | p@500 | p@100 - exact (95% t, cells / draws) | p@500 - exact (95% t, cells / draws)"
          " | s a cell, wall / CPU |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in names:
        p = {b: np.array([by[(n, t, d)][f"p{b}"] for t, d in keys]) for b in BUDGETS}
        gaps = []
        for b in BUDGETS:
            if n == "exact" or "exact" not in names:
                gaps.append("")
                continue
            diff = p[b] - np.array([by[("exact", t, d)][f"p{b}"] for t, d in keys])
            m, h = t_interval(diff)
            per_draw = np.array([diff[[i for i, (_, d2) in enumerate(keys) if d2 == d]].mean() for d in draws])
            _, hd = t_interval(per_draw)
            gaps.append(f"{m:+.4f} ± {h:.4f} / ± {hd:.4f}")
        wall = np.mean([by[(n, t, d)]["wall"] for t, d in keys])
        cpu = np.mean([by[(n, t, d)]["cpu"] for t, d in keys])
        print(f"| {n} | {p[100].mean():.4f} | {p[500].mean():.4f} | {gaps[0]} | {gaps[1]} | {wall:.1f} / {cpu:.1f} |")
    if "exact" not in names:
        return
    print("\nper cell, approx - exact (p@100, p@500):\n")
    for n in names:
        if n == "exact":
            continue
        print(f"{n}:")
        for t, d in keys:
            a, e = by[(n, t, d)], by[("exact", t, d)]
            print(f"  draw {d} {t:40s} {a['p100'] - e['p100']:+.3f} {a['p500'] - e['p500']:+.3f}"
                  f"   (exact {e['p100']:.2f} / {e['p500']:.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tuning", action="store_true", help="the tuning subjects (else the reported ones)")
    ap.add_argument("--all", action="store_true", help="with the reported subjects: also the 4 domains (14 targets)")
    ap.add_argument("--max-targets", type=int, default=10, help="subjects (the first N)")
    ap.add_argument("--draws", type=int, default=1)
    ap.add_argument("--first-draw", type=int, default=0, help="the first draw (curate_mmlu's numbering)")
    ap.add_argument("--grid", default="", help="approx settings: `field=v,...;field=v,...` ('' = the defaults)")
    ap.add_argument("--no-exact", action="store_true", help="skip the exact reference")
    ap.add_argument("--out", type=Path, default=None, help="append every cell to this JSON-lines file")
    ap.add_argument("--from-json", type=Path, nargs="+", default=None,
                    help="print the tables of `--out` files instead of running")
    args = ap.parse_args()
    if args.from_json:
        report([json.loads(x) for f in args.from_json for x in f.read_text().splitlines() if x.strip()])
        return
    t0 = time.perf_counter()
    cells = run(args)
    print(f"\n{time.perf_counter() - t0:.0f} s; {time.strftime('%H:%M')} load "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    report(cells)


if __name__ == "__main__":
    main()
