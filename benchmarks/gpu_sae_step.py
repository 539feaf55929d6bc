"""GPU benchmark: TopK SAE training-step throughput (tokens per second).

Measures, in one process on one GPU:
  - naive: a dense PyTorch TopK SAE (encoder matmul, topk, scatter, dense decoder), Adam;
  - limit: the bf16 encoder matmul alone, and matmul + torch.topk (forward only);
  - project: the project's own training step, when PROJECT_SAE names it as
    "module:function"; function(d_in, num_latents, k, device) returns step(x), one full
    training step (forward, backward, optimizer, decoder renorm) on a batch x [B, d_in].

Usage: python gpu_sae_step.py [--sizes 768:32:32:8192,...]   (d_in:expansion:k:batch)
Writes $OUT/sae_step_bench.json when OUT is set.

Reference on one H100 80GB (torch 2.11, bf16 autocast, fp32 master weights, Adam), tokens/s:
  size (d_in/latents/k/batch)   naive      EleutherAI sparsify   matmul+topk fwd   matmul fwd
  768/24576/32/8192             1.37M      1.00M                 4.0M              18.7M
  2048/65536/64/8192            0.30M      0.24M                 1.21M             2.7M
  4096/131072/64/4096           73k        74k                   420k              676k
The target is a full training step at least 3x sparsify at 768/24576 (3.0M tokens/s) and
at least 2x at the larger sizes, with identical results to the plain PyTorch path.
"""
import argparse
import importlib
import json
import os
import sys
import time

import torch
import torch.nn.functional as F


def timed(step, warmup=5, iters=30):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters


def naive_sae(d, m, k, device):
    W_enc = torch.nn.Parameter(torch.randn(m, d, device=device) / d**0.5)
    b_enc = torch.nn.Parameter(torch.zeros(m, device=device))
    W_dec = torch.nn.Parameter(W_enc.data.clone())
    b_dec = torch.nn.Parameter(torch.zeros(d, device=device))
    params = [W_enc, b_enc, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=1e-4, fused=True)

    def step(x):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            pre = F.relu(F.linear(x - b_dec, W_enc, b_enc))
            vals, idx = pre.topk(k, dim=-1, sorted=False)
            dense = torch.zeros_like(pre).scatter_(-1, idx, vals)
            out = dense @ W_dec + b_dec
        e = x - out.float()
        loss = e.pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def limits(d, m, k, device, x):
    W = torch.randn(m, d, device=device, dtype=torch.bfloat16)
    xb = x.to(torch.bfloat16)

    def mm():
        return xb @ W.T

    def mm_topk():
        return (xb @ W.T).topk(k, dim=-1, sorted=False)

    return timed(mm), timed(mm_topk)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="768:32:32:8192,2048:32:64:8192,4096:32:64:4096")
    args = ap.parse_args()
    device = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    print("device:", torch.cuda.get_device_name(), "torch", torch.__version__)
    extra = os.environ.get("PROJECT_SAE")
    results = []
    for spec in args.sizes.split(","):
        d, exp, k, b = map(int, spec.split(":"))
        m = d * exp
        x = torch.randn(b, d, device=device)
        row = {"d_in": d, "latents": m, "k": k, "batch": b}
        flops = 2 * b * d * m
        t_mm, t_mm_topk = limits(d, m, k, device, x)
        row["limit_matmul_tok_s"] = b / t_mm
        row["limit_matmul_topk_tok_s"] = b / t_mm_topk
        row["matmul_tflops"] = flops / t_mm / 1e12
        cands = {"naive": naive_sae}
        if extra:
            mod, fn = extra.split(":")
            cands["project"] = getattr(importlib.import_module(mod), fn)
        for name, make in cands.items():
            try:
                step = make(d, m, k, device)
                t = timed(lambda: step(x))  # noqa: B023 (called within the iteration)
                row[f"{name}_tok_s"] = b / t
                row[f"{name}_ms"] = t * 1e3
                row[f"{name}_peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
            except Exception as exc:  # report, keep going
                row[f"{name}_error"] = repr(exc)[:300]
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        print(json.dumps(row), flush=True)
        results.append(row)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "sae_step_bench.json"), "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
