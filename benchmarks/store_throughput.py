"""Out-of-core store throughput (vectors/s) against CPU SAE training speed.

Writes N random d-dim vectors as `.npy` and Parquet shards, times one shuffled epoch of
`ActivationStore` over each, then times `train_sae` (TopK SAE) fed by the store and fed by an
in-memory array. Reading must be much faster than training for the store never to bottleneck.

    python benchmarks/store_throughput.py --n 200000 --d 384
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--buffer-size", type=int, default=65_536)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--expansion", type=int, default=8)
    parser.add_argument("--k", type=int, default=32)
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from saescope.data.shards import vectors_to_arrow
    from saescope.data.store import ActivationStore, write_npy_shards

    X = np.random.default_rng(0).standard_normal((args.n, args.d)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_npy_shards(X, tmp / "npy", shard_rows=50_000)
        (tmp / "pq").mkdir()
        for i, s in enumerate(range(0, args.n, 50_000)):
            ids = [str(j) for j in range(s, min(args.n, s + 50_000))]
            pq.write_table(pa.table({"id": ids, "embedding": vectors_to_arrow(X[s : s + 50_000])}),
                           tmp / "pq" / f"part-{i:05d}.parquet", row_group_size=16_384)
        print(f"N={args.n} d={args.d} batch={args.batch_size} buffer={args.buffer_size} "
              f"torch_threads={torch.get_num_threads()}")
        for kind in ("npy", "pq"):
            store = ActivationStore(tmp / kind, batch_size=args.batch_size, buffer_size=args.buffer_size)
            t0 = time.perf_counter()
            rows = sum(len(b) for b in store)
            sec = time.perf_counter() - t0
            print(f"store read ({kind:>3}, shuffled epoch): {rows / sec:12,.0f} vectors/s")

        try:
            from saescope.sae import SAEConfig, TrainConfig, train_sae
        except ImportError as exc:
            print(f"saescope.sae not available ({exc}); no training comparison")
            return
        cfg = TrainConfig(sae=SAEConfig(arch="topk", k=args.k, expansion_factor=args.expansion),
                          batch_size=args.batch_size, steps=args.train_steps, device="cpu",
                          log_every=10**9, checkpoint_every=10**9, init_sample=4096)
        val = X[:2048]
        for name, data in (
            ("train_sae <- ActivationStore(npy)",
             ActivationStore(tmp / "npy", batch_size=args.batch_size, buffer_size=args.buffer_size,
                             epochs=100)),
            ("train_sae <- in-memory array", X),
        ):
            stamps: list[float] = []
            train_sae(data, cfg, val_data=val, progress=False,
                      callback=lambda step, log, stamps=stamps: stamps.append(time.perf_counter()))
            # Steady state: from the end of step 1 to the end of the last step (no init, no val).
            sec = stamps[-1] - stamps[0]
            print(f"{name}: {(len(stamps) - 1) * args.batch_size / sec:12,.0f} vectors/s "
                  f"(M={args.expansion * args.d}, k={args.k}, steps 2..{len(stamps)})")


if __name__ == "__main__":
    main()
