"""Scoring throughput: a 1,000,000 x 768 pool against 1,000 seeds, memory bounded by the chunk.

Target (issue 5): at most 10 s on the 2-core machine, about the time of a plain numpy product.
The pool is a raw float32 file read chunk by chunk into one reused buffer (as the Parquet
reader does shard by shard), so resident memory stays at the chunk, not the pool.

Printed, in the same run and on the same data:
- `plain numpy`: P_chunk @ S.T, argmax over seeds (the reference product, nothing else);
- `saescope embedding --aggregate max`: `FittedSpace.score` (norms, centroid, nearest seed,
  max cosine; what each shard worker runs);
- the same with k-means cluster assignment (K=16);
- optionally `--e2e-rows N`: `run_curate` end to end on an N-row Parquet pool (read, score,
  write sidecars, select, read back, metrics).

    python benchmarks/curate_scale.py [--rows 1000000] [--dim 768] [--seeds 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    """Current resident set size in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_pool(path: Path, rows: int, dim: int, seed: int, block: int = 65536) -> None:
    """A pool with 20 planted clusters plus noise, written block by block."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim)).astype(np.float32)
    with open(path, "wb") as f:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            X = centres[rng.integers(0, 20, n)] + rng.standard_normal((n, dim), dtype=np.float32)
            f.write(X.astype(np.float32).tobytes())


def chunks(path: Path, rows: int, dim: int, chunk: int):
    """Chunks of the raw file, read into one reused buffer (bounded memory)."""
    buf = np.empty((chunk, dim), dtype=np.float32)
    with open(path, "rb", buffering=0) as f:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            view = buf[:n]
            f.readinto(memoryview(view).cast("B"))
            yield view


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes (best is reported)")
    ap.add_argument("--e2e-rows", type=int, default=0, help="also run run_curate on this many rows")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from saescope.curate.spaces import fit_space

    threadpool_limits(args.threads)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="curate_scale."))
    work.mkdir(parents=True, exist_ok=True)
    pool_file = work / f"pool_{args.rows}x{args.dim}.f32"
    if not pool_file.is_file() or pool_file.stat().st_size != args.rows * args.dim * 4:
        t0 = time.perf_counter()
        make_pool(pool_file, args.rows, args.dim, seed=0)
        print(f"wrote pool {pool_file} in {time.perf_counter() - t0:.1f} s")
    rng = np.random.default_rng(1)
    sample = next(chunks(pool_file, args.rows, args.dim, 50_000)).copy()
    seeds = sample[rng.choice(len(sample), args.seeds, replace=False)] + 0.1 * rng.standard_normal(
        (args.seeds, args.dim), dtype=np.float32)
    print(f"pool {args.rows:,} x {args.dim}, {args.seeds:,} seeds, chunk {args.chunk}, "
          f"{args.threads} BLAS threads, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")

    St = np.ascontiguousarray(seeds.T)

    def plain() -> None:
        for P in chunks(pool_file, args.rows, args.dim, args.chunk):
            G = P @ St
            G.argmax(axis=1)

    space = fit_space("embedding", seeds, sample, aggregate="max")
    space_k = fit_space("embedding", seeds, sample, aggregate="max", clusters=16)

    def ours(sp) -> None:
        for P in chunks(pool_file, args.rows, args.dim, args.chunk):
            sp.score(P)

    # warm the page cache and BLAS once
    for _ in chunks(pool_file, args.rows, args.dim, args.chunk):
        pass
    rows = []
    for name, fn in (("plain numpy P @ S.T + argmax", plain),
                     ("saescope embedding --aggregate max", lambda: ours(space)),
                     ("saescope ... + k-means clusters (K=16)", lambda: ours(space_k))):
        best = float("inf")
        rss0 = rss_mb()
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        rows.append((name, best, rss_mb() - rss0))
    print(f"\n| method | seconds (best of {args.repeats}) | rows/s | RSS growth MiB |")
    print("|---|---|---|---|")
    for name, s, drss in rows:
        print(f"| {name} | {s:.2f} | {args.rows / s:,.0f} | {drss:.0f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pool_mb = args.rows * args.dim * 4 / 2**20
    print(f"\npeak RSS {peak:.0f} MiB for a {pool_mb:.0f} MiB pool (chunk = "
          f"{args.chunk * args.dim * 4 / 2**20:.0f} MiB + products {args.chunk * (args.seeds + 17) * 4 / 2**20:.0f} MiB)")

    if args.e2e_rows:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from saescope.curate import CurateConfig, run_curate
        from saescope.data.shards import vectors_to_arrow

        pq_dir = work / f"pool_{args.e2e_rows}_parquet"
        if not pq_dir.is_dir():
            pq_dir.mkdir()
            done = 0
            for i, P in enumerate(chunks(pool_file, args.e2e_rows, args.dim, 131072)):
                ids = pa.array([f"r{done + j}" for j in range(len(P))])
                pq.write_table(pa.table({"id": ids, "embedding": vectors_to_arrow(P)}),
                               pq_dir / f"part-{i:05d}.parquet", row_group_size=32768)
                done += len(P)
        seeds_file = work / "seeds.parquet"
        pq.write_table(pa.table({"id": pa.array([f"s{i}" for i in range(len(seeds))]),
                                 "embedding": vectors_to_arrow(seeds)}), seeds_file)
        out = work / "e2e_out"
        t0 = time.perf_counter()
        man = run_curate(CurateConfig(seeds=str(seeds_file), pool=str(pq_dir), out=str(out),
                                      budget=10_000, space="embedding", aggregate="max",
                                      overwrite=True, projection_sample=2000, device="cpu"),
                         progress=False)
        total = time.perf_counter() - t0
        print(f"\nrun_curate end to end on {args.e2e_rows:,} Parquet rows: {total:.1f} s "
              f"(timings {man['timings']})")


if __name__ == "__main__":
    main()
