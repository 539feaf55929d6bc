"""Embedding throughput: saescope's Embedder / embed_table against sentence-transformers direct.

Same texts (MMLU questions), same model, batch size and device, in the same run; the two are
timed alternately `--repeats` times and the best time of each is kept. Prints texts/s and our
overhead (target: at most 10%).

    python benchmarks/embed_throughput.py --n 1024 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="Number of MMLU questions.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from sentence_transformers import SentenceTransformer

    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import Embedder, embed_table
    from saescope.data.models import resolve_sentence_model

    table = load_mmlu().slice(0, args.n)
    texts = table["text"].to_pylist()
    ours = Embedder("minilm", device=args.device, batch_size=args.batch_size)
    direct = SentenceTransformer(resolve_sentence_model("minilm"), device=args.device)
    ours.encode(texts[:64])  # warm-up
    direct.encode(texts[:64], batch_size=args.batch_size)

    def time_it(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    best = {"direct": float("inf"), "Embedder.encode": float("inf"), "embed_table": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            best["direct"] = min(best["direct"], time_it(lambda: direct.encode(
                texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)))
            best["Embedder.encode"] = min(best["Embedder.encode"], time_it(lambda: ours.encode(texts)))
            out = Path(tmp) / f"e{r}.parquet"
            best["embed_table"] = min(best["embed_table"], time_it(
                lambda out=out: embed_table(table, out, embedder=ours, shard_size=512, progress=False)))
    print(f"device={args.device} torch_threads={torch.get_num_threads()} texts={len(texts)} "
          f"batch_size={args.batch_size} repeats={args.repeats} (best of)")
    base = best["direct"]
    for name, sec in best.items():
        print(f"{name:>16}: {len(texts) / sec:8.1f} texts/s  ({sec:.2f} s)  overhead {100 * (sec / base - 1):+.1f}%")


if __name__ == "__main__":
    main()
