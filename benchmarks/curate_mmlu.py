"""Curation quality on MMLU: does SAE-space selection find held-out domains and subjects?

For each target (MMLU's four domains and several single subjects) and each of `--draws` seed
draws, 50 questions of the target are held out as seeds; the pool is every other question
(14,042 - 50). Each method ranks the pool; we report precision at budgets 100/500/1000 (the
fraction of selected questions from the target), the ideal precision (min(1, |target in
pool| / budget)), and diversity of the top 1000 (1 - mean pairwise cosine of the MiniLM
embeddings, diagonal excluded). Stability across seed draws: the standard deviation of
precision@100 and the mean Jaccard overlap of the top-100 sets between draws.

The SAE (TopK) is trained once on the embeddings of all questions, without labels (the seeds
are 50 of the 14,042 rows it saw, as in a real curation where the SAE is trained on the pool).

Methods: `sae`, `sae-idf`, `sae-centered`, `sae-enrich` (seed-vs-pool latent log-odds, DSIR-style
weights in SAE space), `embedding` (raw cosine), `embedding-centered`
(pool mean removed), `random`, and FineScope's clustered variant `sae+kmeans` (k-means on the
SAE codes of the pool, equal per-cluster quotas) plus `sae+kmeans-seeds` (quotas in proportion
to the seeds' clusters). All use the library's own `fit_space` / `FittedSpace.score` /
`candidate_order` (the functions `saescope curate` runs), on in-memory arrays for speed. The
SAE codes of all questions are computed once and sliced per draw (`encode_codes` is memoised
by array), which gives the same codes as encoding each pool again.

    python benchmarks/curate_mmlu.py [--draws 3] [--k 32] [--latents 1536] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

SUBJECTS = (
    "high school biology", "professional law", "high school us history", "college computer science",
    "clinical knowledge", "high school macroeconomics", "world religions", "astronomy",
    "nutrition", "moral scenarios",
)  # fmt: skip
METHODS = ("sae", "sae-idf", "sae-centered", "sae-enrich", "embedding", "embedding-centered",
           "random", "sae+kmeans", "sae+kmeans-seeds")  # fmt: skip
BUDGETS = (100, 500, 1000)


def embeddings(cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X, ids, subject, domain) of all MMLU questions, MiniLM embeddings cached in `cache`."""
    import pyarrow.parquet as pq

    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import embed_table
    from saescope.data.vectors import read_vectors

    if not cache.is_file():
        t0 = time.perf_counter()
        embed_table(load_mmlu(), cache, model="minilm", progress=True)
        print(f"embedded MMLU in {time.perf_counter() - t0:.0f} s -> {cache}")
    vt = read_vectors(cache)
    meta = pq.read_table(cache, columns=["subject", "domain"])
    return (vt.X, np.asarray(vt.ids, dtype=str), np.asarray(meta["subject"].to_pylist()),
            np.asarray(meta["domain"].to_pylist()))


def train(X: np.ndarray, k: int, latents: int, out: Path, epochs: int) -> None:
    from saescope.sae import SAEConfig, TrainConfig, train_sae

    t0 = time.perf_counter()
    res = train_sae(X, TrainConfig(sae=SAEConfig(arch="topk", k=k, num_latents=latents),
                                   epochs=epochs, batch_size=512, device="cpu"),
                    out_dir=out, overwrite=True, progress=False)
    m = res.metrics
    print(f"SAE k={k} M={latents}: fvu={m['fvu']:.3f} l0={m['l0']:.1f} "
          f"dead={m['dead_fraction']:.3f} ({time.perf_counter() - t0:.0f} s)")


def diversity(U: np.ndarray) -> float:
    """1 - mean_{i != j} cos(u_i, u_j) from the sum of unit vectors (exact)."""
    n = len(U)
    s = U.astype(np.float64).sum(axis=0)
    return 1.0 - (float(s @ s) - n) / (n * (n - 1))


