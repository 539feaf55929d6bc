"""The default space at pool scale: `saescope curate` end to end, the graph kernel, the selection.

Three measurements, each printed with the machine's load average:

1. `--rows N`: a synthetic N-row Parquet pool (384-d vectors around 40 topics, a short text of
   topic and common words per row, a `label` column; files of 250,000 rows) and 50 seeds of topic
   0 with their texts; `saescope curate` (default space `embedding-graph`, texts on, `--workers`
   processes, `--graph-index`) runs in a child process: wall time, the manifest's phase timings,
   precision, and the peak resident memory of the largest process (`ru_maxrss` of the children).
2. `--kernel-nodes M`: the graph fitted on 50 seeds + M sample rows of the same kind of data
   with texts (`--kernel-data mmlu`: MMLU questions, MiniLM embeddings jittered so that M can
   exceed MMLU's 14,042 rows; seeds from high school biology), and 4,000 rows scored, exact against approx neighbours (one thread): seconds to
   fit, milliseconds per scored row, the ratio, and the overlap of the top 500.
3. `--select-rows R`: R rows of score sidecars (1,000,000 a shard, ids `row-<n>`) and the
   selection step alone (`pipeline.select_rows`, budget `--budget`) in a child process: time and
   peak memory (bounded by a shard, not by R).

    python benchmarks/curate_pool_scale.py --rows 200000 --kernel-nodes 50000 --select-rows 20000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TOPICS = 40
WORDS_PER_TOPIC = 60


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_rows(rng: np.random.Generator, n: int, dim: int, centres: np.ndarray, vocab: np.ndarray,
              topic: np.ndarray | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(X, texts, topic) of n rows: a topic centre plus noise; 4 topic words and 4 common words."""
    if topic is None:
        topic = rng.integers(0, TOPICS, n)
    X = centres[topic] + 0.9 * rng.standard_normal((n, dim), dtype=np.float32)
    own = rng.integers(0, WORDS_PER_TOPIC, (n, 4))
    common = rng.integers(0, 200, (n, 4))
    words = vocab[topic[:, None] * WORDS_PER_TOPIC + own]
    texts = [" ".join(w) + " " + " ".join(f"common{c}" for c in cc) for w, cc in zip(words, common, strict=True)]
    return X.astype(np.float32), texts, topic


def make_pool(root: Path, rows: int, dim: int, seed: int = 0, per_file: int = 250_000) -> None:
    """pool/part-*.parquet and seeds.parquet under root (skipped when already there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saescope.data.shards import vectors_to_arrow

    if (root / "seeds.parquet").is_file():
        return
    rng = np.random.default_rng(seed)
    centres = (2.0 * rng.standard_normal((TOPICS, dim))).astype(np.float32) / np.sqrt(dim) * 4
    vocab = np.array([f"w{t}x{i}" for t in range(TOPICS) for i in range(WORDS_PER_TOPIC)])
    (root / "pool").mkdir(parents=True, exist_ok=True)
    for f, lo in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - lo)
        X, texts, topic = make_rows(rng, n, dim, centres, vocab)
        pq.write_table(pa.table({"id": [f"r{lo + i}" for i in range(n)], "embedding": vectors_to_arrow(X),
                                 "text": texts, "label": [f"t{t}" for t in topic]}),
                       root / "pool" / f"part-{f:03d}.parquet", row_group_size=16384)
    X, texts, _ = make_rows(rng, 50, dim, centres, vocab, np.zeros(50, dtype=np.int64))
    pq.write_table(pa.table({"id": [f"s{i}" for i in range(50)], "embedding": vectors_to_arrow(X),
                             "text": texts}), root / "seeds.parquet")


def vm_hwm_mb() -> float:
    """Peak resident set of this process since it started (VmHWM, MiB). Unlike `ru_maxrss`, it is
    not inherited from the parent at fork (a new program gets a new address space)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


