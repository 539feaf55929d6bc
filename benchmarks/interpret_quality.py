"""Interpretation quality on MMLU + MiniLM + a topk SAE.

Prints (and writes to OUT/bench.json):
1. the mean embedding-scorer AUROC of `keywords` explanations over latents that fire at least
   20 times, beside the shuffled-explanation baseline (same scorer, another latent's explanation);
2. the keywords explainer's speed in latents per minute;
3. with --llm: an end-to-end `llm` run on --llm-latents latents, with the local smollm2 model or,
   with --llm-base-url, any OpenAI-compatible server (e.g. `transformers serve FOLDER`):
   explanations by the LLM, their parse rate, and their scores beside the keywords explainer's
   on the same latents (embedding scorer and, with --llm-scorers, detection).

Scores follow one rule (see saescope.interpret.scorers): the headline is activating vs random
non-activating test texts, hard negatives are the `_hard` column, and latents with fewer than
`min_test_positives` activating test texts are left out (low support).

    python benchmarks/interpret_quality.py --out runs/bench_interpret [--llm] [--llm-latents 20]
        [--llm-base-url http://127.0.0.1:PORT/v1 --llm-model FOLDER]

Embeddings and the SAE are cached in OUT and reused on a rerun; LLM answers are cached on disk.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_interpret"))
    ap.add_argument("--emb", type=Path, default=None, help="MMLU MiniLM embeddings Parquet (id, embedding, text) to reuse.")
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--expansion", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--min-fires", type=int, default=20)
    ap.add_argument("--llm", action="store_true", help="Also run the smollm2 end-to-end check.")
    ap.add_argument("--llm-latents", type=int, default=20)
    ap.add_argument("--llm-scorers", default="embedding,detection")
    ap.add_argument("--llm-batch-size", type=int, default=20, help="Texts per detection request.")
    ap.add_argument("--llm-base-url", default=None, help="OpenAI-compatible server (default: local smollm2).")
    ap.add_argument("--llm-model", default="smollm2", help="Model name on the server (or a local model).")
    ap.add_argument("--llm-examples", type=int, default=8, help="Activating examples in an explainer prompt.")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--llm-timeout", type=float, default=600.0, help="Seconds per LLM request (slow CPU servers).")
    ap.add_argument("--skip-keywords", action="store_true", help="Reuse OUT/keywords from an earlier run.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}

    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import Embedder, embed_table
    from saescope.data.models import default_cache_dir
    from saescope.data.vectors import read_vectors
    from saescope.interpret import (
        InterpretConfig,
        KeywordsExplainer,
        ScorerConfig,
        interpret_vectors,
    )
    from saescope.interpret.config import ExplainPromptConfig
    from saescope.interpret.examples import collect_examples
    from saescope.interpret.explain import explain_with_keywords
    from saescope.sae import SAEConfig, SparseAutoencoder, TrainConfig, encode_csr, train_sae

    cached = default_cache_dir() / "bench" / "mmlu_minilm.parquet"
    emb_path = args.emb or (cached if cached.exists() else args.out / "mmlu_minilm.parquet")
    if not emb_path.exists():
        t = time.time()
        embed_table(load_mmlu(), emb_path, model="minilm", progress=True)
        print(f"embedded MMLU in {time.time() - t:.0f} s")
    vt = read_vectors(emb_path)
    X = vt.X
    ids = [str(i) for i in vt.ids]
    texts = vt.meta["text"].to_pylist()
    print(f"data: {len(X)} MMLU questions, d={X.shape[1]}")

    sae_dir = args.out / "sae"
    if not (sae_dir / "sae.safetensors").exists():
        t = time.time()
        cfg = TrainConfig(
            sae=SAEConfig(arch="topk", k=args.k, expansion_factor=args.expansion),
            epochs=args.epochs,
            batch_size=256,
            device="cpu",
            seed=args.seed,
        )
        res = train_sae(X, cfg, out_dir=sae_dir, progress=True, overwrite=True)
        print(f"trained topk SAE in {time.time() - t:.0f} s: {res.metrics}")
    sae = SparseAutoencoder.load(sae_dir)
    print(f"SAE: {sae.num_latents} latents, k={sae.cfg.k}")
    results["sae"] = json.loads((sae_dir / "metrics.json").read_text()) if (sae_dir / "metrics.json").exists() else {}

    embedder = Embedder("minilm", device="cpu")

    codes = encode_csr(sae, X)
    out_kw = args.out / "keywords"
    if not args.skip_keywords:
        # Keywords explainer speed (explanations only, all live latents).
        ex = collect_examples(codes, X)
        kw = KeywordsExplainer().fit(texts)
        live = [int(lat) for lat, n in zip(ex.latents, ex.n_fires, strict=True) if n > 0]
        # Timed as run_interpret does it: chunks of 64 latents, texts vectorised per chunk.
        t = time.time()
        for s in range(0, len(live), 64):
            explain_with_keywords(kw, ex, live[s : s + 64], texts)
        dt = time.time() - t
        speed = len(live) / dt * 60
        print(f"keywords explainer: {len(live)} latents in {dt:.2f} s = {speed:,.0f} latents/minute")
        results["keywords_latents_per_minute"] = speed

        # 1. keywords + embedding scorer over all latents.
        t = time.time()
        interpret_vectors(
            sae, X, ids, texts, out_kw,
            InterpretConfig(explainer="keywords", scorers=("embedding",), seed=args.seed, overwrite=True),
            codes=codes, embed=embedder.encode,
        )
        print(f"keywords run: {time.time() - t:.0f} s")
    lat = pq.read_table(out_kw / "latents.parquet").to_pandas()
    sel = lat[(lat.n_fires >= args.min_fires) & lat.embedding.notna()]
    from saescope.interpret.metrics import mean_ci

    m, lo, hi = mean_ci(sel.embedding.to_numpy())
    bm, blo, bhi = mean_ci(sel.embedding_baseline.to_numpy())
    wins = float((sel.embedding > sel.embedding_baseline).mean())
    print(
        f"keywords / embedding AUROC over {len(sel)} latents firing >= {args.min_fires} times: "
        f"{m:.3f} (95% CI {lo:.3f}-{hi:.3f}); shuffled-explanation baseline {bm:.3f} "
        f"(95% CI {blo:.3f}-{bhi:.3f}); explanation beats its baseline on {wins:.0%} of latents"
    )
    results["keywords_embedding"] = {
        "latents": int(len(sel)), "mean": m, "ci": [lo, hi], "baseline_mean": bm,
        "baseline_ci": [blo, bhi], "win_rate": wins,
    }
    for _, r in sel.sort_values("embedding", ascending=False).head(5).iterrows():
        print(f"  latent {r.latent:5d} AUROC {r.embedding:.2f}  n={r.n_fires:5d}  {r.explanation}")

    # 2. smollm2 end to end.
    if args.llm:
        out_llm = args.out / ("llm-server" if args.llm_base_url else "smollm2")
        cfg = InterpretConfig(
            explainer="llm",
            llm_model=args.llm_model,
            llm_base_url=args.llm_base_url,
            explain_prompt=ExplainPromptConfig(n_positive=args.llm_examples),
            scorers=tuple(args.llm_scorers.split(",")),
            latents=str(args.llm_latents),
            min_fires=args.min_fires,
            seed=args.seed,
            overwrite=True,
            concurrency=args.concurrency,
            llm_timeout=args.llm_timeout,
            scoring=ScorerConfig(batch_size=args.llm_batch_size, seed=args.seed),
        )
        t = time.time()
        s = interpret_vectors(sae, X, ids, texts, out_llm, cfg, codes=codes, embed=embedder.encode)
        secs = time.time() - t
        man = json.loads((out_llm / "manifest.json").read_text())
        lat2 = pq.read_table(out_llm / "latents.parquet").to_pandas()
        live2 = lat2[lat2.status != "dead"]
        parse_rate = float((live2.status == "ok").mean())
        print(f"{man['model']} run on {len(lat2)} latents: {secs:.0f} s, {man['llm_stats']}")
        print(f"  status: {lat2.status.value_counts().to_dict()}; parse rate {parse_rate:.0%}")
        for name, v in s["scores"].items():
            print(f"  {name}: mean {v['mean']} CI {v['ci']} baseline {v['baseline_mean']} "
                  f"({v['n_latents']} latents, unparsed answers {v.get('unparsed_answers', 0)})")
        # The keywords explanations of the same latents, scored the same way, for comparison.
        same = lat.set_index("latent").loc[lat2.latent]
        print(f"  keywords on the same latents: embedding {np.nanmean(same.embedding):.3f} "
              f"baseline {np.nanmean(same.embedding_baseline):.3f}")
        for _, r in lat2.head(8).iterrows():
            print(f"  latent {r.latent:5d}: {r.explanation!r}  (keywords: {same.loc[r.latent].explanation!r})")
        results["llm"] = {"model": man["model"], "seconds": secs, "summary": s, "llm_stats": man["llm_stats"],
                          "parse_rate": parse_rate,
                              "keywords_same_latents_embedding": float(np.nanmean(same.embedding))}

    (args.out / "bench.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"wrote {args.out / 'bench.json'}")


if __name__ == "__main__":
    main()
