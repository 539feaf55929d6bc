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

    python benchmarks/curate_approx_recall.py --nodes 50000 --queries 2000 \\
        --settings "16/4,32/8,64/16" --ef 21,41
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
    args = ap.parse_args()

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


if __name__ == "__main__":
    main()
