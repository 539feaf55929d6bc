"""Which SAE latents predict "STEM" among MMLU questions? `saescope hypotheses` on MMLU domains.

The SAE (TopK) is trained once on the MiniLM embeddings of all 14,042 questions without labels
(as HypotheSAEs trains its SAE on the whole corpus). For each of `--draws` train/held-out splits
(50/50, disjoint by text), `run_hypotheses` selects `--n-select` latents on the training half
(L1 logistic regression) and tests each on the held-out half (correlation with 95% interval,
BH FDR 0.05). Reported per draw: discoveries, held-out AUROC of a logistic regression on the
selected latents beside one on the raw 384-d embedding (penalties by 5-fold CV on the training
half; 95% bootstrap intervals), and the top latents with their keyword explanations.

With the peer installed (`pip install --no-deps hypothesaes`, the `bench` extra), the same split
and codes also go through HypotheSAEs' own `select_neurons_lasso` (Movva et al. 2025), and the
held-out AUROC of its selection is printed beside ours (same downstream logistic regression).

    python benchmarks/hypotheses_mmlu.py [--draws 3] [--n-select 20] [--k 32] [--latents 1536] [--epochs 30]
        [--sae-dir DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def mmlu_vectors(cache: Path) -> Path:
    """The cached MiniLM embeddings of MMLU (id, embedding, text, subject, domain), made if missing."""
    if not cache.is_file():
        from saescope.data.builtin import load_mmlu
        from saescope.data.embed import embed_table

        embed_table(load_mmlu(), cache, model="minilm", progress=True)
    return cache


def _peer_selector():  # noqa: ANN202
    """HypotheSAEs' lasso selector, or None when the package is not installed."""
    try:
        from hypothesaes.select_neurons import select_neurons_lasso
    except ImportError:
        import importlib.util

        spec = importlib.util.find_spec("hypothesaes")
        if spec is None or not spec.submodule_search_locations:
            return None
        # The package's __init__ imports its LLM clients; the selector module needs only sklearn.
        path = Path(spec.submodule_search_locations[0]) / "select_neurons.py"
        mod_spec = importlib.util.spec_from_file_location("hypothesaes_select_neurons", path)
        mod = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(mod)
        select_neurons_lasso = mod.select_neurons_lasso
    return select_neurons_lasso


def _peer_auroc(cfg, ours: np.ndarray, seed: int) -> dict | None:  # noqa: ANN001
    """Held-out AUROC of HypotheSAEs' selection on the split and codes `run_hypotheses` used."""
    select = _peer_selector()
    if select is None:
        return None
    from saescope.data.splits import group_split
    from saescope.hypotheses.outcome import read_outcome
    from saescope.hypotheses.pipeline import heldout_score
    from saescope.hypotheses.select import scale_codes
    from saescope.sae import SparseAutoencoder, encode_csr

    t0 = time.perf_counter()
    outcome = read_outcome(cfg)
    train, test = group_split(outcome.groups, cfg.test_fraction, cfg.seed)
    codes = encode_csr(SparseAutoencoder.load(cfg.sae), outcome.X).tocsr()
    idx, _ = select(codes[train].toarray(), outcome.y[train], cfg.n_select, classification=True)
    idx = np.asarray(idx, dtype=np.int64)
    tr, scale = scale_codes(codes[train][:, idx])
    te, _ = scale_codes(codes[test][:, idx], scale)
    score = heldout_score(tr, outcome.y[train], te, outcome.y[test], True, seed)
    return {"auroc": score["value"], "ci": score["ci"], "latents": idx.tolist(),
            "overlap": int(len(set(idx.tolist()) & set(ours.tolist()))), "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--latents", type=int, default=1536)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--n-select", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--sae-dir", type=Path, default=None, help="Train the SAE here once and reuse it on a rerun.")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    from saescope.data.models import default_cache_dir
    from saescope.data.vectors import read_vectors
    from saescope.hypotheses import HypothesesConfig, run_hypotheses
    from saescope.sae import SAEConfig, TrainConfig, train_sae

    vectors = mmlu_vectors(default_cache_dir() / "bench" / "mmlu_minilm.parquet")
    work = Path(tempfile.mkdtemp(prefix="hyp-mmlu-"))
    sae_dir = args.sae_dir or work / "sae"
    if not (sae_dir / "cfg.json").exists():
        t0 = time.perf_counter()
        res = train_sae(read_vectors(vectors).X,
                        TrainConfig(sae=SAEConfig(arch="topk", k=args.k, num_latents=args.latents),
                                    epochs=args.epochs, batch_size=512, device="cpu"),
                        out_dir=sae_dir, overwrite=True, progress=False)
        print(f"SAE k={args.k} M={args.latents} epochs={args.epochs}: fvu={res.metrics['fvu']:.3f} "
              f"({time.perf_counter() - t0:.0f} s)")
    draws = []
    for seed in range(args.draws):
        t1 = time.perf_counter()
        cfg = HypothesesConfig(vectors=str(vectors), sae=str(sae_dir), label_field="domain", positive="STEM",
                               out=str(work / f"hyp{seed}"), n_select=args.n_select, seed=seed)
        m = run_hypotheses(cfg)
        import pyarrow.parquet as pq

        table = pq.read_table(work / f"hyp{seed}" / "hypotheses.parquet").to_pandas()
        a, ci = m["auroc"], m["auroc_ci"]
        print(f"draw {seed}: {m['n_significant']}/{m['n_tested']} significant; held-out AUROC selected "
              f"{a['selected_features']:.3f} [{ci['selected_features'][0]:.3f}, {ci['selected_features'][1]:.3f}], "
              f"raw embedding {a['raw_embedding']:.3f} [{ci['raw_embedding'][0]:.3f}, {ci['raw_embedding'][1]:.3f}] "
              f"({time.perf_counter() - t1:.0f} s)")
        for _, r in table.head(8).iterrows():
            print(f"   #{int(r.latent):5d} effect {r.effect:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] q {r.q:.1e} "
                  f"purity {r.purity:.2f}  {r.explanation}")
        peer = _peer_auroc(cfg, table.latent.to_numpy(), seed)
        if peer is not None:
            print(f"   HypotheSAEs select_neurons_lasso on the same split: held-out AUROC {peer['auroc']:.3f} "
                  f"[{peer['ci'][0]:.3f}, {peer['ci'][1]:.3f}], {peer['overlap']} of its latents also chosen here "
                  f"({peer['seconds']:.0f} s)")
        draws.append({"seed": seed, "manifest": m, "top": table.head(10).to_dict("records"), "hypothesaes": peer})
    sel = np.array([d["manifest"]["auroc"]["selected_features"] for d in draws])
    raw = np.array([d["manifest"]["auroc"]["raw_embedding"] for d in draws])
    nsig = np.array([d["manifest"]["n_significant"] for d in draws])
    print(f"\nover {args.draws} draws: significant {nsig.mean():.1f} of {args.n_select}; held-out AUROC "
          f"selected latents {sel.mean():.3f} (min {sel.min():.3f}, max {sel.max():.3f}), raw embedding "
          f"{raw.mean():.3f} (min {raw.min():.3f}, max {raw.max():.3f})")
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "draws": draws},
                                       indent=2, default=str))


if __name__ == "__main__":
    main()