PEAK_WRAPPER = (
    "import atexit, resource, runpy, sys\n"
    "OUT = sys.argv[1]\n"
    "def _peak():\n"
    "    own = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
    "    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "    open(OUT, 'w').write(f'{own / 1024} {kids / 1024}')\n"
    "atexit.register(_peak)\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_module('saescope.cli.main', run_name='__main__')\n"
)
"""Runs `saescope ...` and writes the peak resident sets (MiB) of itself and of its largest child
(a worker) to the file named by its first argument."""


def end_to_end(args: argparse.Namespace, root: Path) -> None:
    t0 = time.perf_counter()
    make_pool(root, args.rows, args.dim)
    print(f"pool of {args.rows:,} rows written in {time.perf_counter() - t0:.0f} s (load {load()})", flush=True)
    runs = {}
    for executor in args.executor.split(","):
        runs[executor] = curate_once(args, root, executor)
    if len(runs) > 1:
        first, *rest = runs.values()
        for name, sel in zip(list(runs)[1:], rest, strict=True):
            print(f"selection of --executor {name} equal to --executor {list(runs)[0]}'s "
                  f"(ids, ranks, scores): {sel.equals(first)}", flush=True)


def curate_once(args: argparse.Namespace, root: Path, executor: str) -> Any:
    """Runs `saescope curate` once (`executor` local or ray), prints its figures, returns the
    selection's (id, rank, score) table."""
    import resource

    import pyarrow.parquet as pq

    out = root / f"cur-{args.graph_index}-{executor}-w{args.workers}"
    peak_file = root / "peak_mb.txt"
    cmd = [sys.executable, "-c", PEAK_WRAPPER, str(peak_file), "curate", "--seeds", str(root / "seeds.parquet"),
           "--pool", str(root / "pool"), "--out", str(out), "--budget", str(args.budget),
           "--label-field", "label", "--target", "t0", "--workers", str(args.workers),
           "--graph-index", args.graph_index, "--projection-sample", "0", "--no-progress",
           "--overwrite", "--device", "cpu", "--executor", executor]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    load0 = load()
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd + list(args.curate_args), check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    man = json.loads((out / "manifest.json").read_text())
    tm = man["timings"]
    own, kids = (float(v) for v in peak_file.read_text().split())
    print(f"saescope curate --executor {executor}, {args.rows:,} rows x {args.dim}, texts, embedding-graph "
          f"--graph-index {args.graph_index} {' '.join(args.curate_args)}, {args.workers} workers: "
          f"{wall:.0f} s wall, {cpu:.0f} s CPU over all its processes ({cpu / args.rows * 1e3:.3f} ms a "
          f"row; Ray's own workers are not counted); precision@{args.budget} "
          f"{man['metrics']['precision']:.3f}; peak RSS {max(own, kids):.0f} MiB (CLI process {own:.0f}, "
          f"largest worker or other child {kids:.0f}); load {load0} at the start, {load()} at the end", flush=True)
    phases = [("fit (all)", "fit"), ("  pool sample", "sample"), ("  first pass", "first_pass"),
              ("score", "score"), ("select", "select"), ("read back", "materialize")]
    print("| phase | wall s | CPU s | peak RSS of the CLI process by then, MiB |\n| --- | --- | --- | --- |")
    for label, key in phases:
        if f"{key}_s" in tm:
            print(f"| {label} | {tm[key + '_s']:.1f} | {tm.get(key + '_cpu_s', float('nan')):.1f} | "
                  f"{tm.get(key + '_peak_mib', float('nan')):.0f} |")
    known = sum(tm.get(f"{k}_s", 0.0) for k in ("fit", "score", "select", "materialize"))
    print(f"| other (start-up, inputs and their finiteness check, the dominant-dimension check, outputs) "
          f"| {wall - known:.1f} | | |")
    cas = man.get("cascade")
    if cas:
        print(f"cascade: active {cas['active']}, {cas.get('n_full_scores')} of {args.rows:,} rows scored in "
              f"full (calibrated: top {cas['q']:.4f} of the sample, {cas.get('positives')} rows, "
              f"{cas.get('sample_share', float('nan')):.4f} of the sample kept)", flush=True)
    return pq.read_table(out / "selected.parquet", columns=["id", "rank", "score"])


