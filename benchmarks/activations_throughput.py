"""Throughput (tokens/s) of `saescope activations` at block L of SmolLM2, old path vs new, one run.

Both paths go through `extract_table` end to end (forward, pooling or per-token rows, Parquet
shards, publishing), pooled (mean) and `--per-token`, on the same MMLU questions and the same
loaded model:

- `old`: the path before issue 26's throughput work, reproduced by `dtype="float32"` (the
  model's own float32 matmuls; the forward already stopped after block L and batched by
  length, so this is exactly the vectors the old default wrote).
- `new`: the default `dtype="auto"` (bfloat16 autocast where the device computes bf16
  natively: here, a CPU with AMX; see `saescope.data.activations`).

Also printed: how far the new vectors are from the old ones (median and 99th-percentile relative
L2 error per row, with and without the 3 highest-variance dimensions, where the massive
activations sit), and optionally (`--plain`) a plain
full forward with `output_hidden_states=True` in input order, as a reference. Token counts are
the tokens the forward reads (after truncation), padding excluded.

    OMP_NUM_THREADS=1 python benchmarks/activations_throughput.py --n 256 --layer 15
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _timed_extract(table, out: Path, ex, per_token: bool) -> float:
    from saescope.data.activations import extract_table

    t0 = time.perf_counter()
    extract_table(table, out, ex, per_token=per_token, shard_size=128, progress=False)
    return time.perf_counter() - t0


def _rel_err(a, b, drop: int = 0) -> tuple[float, float]:
    """Median and p99 relative L2 error of rows of b vs a, leaving out a's `drop` dimensions of
    largest variance (the massive-activation dimensions)."""
    import numpy as np

    keep = np.argsort(-a.var(axis=0))[drop:]
    a, b = a[:, keep], b[:, keep]
    rel = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    return float(np.median(rel)), float(np.quantile(rel, 0.99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="Number of MMLU questions (first N).")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    parser.add_argument("--plain", action="store_true", help="Also time a plain full forward.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from saescope.data.activations import ActivationExtractor
    from saescope.data.builtin import load_mmlu
    from saescope.data.models import load_causal_lm
    from saescope.data.vectors import read_vectors

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model, tok = load_causal_lm("smollm2", device=args.device)
    print(f"model load: {time.perf_counter() - t0:.1f} s")
    table = load_mmlu().slice(0, args.n).select(["id", "text"])
    paths = {
        name: ActivationExtractor(layers=[args.layer], batch_size=args.batch_size, dtype=dtype,
                                  model_and_tokenizer=(model, tok))
        for name, dtype in (("old", "float32"), ("new", "auto"))
    }
    n_tokens = int(paths["old"].token_counts(table["text"].to_pylist()).sum())
    print(f"device={args.device} torch_threads={torch.get_num_threads()} docs={args.n} "
          f"tokens={n_tokens} layer={args.layer}/{paths['old'].num_layers} "
          f"batch_size={args.batch_size} new dtype={paths['new'].dtype}")
    paths["old"].pooled(table["text"].to_pylist()[:8])  # warm-up
    paths["new"].pooled(table["text"].to_pylist()[:8])
    rate: dict[tuple[str, str], float] = {}
    vectors = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("pooled", "per-token"):
            for name, ex in paths.items():
                out = Path(tmp) / f"{name}-{mode}"
                secs = _timed_extract(table, out, ex, per_token=mode == "per-token")
                rate[(mode, name)] = n_tokens / secs
                vectors[(mode, name)] = read_vectors(out).X
                print(f"{mode:9s} {name}: {rate[(mode, name)]:8.1f} tokens/s ({secs:.1f} s)", flush=True)
    for mode in ("pooled", "per-token"):
        med, p99 = _rel_err(vectors[(mode, "old")], vectors[(mode, "new")])
        med3, p993 = _rel_err(vectors[(mode, "old")], vectors[(mode, "new")], drop=3)
        print(f"{mode:9s} new/old speed-up: {rate[(mode, 'new')] / rate[(mode, 'old')]:.2f}x; "
              f"relative L2 error of new vs old rows: median {med:.4f}, p99 {p99:.4f}; "
              f"without the 3 top-variance dimensions: median {med3:.4f}, p99 {p993:.4f}")
    if args.plain:
        texts = table["text"].to_pylist()
        t0 = time.perf_counter()
        with torch.inference_mode():
            for s in range(0, len(texts), args.batch_size):
                enc = tok(texts[s : s + args.batch_size], padding=True, truncation=True,
                          max_length=512, return_tensors="pt").to(args.device)
                model(**enc, output_hidden_states=True)
        plain = time.perf_counter() - t0
        print(f"plain full forward, all hidden states, unsorted: {n_tokens / plain:8.1f} tokens/s")


if __name__ == "__main__":
    main()
