"""CPU training throughput (samples/s): saescope's training step beside a plain dense TopK loop.

For d_in 384 and 768 at expansion 8 and 32, measures in one process:
  - plain: a dense PyTorch TopK SAE step (encoder matmul, topk, scatter, dense decoder, FVU,
    Adam), the loop every TopK SAE tutorial writes;
  - saescope: `saescope.sae.bench.make_step` (the step `train_sae` runs: FVU + AuxK, decoder
    gradient projection, clipping, Adam, renormalisation, dead-latent counters), with the plain
    kernels (the CPU default) and with the sparse fast path (`--fast-topk on`).

Threads: `--threads 1,2` repeats every measurement at each torch intra-op thread count and
prints the load average beside it. On a 2-core machine shared with other work, 1 thread was
the fastest (see README "Speed on CPU"): one SAE step is a chain of small kernels (matmul,
top-k, scatter, embedding_bag, Adam's per-tensor updates), and with 2 OpenMP threads each
kernel ends in a barrier where a thread that lost its core to another process makes the other
spin-wait; with load above the core count that wait dominates. `saescope train` therefore
sets 1 intra-op thread on the CPU by default (`TrainConfig.threads`, `--threads`).

Usage: python benchmarks/cpu_train.py [--sizes 384:8,384:32,768:8,768:32] [--k 32]
       [--batch-size 1024] [--steps 5] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import torch
import torch.nn.functional as F

from saescope.sae.bench import make_step


def plain_step(d: int, m: int, k: int):
    W_enc = torch.nn.Parameter(torch.randn(m, d) / d**0.5)
    b_enc = torch.nn.Parameter(torch.zeros(m))
    W_dec = torch.nn.Parameter(W_enc.data.clone())
    b_dec = torch.nn.Parameter(torch.zeros(d))
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=1e-4)

    def step(x: torch.Tensor) -> None:
        pre = F.relu(F.linear(x - b_dec, W_enc, b_enc))
        vals, idx = pre.topk(k, dim=-1, sorted=False)
        dense = torch.zeros_like(pre).scatter_(-1, idx, vals)
        out = dense @ W_dec + b_dec
        loss = (x - out).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def timed(step, x: torch.Tensor, steps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        step(x)
    t = time.perf_counter()
    for _ in range(steps):
        step(x)
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="384:8,384:32,768:8,768:32", help="d_in:expansion,...")
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", default="0",
                    help="comma-separated torch thread counts (0: torch's default)")
    args = ap.parse_args()
    for threads in (int(t) for t in args.threads.split(",")):
        if threads:
            torch.set_num_threads(threads)
        run(args)


def run(args) -> None:
    import os

    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"({torch.get_num_interop_threads()} interop), load {os.getloadavg()[0]:.1f}, "
          f"batch {args.batch_size}, k {args.k}")
    for spec in args.sizes.split(","):
        d, exp = map(int, spec.split(":"))
        m = d * exp
        x = torch.randn(args.batch_size, d)
        row = {"threads": torch.get_num_threads(), "d_in": d, "expansion": exp, "latents": m}
        makers = {"plain": partial(plain_step, d, m, args.k),
                  "saescope": partial(make_step, d, m, args.k, "cpu", fast=False),
                  "saescope_fast": partial(make_step, d, m, args.k, "cpu", fast=True)}
        for name, make in makers.items():
            row[f"{name}_samples_s"] = round(args.batch_size / timed(make(), x, args.steps), 1)
        row["speedup_vs_plain"] = round(max(row["saescope_samples_s"],
                                            row["saescope_fast_samples_s"])
                                        / row["plain_samples_s"], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
