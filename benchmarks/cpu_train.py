"""CPU training throughput (samples/s): saescope's training step beside a plain dense TopK loop.

For d_in 384 and 768 at expansion 8 and 32, measures in one process:
  - plain: a dense PyTorch TopK SAE step (encoder matmul, topk, scatter, dense decoder, FVU,
    Adam), the loop every TopK SAE tutorial writes;
  - saescope: `saescope.sae.bench.make_step` (the step `train_sae` runs: FVU + AuxK, decoder
    gradient projection, clipping, Adam, renormalisation, dead-latent counters), with the plain
    kernels (the CPU default) and with the sparse fast path (`--fast-topk on`).

Usage: python benchmarks/cpu_train.py [--sizes 384:8,384:32,768:8,768:32] [--k 32]
       [--batch-size 1024] [--steps 5] [--threads N]
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
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size},"
          f" k {args.k}")
    for spec in args.sizes.split(","):
        d, exp = map(int, spec.split(":"))
        m = d * exp
        x = torch.randn(args.batch_size, d)
        row = {"d_in": d, "expansion": exp, "latents": m}
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
