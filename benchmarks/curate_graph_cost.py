"""What the default curation space costs: `embedding-graph` fit and scoring time on random vectors.

Fits the space on `--seeds` seeds and a `--nodes`-row pool sample (the kNN graph of all nodes and
the manifold ranking), then scores `--rows` pool rows (each row's nearest nodes), and prints the
seconds and the rate per 100,000 rows, beside `embedding-centered` (one cosine per row) on the same
vectors. Random unit vectors: the cost of the embedding channel does not depend on the data.
`embedding-graph+text` adds the lexical channel with real texts: MMLU questions (the packaged
asset) drawn with replacement for the seeds, the sample and the scored rows (the cost of the
sparse products depends on the texts' lengths and vocabulary). `--join J` makes each text J
questions joined (long documents: an MMLU question has about 60 weighted word n-grams) and
`--text-max-terms M` keeps each text's M highest-weighted n-grams (`saescope curate
--text-max-terms`), to measure what the pruning saves on long texts.

    python benchmarks/curate_graph_cost.py [--nodes 50000] [--rows 20000] [--dim 384] [--threads 1]
        [--join 1] [--text-max-terms M] [--methods embedding-graph+text,embedding-graph,embedding-centered]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from saescope.curate.text import TEXT_MAX_TERMS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=50_000, help="pool-sample rows (graph nodes)")
    ap.add_argument("--rows", type=int, default=20_000, help="pool rows scored")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--join", type=int, default=1, help="MMLU questions joined into one text")
    ap.add_argument("--text-max-terms", type=int, default=TEXT_MAX_TERMS, help="n-grams kept per text (0: all)")
    ap.add_argument("--methods", default="embedding-graph+text,embedding-graph,embedding-centered")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from saescope.curate.spaces import fit_space

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    sample = rng.normal(size=(args.nodes, args.dim)).astype(np.float32)
    seeds = rng.normal(size=(args.seeds, args.dim)).astype(np.float32)
    rows = rng.normal(size=(args.rows, args.dim)).astype(np.float32)
    from saescope.data.builtin import load_mmlu

    questions = np.asarray(load_mmlu()["text"].to_pylist(), dtype=object)
    texts = {k: [" ".join(q) for q in questions[rng.integers(0, len(questions), (n, args.join))]]
             for k, n in (("seeds", args.seeds), ("sample", args.nodes), ("rows", args.rows))}
    for name in args.methods.split(","):
        kw = {"seed_texts": texts["seeds"], "pool_texts": texts["sample"],
              "text_max_terms": args.text_max_terms} if name.endswith("+text") else {}
        t0 = time.perf_counter()
        space = fit_space(name.removesuffix("+text"), seeds, sample, device=args.device, **kw)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        space.score(rows, None, texts["rows"] if kw else None)
        score_s = time.perf_counter() - t0
        words = ""
        if kw:
            nnz = np.diff(space.method.text_nodes.indptr)
            words = f"; {nnz.mean():.0f} weighted n-grams per node text (--text-max-terms {args.text_max_terms})"
        print(f"{name}: fit on {args.seeds} seeds + {args.nodes:,} sample rows x {args.dim} in {fit_s:.1f} s; "
              f"scored {args.rows:,} rows in {score_s:.1f} s ({score_s * 1e5 / args.rows:.0f} s per 100k rows); "
              f"{args.threads} thread(s), {args.device}{words}", flush=True)


if __name__ == "__main__":
    main()
