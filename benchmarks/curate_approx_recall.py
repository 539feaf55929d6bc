"""How close `--graph-index approx` comes to the exact neighbours, without labels, and at what cost.

On `--nodes` jittered MMLU rows (MiniLM embeddings and the questions' texts, as
`curate_pool_scale.py --kernel-data mmlu`), the unit centred embeddings get a faiss HNSW index
(`knn.hnsw_index`) and the texts their unit tf-idf rows (`curate.text`, idf fitted on the nodes).
For `--queries` of the nodes (each never its own neighbour), the exact 20 text neighbours
(`knn.top_k`) are compared with the approximate ones of `graph._text_approx`: the embedding
neighbours (HNSW, `ef_search`) plus `shortlist` nodes from the inverted index over each row's
`query_terms` best n-grams, re-ranked by their exact cosine. Printed per setting: the share of the
exact neighbours found (recall@20), the share of their cosine mass found, and the CPU
milliseconds a row of one thread for the HNSW search, the shortlist and the re-rank (with the
compiled kernels when numba is installed, else numpy; `--no-jit` forces numpy). No label is read,
so these figures may choose the approximate path's parameters without touching the benchmark's
targets.

`--score-rows N`: instead, the cost of scoring with the whole space. `embedding-graph` is fitted
with `index` approx on 50 seeds (high school biology) and the nodes (texts on; `--graph`
overrides GraphConfig fields, e.g. `fit_shortlist=64,fit_query_terms=16`), then N other jittered
rows are scored `--reps` times in turn with the approximate search and with the exact one on the
same fitted space (the HNSW index dropped: every node compared, as `index` exact scores), CPU
seconds of this one-thread process; `--exact-fit` also fits the exact space, for the fit ratio.
The scoring ratio is per row, from the same run, on the same nodes.

    python benchmarks/curate_approx_recall.py --nodes 50000 --queries 2000 \\
        --settings "16/4,32/8,64/16" --ef 21,41
    python benchmarks/curate_approx_recall.py --nodes 50000 --score-rows 4000 --reps 3 --exact-fit
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--settings", default="16/4,32/8,64/16", help="shortlist/query_terms, comma-separated")
    ap.add_argument("--ef", default="21", help="HNSW efSearch values (the embedding neighbours: max(ef, k+1))")
    ap.add_argument("--no-jit", action="store_true", help="the numpy kernels even when numba is installed")
    ap.add_argument("--score-rows", type=int, default=0, help="time the space's scoring instead (rows)")
    ap.add_argument("--reps", type=int, default=3, help="with --score-rows: alternating repetitions")
    ap.add_argument("--graph", default="", help="with --score-rows: GraphConfig overrides `field=v,...`")
    ap.add_argument("--exact-fit", action="store_true", help="with --score-rows: also fit the exact space")
    args = ap.parse_args()
    if args.score_rows:
        score_cost(args)
        return

    import scipy.sparse as sp
    import torch
    from curate_pool_scale import mmlu_rows
    from threadpoolctl import threadpool_limits

    from saescope.curate import knn
    from saescope.curate.text import TEXT_MAX_TERMS, fit_idf, hashed_counts, text_units
    from saescope.linalg import unit_rows

    torch.set_num_threads(1)
    threadpool_limits(1)
    rng = np.random.default_rng(1)
    X, texts, _ = mmlu_rows(args.nodes, rng)
    U = unit_rows(X, X.mean(axis=0))
    counts = hashed_counts(texts)
    T = text_units(counts, fit_idf(counts), TEXT_MAX_TERMS)
    inverted = sp.csr_matrix(T.T)
    ann = knn.hnsw_index(U)
    q = np.sort(rng.choice(args.nodes, args.queries, replace=False))
    Tq, own = T[q], q
    exact_nbr, exact_cos = knn.top_k(Tq, T, args.k, self_index=own)
    mass = np.maximum(exact_cos, 0).sum()
    jit = False if args.no_jit else None
    kernels = "numpy" if args.no_jit or knn.jit_kernels() is None else "numba"

    warm = knn.shortlist_sparse(Tq[:2], inverted, 2, 2, jit=jit)  # load / compile the kernels first
    knn.rerank_sparse(Tq[:2], T, warm, 1, jit=jit)

    def cpu_ms(f):
        c0 = time.process_time()
        out = f()
        return out, (time.process_time() - c0) / len(q) * 1e3

    print(f"{args.nodes:,} nodes, {args.queries:,} queries, k {args.k}, kernels {kernels}, one thread; "
          f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| efSearch | shortlist / query terms | recall@20 | cosine mass | HNSW ms | shortlist ms | re-rank ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for ef in (int(e) for e in args.ef.split(",")):
        (nbr, _), t_ann = cpu_ms(lambda ef=ef: knn.ann_top_k(ann, U[q], args.k, ef, own))
        for setting in args.settings.split(","):
            L, terms = (int(v) for v in setting.split("/"))
            cand, t_short = cpu_ms(lambda L=L, terms=terms: knn.shortlist_sparse(Tq, inverted, L, terms, jit=jit))
            both = np.hstack([nbr, cand])
            (a_nbr, a_cos), t_rr = cpu_ms(lambda both=both: knn.rerank_sparse(Tq, T, both, args.k, own, jit=jit))
            rec = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(a_nbr, exact_nbr, strict=True)])
            print(f"| {ef} | {L} / {terms} | {rec:.3f} | {np.maximum(a_cos, 0).sum() / mass:.3f} | {t_ann:.3f} "
                  f"| {t_short:.3f} | {t_rr:.3f} |", flush=True)


def score_cost(args: argparse.Namespace) -> None:
    """Fit (approx; exact too with `--exact-fit`) and score `--score-rows` rows approx and exact in
    turn on the same fitted space; CPU seconds of this process (see the module docstring)."""
    import torch
    from curate_pool_scale import mmlu_rows
    from threadpoolctl import threadpool_limits

    from saescope.curate import knn
    from saescope.curate.spaces import GraphConfig, fit_space

    torch.set_num_threads(1)
    threadpool_limits(1)
    if args.no_jit:
        knn._JIT = False
    rng = np.random.default_rng(1)
    S, st, _ = mmlu_rows(50, rng, "high school biology")
    P, pt, _ = mmlu_rows(args.nodes, rng)
    Q, qt, _ = mmlu_rows(args.score_rows, rng)
    ids = np.array([f"p{i}" for i in range(len(P))], dtype=object)
    qids = np.array([f"q{i}" for i in range(len(Q))], dtype=object)
    over = {k: int(v) for k, v in (kv.split("=") for kv in args.graph.split(",") if kv)}
    fit_cpu = {}
    for index in ("approx", "exact") if args.exact_fit else ("approx",):
        c0 = time.process_time()
        fs = fit_space("embedding-graph", S, P, seed_texts=st, pool_texts=pt, pool_ids=ids,
                       graph=GraphConfig(index=index, nodes=args.nodes, **over))
        fit_cpu[index] = time.process_time() - c0
        if index == "approx":
            approx_fs = fs
    fs, g = approx_fs, approx_fs.method
    ann = g.ann
    fs.score(Q[:50], qids[:50], qt[:50])  # load the kernels, build the inverted index
    g.ann = None
    fs.score(Q[:50], qids[:50], qt[:50])  # the nodes on the device once
    cpu: dict[str, list[float]] = {"approx": [], "exact": []}
    for _ in range(args.reps):
        for index in ("approx", "exact"):
            g.ann = ann if index == "approx" else None
            c0 = time.process_time()
            fs.score(Q, qids, qt)
            cpu[index].append((time.process_time() - c0) / len(Q) * 1e3)
    kernels = "numpy" if args.no_jit or knn.jit_kernels() is None else "numba"
    print(f"embedding-graph, 50 seeds + {args.nodes:,} nodes, texts, {over or 'defaults'}, kernels {kernels}, "
          f"one thread; load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for index, v in cpu.items():
        print(f"  scoring {index}: " + ", ".join(f"{x:.3f}" for x in v) + " ms CPU a row")
    ratio = [e / a for a, e in zip(cpu["approx"], cpu["exact"], strict=True)]
    print(f"  scoring: approx {min(cpu['approx']):.3f} / exact {min(cpu['exact']):.3f} ms CPU a row (best of "
          f"{args.reps}); exact / approx per repetition " + ", ".join(f"{r:.1f}x" for r in ratio))
    print("  fit: " + ", ".join(f"{k} {v:.1f} s CPU" for k, v in fit_cpu.items())
          + (f" ({fit_cpu['exact'] / fit_cpu['approx']:.1f}x)" if "exact" in fit_cpu else ""))


if __name__ == "__main__":
    main()
