"""FineScope's own setting: curation from LLM activations (SmolLM2) beside MiniLM embeddings.

`--n` MMLU questions (default 3,000, sampled by subject with a fixed seed) are run once through
SmolLM2-135M to block `--layer` (default 15 of 30); two mean poolings come out of the same
forward pass and are cached (safetensors) so a rerun skips the LLM:

- `act-first-kept`: every token, the first included (what `saescope activations` did before:
  SmolLM2's tokenizer adds no BOS, so the first real token, the attention sink that carries the
  massive activations, went into every document vector);
- `act-first-skipped`: the first position left out (`ActivationExtractor(skip_first=True)`, now
  the default; Sun et al. 2024, "Massive Activations in Large Language Models");
- `act-first-skipped-std`: that, standardised per dimension (z-scores over the `--n` questions),
  for the massive activations that remain on other tokens (delimiters).

MiniLM embeddings of the same questions come from `benchmarks/curate_mmlu.py`'s cache. For each
representation a TopK SAE is trained on all `--n` vectors without labels (k 32, 4x latents,
`--epochs` 30, batch 256: the issue's setting; the rest `TrainConfig()` defaults, validation
FVU printed). Targets: the 4 MMLU domains; `--draws` draws of 50 seeds held out of the pool.
Methods: `embedding-graph` (manifold ranking on the vectors' kNN graph, with the questions'
words as its lexical channel; `embedding-graph-notext` without them), `sae-pu`, `sae-enrich`, `sae-centered` (SAE space), `embedding` (raw vectors),
`embedding-centered`, `embedding-pu` (the same PU classifier on the centred vectors alone),
`random`. Precision at budgets 100, 300 and 500, mean over targets x draws with a 95% interval
(t over the per-draw means across targets). No hyperparameter is tuned here: every method runs
with the library's defaults (chosen on MiniLM in curate_mmlu.py).

Token-level rows (issue 26; `--token-steps 0` leaves them out): the same forward also keeps
every question's per-token block-`--layer` rows with the first position left out (float32, as
`activations --per-token --dtype float32` writes them; cached beside the pooled file). A TopK SAE
(k 32, 4x latents: the pooled rows' setting; `--token-steps` fixed steps, the rest
`TrainConfig()` defaults; `--token-standardize` on = `train --input-standardize`) is trained on
the tokens of 90% of the questions and validated on the tokens of the other 10% (held out
whole). Every question is then described by its tokens' codes pooled `max` and `mean`
(`saescope.sae.encode.pool_token_codes`, what `encode --pool-tokens HOW --dense` writes) and
curated by `--token-methods` over those dense codes: `embedding` (cosine), `embedding-centered`,
`embedding-pu` (the PU classifier on the dense codes), and the SAE spaces `sae-pu` / `sae-enrich`
that read the pooled codes as the token SAE's codes (`saescope.sae.encode.PooledCodesSAE`, what
`curate --sae` runs on `encode --pool-tokens --dense` output). Nothing of it is tuned on these
figures.

    python benchmarks/curate_activations.py [--n 3000] [--layer 15] [--draws 5] [--threads 1]
        [--token-steps 1000] [--token-standardize on|off|on,off]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

METHODS = ("embedding-graph", "embedding-graph-notext", "sae-pu", "sae-enrich", "sae-centered", "embedding", "embedding-centered",
           "embedding-pu", "random")  # fmt: skip
BUDGETS = (100, 300, 500)
POOLINGS = ("act-first-kept", "act-first-skipped")


def sample_questions(n: int, seed: int = 0):
    """`n` MMLU questions sampled by subject (the demo's stratified rule)."""
    import pyarrow as pa

    from saescope.data.builtin import load_mmlu

    table = load_mmlu()
    rng = np.random.default_rng(seed)
    subjects = np.asarray(table["subject"].to_pylist())
    keep: list[int] = []
    for s in np.unique(subjects):
        rows = np.flatnonzero(subjects == s)
        k = max(1, int(round(len(rows) * n / table.num_rows)))
        keep.extend(rng.choice(rows, size=min(k, len(rows)), replace=False).tolist())
    return table.take(pa.array(sorted(keep)))


def extract(table, layer: int, path: Path, batch_size: int) -> dict[str, np.ndarray]:
    """Both poolings of block `layer` and the per-token rows (first position left out, as
    `activations --per-token --dtype float32` writes them) from one SmolLM2 forward per batch,
    cached in `path` and its `_tokens` sibling; the token rows come back under `tokens` (float32
    [tokens, d]) and `token_doc` (int64 [tokens], the question's row)."""
    from safetensors.numpy import load_file, save_file

    from saescope.data.activations import ActivationExtractor

    tok_path = path.with_name(path.stem + "_tokens.safetensors")
    if path.is_file() and tok_path.is_file():
        return {**load_file(str(path)), **load_file(str(tok_path))}
    ex = ActivationExtractor("smollm2", layers=[layer], batch_size=batch_size, device="cpu",
                             skip_first=False, dtype="float32")  # the dtype of the figures
    texts = table["text"].to_pylist()
    ids = ex._tokenize(texts)
    out = {p: np.zeros((len(ids), ex.hidden_size), np.float32) for p in POOLINGS}
    per_doc: dict[int, np.ndarray] = {}
    t0, done = time.perf_counter(), 0
    for batch in ex._batches(ids):
        hidden, _, valid = ex._forward([ids[i] for i in batch])
        H = hidden[ex.layers[0]]
        out["act-first-kept"][batch] = ex.pool(H, valid).cpu().numpy()
        rest = valid.clone()
        rest[:, 0] &= valid[:, 1:].sum(dim=1) == 0
        out["act-first-skipped"][batch] = ex.pool(H, rest).cpu().numpy()
        H_np, rest_np = H.cpu().numpy(), rest.cpu().numpy()
        for row, doc in enumerate(batch):
            per_doc[int(doc)] = H_np[row, rest_np[row]]
        done += len(batch)
        if done % 256 < batch_size:
            print(f"  activations {done}/{len(ids)} ({done / (time.perf_counter() - t0):.1f} q/s)", flush=True)
    print(f"SmolLM2 layer {layer}: {len(ids)} questions in {time.perf_counter() - t0:.0f} s")
    toks = {"tokens": np.concatenate([per_doc[i] for i in range(len(ids))]).astype(np.float32),
            "token_doc": np.concatenate([np.full(len(per_doc[i]), i, np.int64) for i in range(len(ids))])}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(path))
    save_file(toks, str(tok_path))
    return {**out, **toks}