def mmlu_rows(n: int, rng: np.random.Generator, subject: str | None = None
              ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(X, texts, on-subject) of n MMLU rows (MiniLM embeddings of the benchmark cache), drawn with
    replacement and jittered (noise of norm 0.1) so that more rows than MMLU's 14,042 differ."""
    import pyarrow.parquet as pq

    from saescope.data.models import default_cache_dir
    from saescope.data.vectors import read_vectors

    path = default_cache_dir() / "bench" / "mmlu_minilm.parquet"  # written by curate_mmlu.py
    X = read_vectors(path).X.astype(np.float32)
    meta = pq.read_table(path, columns=["subject", "text"])
    subj = np.asarray(meta["subject"].to_pylist())
    pick = (rng.choice(np.flatnonzero(subj == subject), n) if subject else rng.integers(0, len(X), n))
    noise = rng.standard_normal((n, X.shape[1])).astype(np.float32)
    Xn = X[pick] + 0.1 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    texts = meta["text"].to_pylist()
    return Xn, [texts[i] for i in pick], subj[pick] == (subject or "high school biology")


def kernel(args: argparse.Namespace) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    from saescope.curate.spaces import GraphConfig, fit_space

    torch.set_num_threads(1)
    threadpool_limits(1)
    rng = np.random.default_rng(1)
    if args.kernel_data == "mmlu":
        S, st, _ = mmlu_rows(50, rng, "high school biology")
        P, pt, _ = mmlu_rows(args.kernel_nodes, rng)
        Q, qt, qtopic = mmlu_rows(4000, rng)
        qtopic = np.where(qtopic, 0, 1)
    else:
        centres = (2.0 * rng.standard_normal((TOPICS, args.dim))).astype(np.float32) / np.sqrt(args.dim) * 4
        vocab = np.array([f"w{t}x{i}" for t in range(TOPICS) for i in range(WORDS_PER_TOPIC)])
        S, st, _ = make_rows(rng, 50, args.dim, centres, vocab, np.zeros(50, dtype=np.int64))
        P, pt, _ = make_rows(rng, args.kernel_nodes, args.dim, centres, vocab)
        Q, qt, qtopic = make_rows(rng, 4000, args.dim, centres, vocab)
    ids = np.array([f"p{i}" for i in range(len(P))], dtype=object)
    res = {}
    for index in ("exact", "approx"):
        t0, c0 = time.perf_counter(), time.process_time()
        fs = fit_space("embedding-graph", S, P, seed_texts=st, pool_texts=pt, pool_ids=ids,
                       graph=GraphConfig(index=index, nodes=args.kernel_nodes))
        fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        s = fs.score(Q, np.array([f"q{i}" for i in range(len(Q))], dtype=object), qt).score
        score_s, score_cpu = time.perf_counter() - t0, time.process_time() - c0
        res[index] = (fit_cpu, score_cpu / len(Q) * 1e3, np.argsort(-s, kind="stable")[:500])
        print(f"graph kernel ({args.kernel_data}), {index}: fit on 50 seeds + {args.kernel_nodes:,} nodes with "
              f"texts {fit_cpu:.1f} s CPU ({fit_s:.1f} s wall); score {res[index][1]:.3f} ms CPU a row "
              f"({score_s / len(Q) * 1e3:.3f} ms wall; 4,000 rows, one thread; "
              f"precision@500 {np.mean(qtopic[res[index][2]] == 0):.3f}; load {load()})", flush=True)
    e, a = res["exact"], res["approx"]
    print(f"approx vs exact (CPU time of this one-thread process, which the machine's load does not "
          f"inflate as it does wall time): fit {e[0] / a[0]:.1f}x faster, scoring {e[1] / a[1]:.1f}x "
          f"faster per row, top-500 overlap {len(set(e[2]) & set(a[2])) / 500:.3f}", flush=True)


def make_sidecars(root: Path, rows: int, per_shard: int = 1_000_000) -> int:
    """Score sidecars part-XXXXX.parquet of `rows` rows (skipped when there); returns shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saescope.curate.executors import SCORE_SCHEMA

    root.mkdir(parents=True, exist_ok=True)
    shards = -(-rows // per_shard)
    rng = np.random.default_rng(2)
    for i in range(shards):
        path = root / f"part-{i:05d}.parquet"
        if path.is_file():
            continue
        lo, n = i * per_shard, min(per_shard, rows - i * per_shard)
        t = pa.table({"id": pa.array([f"row-{lo + j}" for j in range(n)], pa.string()),
                      "score": rng.standard_normal(n).astype(np.float32),
                      "centroid_sim": np.zeros(n, np.float32), "max_sim": np.zeros(n, np.float32),
                      "nearest_seed": np.zeros(n, np.int32), "cluster": np.full(n, -1, np.int32),
                      "text_hash": rng.integers(1, 2**63, n, dtype=np.uint64)}, schema=SCORE_SCHEMA)
        pq.write_table(t, path)
    return shards


def select_only(args: argparse.Namespace) -> None:
    """The child process of `--select-rows`: select from the sidecars, print time and peak RSS."""
    from types import SimpleNamespace

    from saescope.curate.config import CurateConfig
    from saescope.curate.layout import PoolLayout, Shard
    from saescope.curate.pipeline import select_rows

    scores_dir = Path(args.select_child)
    per = 1_000_000
    shards = tuple(Shard(i, f"unused-{i}", (), i * per, min(per, args.select_rows - i * per))
                   for i in range(-(-args.select_rows // per)))
    import pyarrow as pa

    layout = PoolLayout(shards, "embedding", "id", pa.schema([]), args.select_rows, 384)
    inp = SimpleNamespace(layout=layout, seed_texts={"a seed text"}, n_targets=0, targets=None,
                          seeds=None)
    cfg = CurateConfig(seeds="s", pool="p", out="o", budget=args.budget)
    t0 = time.perf_counter()
    picked = select_rows(cfg, inp, None, scores_dir)  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    peak = vm_hwm_mb()
    print(f"selection step, {args.select_rows:,} rows in {len(shards)} sidecar shards, budget "
          f"{args.budget:,}: {dt:.1f} s ({dt / args.select_rows * 1e9:.0f} ns a row), peak RSS "
          f"{peak:.0f} MiB, {picked.scores.num_rows:,} rows selected (load {load()})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=0, help="end-to-end pool rows (0: skip)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--budget", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--graph-index", default="auto", choices=("auto", "exact", "approx"),
                    help="the end-to-end run's `--graph-index` (auto, the default: approx on a pool "
                         "larger than the node sample)")
    ap.add_argument("--executor", default="local",
                    help="comma-separated executors of the end-to-end run (local,ray: both, selections compared)")
    ap.add_argument("--curate-args", default="",
                    help="more `saescope curate` options, space-separated (e.g. `--graph-cascade off`)")
    ap.add_argument("--kernel-nodes", type=int, default=0, help="graph nodes of the kernel timing (0: skip)")
    ap.add_argument("--kernel-data", default="synthetic", choices=("synthetic", "mmlu"),
                    help="kernel rows: the synthetic topics, or jittered MMLU rows (MiniLM, texts)")
    ap.add_argument("--select-rows", type=int, default=0, help="rows of the selection-only timing (0: skip)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the data (default: a temp folder)")
    ap.add_argument("--select-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.curate_args = args.curate_args.split()
    if args.select_child:
        select_only(args)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="curate_pool_scale_"))
    print(f"data under {work}; {os.cpu_count()} CPUs; load {load()}", flush=True)
    if args.kernel_nodes:
        kernel(args)
    if args.rows:
        end_to_end(args, work / f"pool{args.rows}")
    if args.select_rows:
        t0 = time.perf_counter()
        d = work / f"sidecars{args.select_rows}"
        make_sidecars(d, args.select_rows)
        print(f"sidecars written in {time.perf_counter() - t0:.0f} s", flush=True)
        subprocess.run([sys.executable, __file__, "--select-rows", str(args.select_rows), "--budget",
                        str(args.budget), "--select-child", str(d)], check=True)


if __name__ == "__main__":
    main()
