"""Activation extraction throughput (tokens/s) for SmolLM2 on CPU.

Compares `ActivationExtractor.pooled` (length-sorted batches, hook after block L, forward
stopped there) with a plain full forward with `output_hidden_states=True` on the same
batches in input order. Token counts exclude padding.

    python benchmarks/activations_throughput.py --n 128 --layer 15
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="Number of MMLU questions.")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from saescope.data.activations import ActivationExtractor
    from saescope.data.builtin import load_mmlu
    from saescope.data.models import load_causal_lm

    t0 = time.perf_counter()
    model, tok = load_causal_lm("smollm2", device=args.device)
    print(f"model load: {time.perf_counter() - t0:.1f} s")
    texts = load_mmlu()["text"].to_pylist()[: args.n]
    n_tokens = sum(len(ids) for ids in tok(texts, truncation=True, max_length=512)["input_ids"])
    ex = ActivationExtractor(layers=[args.layer], pooling=args.pooling, batch_size=args.batch_size,
                             model_and_tokenizer=(model, tok))
    ex.pooled(texts[:8])  # warm-up

    t0 = time.perf_counter()
    ex.pooled(texts)
    ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(texts), args.batch_size):
            enc = tok(texts[s : s + args.batch_size], padding=True, truncation=True, max_length=512,
                      return_tensors="pt").to(args.device)
            model(**enc, output_hidden_states=True)
    plain = time.perf_counter() - t0

    print(f"device={args.device} torch_threads={torch.get_num_threads()} docs={len(texts)} "
          f"tokens={n_tokens} layer={args.layer}/{ex.num_layers} batch_size={args.batch_size}")
    print(f"ActivationExtractor.pooled({args.pooling}): {n_tokens / ours:8.1f} tokens/s ({ours:.1f} s)")
    print(f"plain forward, all hidden states, unsorted: {n_tokens / plain:8.1f} tokens/s ({plain:.1f} s)")


if __name__ == "__main__":
    main()