def minilm_rows(table, cache: Path) -> np.ndarray:
    """MiniLM embeddings of the sampled questions from curate_mmlu.py's cache (by id)."""
    from saescope.data.vectors import read_vectors

    vt = read_vectors(cache)
    pos = {str(i): k for k, i in enumerate(vt.ids)}
    return vt.X[[pos[str(i)] for i in table["id"].to_pylist()]]


def train(X: np.ndarray, out: Path, epochs: int) -> float:
    """TopK k 32, 4x latents, batch 256, `epochs`; returns the validation FVU."""
    from saescope.io import read_json
    from saescope.sae import SAEConfig, TrainConfig, train_sae

    if not (out / "sae.safetensors").is_file():
        cfg = TrainConfig(sae=SAEConfig(arch="topk", k=32, expansion_factor=4), epochs=epochs,
                          batch_size=256, device="cpu", checkpoint_every=0)
        train_sae(X, cfg, out_dir=out, overwrite=True, progress=False)
    return float(read_json(out / "metrics.json")["fvu"])


TOKEN_POOLINGS = ("max", "mean")
TOKEN_METHODS = ("embedding", "embedding-centered", "embedding-pu", "sae-pu", "sae-enrich")


def train_tokens(T: np.ndarray, doc: np.ndarray, out: Path, steps: int, standardize: bool
                 ) -> dict:
    """TopK SAE on token rows `T` (k 32, 4x latents: the pooled rows' setting; `steps` fixed,
    the rest `TrainConfig()` defaults), validated on the tokens of 10% of the questions held
    out whole (seeded); returns metrics.json."""
    from saescope.io import read_json
    from saescope.sae import SAEConfig, TrainConfig, train_sae

    if not (out / "sae.safetensors").is_file():
        n_docs = int(doc.max()) + 1
        val_docs = np.random.default_rng(0).choice(n_docs, size=n_docs // 10, replace=False)
        is_val = np.isin(doc, val_docs)
        cfg = TrainConfig(sae=SAEConfig(arch="topk", k=32, expansion_factor=4), steps=steps,
                          device="cpu", checkpoint_every=0, input_standardize=standardize)
        t0 = time.perf_counter()
        train_sae(T[~is_val], cfg, val_data=T[is_val], out_dir=out, overwrite=True, progress=False)
        print(f"  token SAE {out.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return read_json(out / "metrics.json")


def pooled_token_codes(T: np.ndarray, doc: np.ndarray, sae, how: str) -> np.ndarray:
    """Dense [questions, M] codes: the token rows' SAE codes pooled per question by
    `saescope.sae.encode.pool_token_codes` (what `encode --pool-tokens HOW --dense` writes)."""
    from saescope.sae.encode import TokenPooling, encode_csr, pool_token_codes

    pooled = pool_token_codes(encode_csr(sae, T), doc, TokenPooling(how=how))
    dense = np.zeros((int(doc.max()) + 1, pooled.codes.shape[1]), np.float32)
    dense[pooled.doc_ids.astype(np.int64)] = pooled.codes.toarray()
    return dense


def evaluate(X: np.ndarray, sae, domain: np.ndarray, ids: np.ndarray, draws: int,
             n_seeds: int, methods: tuple[str, ...] = METHODS, texts: np.ndarray | None = None
             ) -> dict[str, dict[int, list[float]]]:
    """{method: {budget: per (target, draw) precision}}, targets in MMLU_DOMAINS order;
    `embedding-graph` gets the questions' `texts` (its lexical channel), `embedding-graph-notext`
    is the same space without them."""
    from saescope.curate.select import candidate_order
    from saescope.curate.spaces import fit_space
    from saescope.data.builtin import MMLU_DOMAINS

    res: dict[str, dict[int, list[float]]] = {m: {b: [] for b in BUDGETS} for m in methods}
    for target in MMLU_DOMAINS:
        is_t = domain == target
        for r in range(draws):
            rng = np.random.default_rng(1000 + r)
            seed_rows = rng.choice(np.flatnonzero(is_t), size=n_seeds, replace=False)
            mask = np.ones(len(X), bool)
            mask[seed_rows] = False
            for m in methods:
                kw = {}
                if m == "embedding-graph" and texts is not None:
                    kw = {"seed_texts": texts[seed_rows].tolist(), "pool_texts": texts[mask].tolist()}
                space = fit_space(m.removesuffix("-notext"), X[seed_rows], X[mask], sae=sae, seed=r, **kw)
                s = space.score(X[mask], ids[mask], kw.get("pool_texts")).score
                order = candidate_order(ids[mask], s, tie_seed=r)
                for b in BUDGETS:
                    res[m][b].append(float(is_t[mask][order[:b]].mean()))
    return res


def interval(per_target_draw: list[float], draws: int) -> tuple[float, float]:
    """Mean and 95% half-width over the draws (each draw's mean over the targets)."""
    from scipy import stats

    a = np.asarray(per_target_draw).reshape(-1, draws).mean(axis=0)
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0
    return float(a.mean()), half


def token_rows(T: np.ndarray, doc: np.ndarray, domain: np.ndarray, ids: np.ndarray, args,
               cache: Path) -> list[tuple]:
    """Rows of the token-level SAE: for each input_standardize setting and each pooling, the
    questions as dense pooled codes, scored by `--token-methods`."""
    from saescope.data.activations import variance_shares
    from saescope.sae import SparseAutoencoder
    from saescope.sae.encode import PooledCodesSAE

    rows = []
    share = variance_shares(T)[0]
    print(f"token rows: {len(T)} tokens of {int(doc.max()) + 1} questions (first position left out); "
          f"top-1 dimension holds {share:.1%} of the variance", flush=True)
    for std in args.token_standardize.split(","):
        out = cache / f"mmlu{args.n}_tokens_L{args.layer}_sae_k32x4_s{args.token_steps}_std{std}"
        met = train_tokens(T, doc, out, args.token_steps, std == "on")
        print(f"  token SAE std={std}: val FVU {met['fvu']:.3f}, L0 {met['l0']:.1f}, "
              f"dead {met['dead_fraction']:.1%}, train FVU {met['train_fvu']:.3f}", flush=True)
        sae = SparseAutoencoder.load(out).eval()
        for how in TOKEN_POOLINGS:
            X = pooled_token_codes(T, doc, sae, how)
            methods = tuple(m for m in args.token_methods.split(",") if m)
            # the SAE spaces read the pooled codes as the token SAE's codes (`curate --sae` on
            # `encode --pool-tokens --dense` output)
            res = evaluate(X, PooledCodesSAE(sae), domain, ids, args.draws, args.n_seeds, methods)
            rows.append((f"token-sae{'-std' if std == 'on' else ''} {how}-pooled codes", share,
                         float(met["fvu"]), res))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="MMLU questions")
    ap.add_argument("--layer", type=int, default=15)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--n-seeds", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16, help="LLM forward batch")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--extract-only", action="store_true")
    ap.add_argument("--reps", default="minilm,act-first-kept,act-first-skipped,act-first-skipped-std",
                    help="representations to evaluate")
    ap.add_argument("--methods", default=",".join(METHODS), help="spaces to evaluate")
    ap.add_argument("--token-steps", type=int, default=1000,
                    help="steps of the token-level SAE (0: no token-level rows)")
    ap.add_argument("--token-standardize", default="on",
                    help="token SAE input_standardize: on, off or on,off (both rows)")
    ap.add_argument("--token-methods", default=",".join(TOKEN_METHODS),
                    help="spaces over the dense pooled token codes")
    args = ap.parse_args()

    import torch

    from saescope.data.activations import dominant_dimensions, variance_shares
    from saescope.data.models import default_cache_dir
    from saescope.sae import SparseAutoencoder

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    cache = args.cache or default_cache_dir() / "bench"
    table = sample_questions(args.n)
    acts = extract(table, args.layer, cache / f"mmlu{args.n}_smollm2_L{args.layer}.safetensors",
                   args.batch_size)
    if args.extract_only:
        return
    skipped = acts["act-first-skipped"]
    std = ((skipped - skipped.mean(axis=0)) / (skipped.std(axis=0) + 1e-6)).astype(np.float32)
    reps = {"minilm": minilm_rows(table, cache / "mmlu_minilm.parquet"), **acts,
            "act-first-skipped-std": std}
    reps = {k: v for k, v in reps.items() if k in args.reps.split(",")}
    domain = np.asarray(table["domain"].to_pylist())
    ids = np.asarray([str(i) for i in table["id"].to_pylist()])
    rows = []
    for name, X in reps.items():
        shares = variance_shares(X)
        fvu = train(X, cache / f"mmlu{args.n}_{name}_L{args.layer}_sae_k32x4_e{args.epochs}", args.epochs)
        sae = SparseAutoencoder.load(cache / f"mmlu{args.n}_{name}_L{args.layer}_sae_k32x4_e{args.epochs}").eval()
        print(f"{name}: top-1 dimension holds {shares[0]:.1%} of the variance, top-3 {shares[:3].sum():.1%}; "
              f"SAE validation FVU {fvu:.3f}; warning: {dominant_dimensions(X) is not None}", flush=True)
        methods = tuple(m for m in args.methods.split(",") if m)
        res = evaluate(X, sae, domain, ids, args.draws, args.n_seeds, methods,
                       np.asarray(table["text"].to_pylist(), dtype=object))
        rows.append((name, shares[0], fvu, res))
    if args.token_steps > 0:
        rows += token_rows(acts["tokens"], acts["token_doc"], domain, ids, args, cache)
    print(f"\n### {args.n} MMLU questions, 4 domains x {args.draws} draws of {args.n_seeds} seeds, "
          f"SmolLM2 layer {args.layer}; precision, mean and 95% interval over draws\n")
    print("| representation | top-1 dim variance | SAE val FVU | method | "
          + " | ".join(f"p@{b}" for b in BUDGETS) + " |")
    print("| --- | --- | --- | --- |" + " --- |" * len(BUDGETS))
    for name, top1, fvu, res in rows:
        for m in res:
            cells = [interval(res[m][b], args.draws) for b in BUDGETS]
            print(f"| {name} | {top1:.1%} | {fvu:.3f} | {m} | "
                  + " | ".join(f"{mu:.3f} +- {h:.3f}" for mu, h in cells) + " |")


if __name__ == "__main__":
    main()