def rank_pool(method: str, seeds: np.ndarray, pool: np.ndarray, pool_ids: np.ndarray, sae, seed: int,
              clusters: int) -> np.ndarray:
    """Pool indices in selection order for one method."""
    from saescope.curate.select import candidate_order
    from saescope.curate.spaces import fit_space

    base = method.split("+")[0]
    k = clusters if "+kmeans" in method else 0
    space = fit_space(base, seeds, pool, sae=sae, clusters=k, seed=seed)
    s = space.score(pool, pool_ids)
    weights = None
    if method.endswith("-seeds"):
        weights = np.bincount(space.score(seeds, pool_ids[: len(seeds)]).cluster, minlength=k)
    return candidate_order(pool_ids, s.score, s.cluster if k else None, None, weights)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=3, help="seed draws per target")
    ap.add_argument("--n-seeds", type=int, default=50)
    ap.add_argument("--k", type=int, default=32, help="SAE TopK k")
    ap.add_argument("--latents", type=int, default=1536, help="SAE latents")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--clusters", type=int, default=8, help="k-means clusters of the clustered variant")
    ap.add_argument("--cache", type=Path, default=None, help="folder for embeddings and the SAE")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", type=Path, default=None, help="write all figures as JSON")
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1),
                    help="torch and BLAS threads")
    args = ap.parse_args()

    import torch

    from saescope.data.builtin import MMLU_DOMAINS
    from saescope.data.models import default_cache_dir
    from saescope.sae import SparseAutoencoder

    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    cache = args.cache or default_cache_dir() / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    X, ids, subject, domain = embeddings(cache / "mmlu_minilm.parquet")
    sae_dir = cache / f"mmlu_sae_k{args.k}_m{args.latents}_e{args.epochs}"
    if not (sae_dir / "sae.safetensors").is_file():
        train(X, args.k, args.latents, sae_dir, args.epochs)
    sae = SparseAutoencoder.load(sae_dir).eval()
    methods = [m for m in args.methods.split(",") if m]
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)

    import saescope.curate.spaces as spaces_mod

    t0 = time.perf_counter()
    codes_all = spaces_mod.encode_codes(sae, X)
    print(f"encoded {len(X)} questions in {time.perf_counter() - t0:.1f} s")
    memo: dict[int, object] = {}
    real_encode = spaces_mod.encode_codes

    def encode_memo(sae_, X_, device="cpu"):
        hit = memo.get(id(X_))
        return hit[1] if hit is not None and hit[0] is X_ else real_encode(sae_, X_, device)

    spaces_mod.encode_codes = encode_memo

    targets = [("domain", d) for d in MMLU_DOMAINS] + [("subject", s) for s in SUBJECTS]
    results: dict[str, dict[str, dict[str, float]]] = {}
    t_all = time.perf_counter()
    for kind, name in targets:
        is_t = (domain if kind == "domain" else subject) == name
        per: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
        tops: dict[str, list[set[str]]] = {m: [] for m in methods}
        for r in range(args.draws):
            rng = np.random.default_rng(1000 + r)
            seed_rows = rng.choice(np.flatnonzero(is_t), size=args.n_seeds, replace=False)
            mask = np.ones(len(X), bool)
            mask[seed_rows] = False
            pool, pool_ids, pool_t = X[mask], ids[mask], is_t[mask]
            seeds_X = X[seed_rows]
            memo.clear()
            memo[id(pool)] = (pool, codes_all[np.flatnonzero(mask)])
            memo[id(seeds_X)] = (seeds_X, codes_all[seed_rows])
            for m in methods:
                order = rank_pool(m, seeds_X, pool, pool_ids, sae, r, args.clusters)
                row = {f"p@{b}": float(pool_t[order[:b]].mean()) for b in BUDGETS}
                row["diversity@1000"] = diversity(Xu[mask][order[:1000]])
                per[m].append(row)
                tops[m].append(set(pool_ids[order[:100]]))
        n_in_pool = int(is_t.sum()) - args.n_seeds
        key = f"{kind}: {name}"
        results[key] = {"n_target_in_pool": n_in_pool,
                        **{f"ideal_p@{b}": min(1.0, n_in_pool / b) for b in BUDGETS}}
        for m in methods:
            agg = {k: float(np.mean([row[k] for row in per[m]])) for k in per[m][0]}
            agg["p@100_std"] = float(np.std([row["p@100"] for row in per[m]]))
            for b in BUDGETS:
                agg[f"p@{b}_draws"] = [row[f"p@{b}"] for row in per[m]]
            pairs = [(a, b) for i, a in enumerate(tops[m]) for b in tops[m][i + 1:]]
            agg["jaccard@100"] = float(np.mean([len(a & b) / len(a | b) for a, b in pairs])) if pairs else 1.0
            results[key][m] = agg
        print(f"{key:45s} " + " ".join(f"{m}={results[key][m]['p@100']:.2f}" for m in methods),
              flush=True)

    print(f"\nall targets in {time.perf_counter() - t_all:.0f} s; {args.draws} seed draws of "
          f"{args.n_seeds}; SAE TopK k={args.k}, M={args.latents}\n")
    for metric in ("p@100", "p@500", "p@1000", "diversity@1000", "p@100_std", "jaccard@100"):
        print(f"### {metric} (mean over draws)\n")
        print("| target | " + " | ".join(methods) + (" | ideal |" if metric.startswith("p@") and "std" not in metric else " |"))
        print("|---" * (len(methods) + 1 + (1 if metric.startswith("p@") and "std" not in metric else 0)) + "|")
        for key, res in results.items():
            cells = [f"{res[m][metric]:.3f}" for m in methods]
            best = max(range(len(methods)), key=lambda i: res[methods[i]][metric])
            if metric.startswith("p@") and "std" not in metric:
                cells[best] = f"**{cells[best]}**"
                cells.append(f"{res['ideal_' + metric]:.3f}")
            print(f"| {key} | " + " | ".join(cells) + " |")
        means = [float(np.mean([res[m][metric] for res in results.values()])) for m in methods]
        print("| **mean** | " + " | ".join(f"{v:.3f}" for v in means) + (" | |" if metric.startswith("p@") and "std" not in metric else " |") + "\n")
    print("### summary: mean over targets, then mean +- std over the seed draws\n")
    print("| method | p@100 | p@500 | p@1000 | diversity@1000 |")
    print("|---|---|---|---|---|")
    for m in methods:
        cells = []
        for b in BUDGETS:
            per_draw = np.mean([res[m][f"p@{b}_draws"] for res in results.values()], axis=0)
            cells.append(f"{per_draw.mean():.3f} +- {per_draw.std():.3f}")
        div = np.mean([res[m]["diversity@1000"] for res in results.values()])
        print(f"| {m} | " + " | ".join(cells) + f" | {div:.3f} |")
    print()
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                        "results": results}, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
