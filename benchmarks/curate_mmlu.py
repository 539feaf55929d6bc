"""Curation quality on MMLU: which space finds held-out domains and subjects from 50 seeds?

For each target (MMLU's 4 domains and 10 single subjects) and each of `--draws` seed draws,
50 questions of the target are held out as seeds (`saescope.curate.evaluate.seed_pool_split`,
rng `1000 + draw`); the pool is every other question (14,044 - 50). Each method ranks the pool
with the library's own `fit_space` / `FittedSpace.score` / `candidate_order` (what `saescope
curate` runs, in memory). Reported per budget b (100, 500): precision@b (fraction of the top b
from the target), the best attainable `min(1, |target in pool| / b)`, the gain over the
centered-embedding baseline and the share of the gap between that baseline and the best
attainable that a method closes (`evaluate.gap_closed`), and the worst target's gain.
Intervals: 95% t-intervals over the draws (each draw's mean over the targets).

Tuning split (no figure is reported on what chose it): the PU classifier's C and feedback
(`PUConfig.c`, `PUConfig.feedback`) were chosen on the 4 domains x draws 0-1 with the
`--train issue` SAE (`--tune` reruns that sweep); the manifold ranking's neighbours and
propagation weight (`GraphConfig.k`, `GraphConfig.alpha`) on the same cells (`--tune-graph`
reruns that sweep); the lexical channel's weight, its propagation weight and the self-trained
classifier's C (`GraphConfig.text_weight`, `text_alpha`, `feedback_c`) on the 4 domains
and 10 other subjects (`TUNE_SUBJECTS`, drawn with `numpy.random.default_rng(0)` from the 47
subjects not reported) x draws 0-1 (`--tune-text` reruns that sweep). The "held out" rows are
the 10 reported subjects x all draws, which played no part in any choice. The "14 targets,
draws 2-4" rows are every target on the draws no choice used (the domains' draws 0-1 were tuning
cells, their draws 2-4 were not). The "all" rows (14 targets x all draws) include the tuning
cells and are printed for completeness. `--from-json FILE` prints the tables again from a run's
`--out` file without recomputing it.

`embedding-graph` gets the questions' texts (its lexical channel, as `saescope curate` does
when seeds and pool have a text column); `embedding-graph-notext` is the same space on the
embeddings alone.

The SAE (TopK) is trained once on the embeddings of all questions, without labels (the seeds
are 50 of the rows it saw, as in a curation where the SAE is trained on the pool):
- `--train default`: `TrainConfig()` as shipped (what `saescope train pool.parquet` does);
- `--train issue`: k 32, 1,536 latents, 30 epochs, batch 512 (issue 17's setting).

    python benchmarks/curate_mmlu.py --train default [--draws 5] [--threads 1]
    python benchmarks/curate_mmlu.py --train issue --tune   # the (C, feedback) sweep, tuning cells
    python benchmarks/curate_mmlu.py --from-json run.json   # the tables of a saved run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

SUBJECTS = (
    "high school biology", "professional law", "high school us history", "college computer science",
    "clinical knowledge", "high school macroeconomics", "world religions", "astronomy",
    "nutrition", "moral scenarios",
)  # fmt: skip
TUNE_SUBJECTS = (
    "abstract algebra", "anatomy", "college biology", "computer security", "electrical engineering",
    "elementary mathematics", "high school mathematics", "high school statistics", "management",
    "prehistory",
)  # fmt: skip
"""`sorted(numpy.random.default_rng(0).choice(sorted(other 47 subjects), 10, replace=False))`."""
NO_TEXT = "-notext"
"""Method-name suffix: the space without the rows' texts."""
APPROX = "-approx"
"""Method-name suffix: `embedding-graph` with `GraphConfig(index="approx")` (faiss HNSW)."""
DSIR = "dsir"
"""The real DSIR (`data-selection` on PyPI, Xie et al. 2023, the `bench` extra): hashed word
unigrams and bigrams (10,000 buckets, its defaults), the seeds' texts as the target, the pool's
as the raw data, the pool ranked by its log importance weights (top-B, no resampling noise, no
minimum length: MMLU questions are shorter than its 100-token default). Same seed-duplicate rule."""
METHODS = ("embedding-graph", "embedding-graph-notext", "sae-pu", "sae-enrich", "sae-centered", "sae", "embedding", "embedding-centered",
           "embedding-pu", "random")  # fmt: skip
BASELINE = "embedding-centered"
BUDGETS = (100, 500)
GRAPH_GRID = [(k, a) for k in (10, 20) for a in (0.8, 0.9, 0.95, 0.99)]
"""(`GraphConfig.k`, `alpha`) pairs of the `--tune-graph` sweep (the choice: 20, 0.95)."""
TEXT_GRID = [(w, a, C) for w in (0.5, 1.0) for a in (0.9, 0.95) for C in (0.1,)] + [(0.5, 0.9, 0.03)]
"""(`GraphConfig.text_weight`, `text_alpha`, `feedback_c`) of the `--tune-text` sweep (the choice: 0.5, 0.9, 0.1)."""
TUNE_GRID = [(C, fb) for C in (0.01, 0.03, 0.1, 1.0) for fb in (0, 1, 3)]
"""(`PUConfig.c`, `feedback`) pairs of the `--tune` sweep (the choice: 0.03, 3)."""


def embeddings(cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X, ids, subject, domain, text) of all MMLU questions, MiniLM embeddings cached in `cache`."""
    import pyarrow.parquet as pq

    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import embed_table
    from saescope.data.vectors import read_vectors

    if not cache.is_file():
        t0 = time.perf_counter()
        embed_table(load_mmlu(), cache, model="minilm", progress=True)
        print(f"embedded MMLU in {time.perf_counter() - t0:.0f} s -> {cache}")
    vt = read_vectors(cache)
    meta = pq.read_table(cache, columns=["subject", "domain", "text"])
    return (vt.X, np.asarray(vt.ids, dtype=str), np.asarray(meta["subject"].to_pylist()),
            np.asarray(meta["domain"].to_pylist()), np.asarray(meta["text"].to_pylist(), dtype=object))


INFLATE_PACKAGES = ("numpy", "scipy", "sklearn", "pandas", "networkx", "sympy", "torch", "matplotlib")
"""Installed packages whose docstrings make the other corpus of `--inflate` (no MMLU subject)."""


def docstring_corpus(n: int) -> list[str]:
    """`n` first paragraphs (8 words or more, unique) of the docstrings of `INFLATE_PACKAGES`'
    modules, functions and classes (parsed, not imported), shuffled with rng 0: rows of a corpus
    that is not MMLU, available offline, to inflate the pool so that the targets are rare."""
    import ast
    import importlib.util
    import re

    seen: dict[str, None] = {}
    for pkg in INFLATE_PACKAGES:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        for f in sorted(Path(spec.submodule_search_locations[0]).rglob("*.py")):
            if "tests" in f.parts:
                continue
            try:
                tree = ast.parse(f.read_text(encoding="utf-8", errors="ignore"))
            except (SyntaxError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    para = re.sub(r"\s+", " ", doc.strip().split("\n\n")[0]).strip() if doc else ""
                    if len(para.split()) >= 8:
                        seen.setdefault(para, None)
    texts = list(seen)
    np.random.default_rng(0).shuffle(texts)
    if len(texts) < n:
        raise SystemExit(f"--inflate {n}: only {len(texts)} docstring paragraphs found")
    return texts[:n]


def inflated(X, ids, subject, texts, n: int, cache: Path):
    """MMLU's arrays with `n` docstring rows appended (subject `other corpus`), MiniLM embeddings
    of those rows cached in `cache` by a hash of their texts."""
    import pyarrow as pa

    from saescope.data.embed import embed_table
    from saescope.data.vectors import read_vectors

    listed = cache / f"docstrings_{hashlib.sha256(str(INFLATE_PACKAGES).encode()).hexdigest()[:10]}.json"
    if not listed.is_file():  # parsing the packages takes minutes
        listed.write_text(json.dumps(docstring_corpus(n)))
    extra = json.loads(listed.read_text())
    if len(extra) < n:
        extra = docstring_corpus(n)
        listed.write_text(json.dumps(extra))
    extra = extra[:n]
    key = hashlib.sha256("\n".join(extra).encode()).hexdigest()[:10]
    path = cache / f"docstrings_{n}_{key}.parquet"
    if not path.is_file():
        t0 = time.perf_counter()
        embed_table(pa.table({"id": [f"doc-{i}" for i in range(n)], "text": extra}), path, model="minilm",
                    progress=True)
        print(f"embedded {n} docstring paragraphs in {time.perf_counter() - t0:.0f} s -> {path}")
    vt = read_vectors(path)
    return (np.vstack([X, vt.X]).astype(np.float32), np.concatenate([ids, np.asarray(vt.ids, dtype=str)]),
            np.concatenate([subject, np.full(n, "other corpus")]),
            np.concatenate([texts, np.asarray(extra, dtype=object)]))


def train_config(which: str):
    from saescope.sae import SAEConfig, TrainConfig

    if which == "default":
        return TrainConfig(device="cpu")
    return TrainConfig(sae=SAEConfig(arch="topk", k=32, num_latents=1536), epochs=30,
                       batch_size=512, device="cpu")


def trained_sae(X: np.ndarray, which: str, cache: Path):
    """The SAE for `--train which`, trained once into a folder named by its config's hash."""
    from saescope.io import read_json
    from saescope.sae import SparseAutoencoder, train_sae

    cfg = train_config(which)
    key = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:10]
    out = cache / f"mmlu_sae_{which}_{key}"
    if not (out / "cfg.json").is_file():
        t0 = time.perf_counter()
        train_sae(X, cfg, out_dir=out, overwrite=True, progress=False)
        print(f"trained in {time.perf_counter() - t0:.0f} s -> {out}")
    m = read_json(out / "metrics.json")
    print(f"SAE --train {which}: {json.dumps({k: v for k, v in cfg.to_dict().items() if k != 'sae'})}, "
          f"sae={json.dumps(cfg.sae.to_dict())}; validation fvu={m['fvu']:.3f} l0={m['l0']:.1f} "
          f"dead={m['dead_fraction']:.3f} steps={m.get('steps')}")
    return SparseAutoencoder.load(out).eval()


def run_targets(X, ids, targets, methods, sae, draws, n_seeds, texts=None, **fit_kw):
    """{target: DrawResults} over the given targets (methods ending in `NO_TEXT`: without texts;
    in `APPROX`: approximate neighbours; `DSIR`: `dsir_over_draws`)."""
    from saescope.curate.evaluate import precision_over_draws
    from saescope.curate.spaces import GraphConfig

    out = {}
    plain = [m for m in methods if not m.endswith((NO_TEXT, APPROX)) and m != DSIR]
    variants = {NO_TEXT: ({"use_text": False}, texts), APPROX: ({"graph": GraphConfig(index="approx")}, texts)}
    for key, is_t in targets.items():
        t0 = time.perf_counter()
        out[key] = precision_over_draws(X, ids, is_t, plain, BUDGETS, draws, n_seeds, sae=sae,
                                        texts=texts, **fit_kw)
        for suffix, (extra, tx) in variants.items():
            names = [m for m in methods if m.endswith(suffix)]
            if names:
                r = precision_over_draws(X, ids, is_t, [m.removesuffix(suffix) for m in names], BUDGETS,
                                         draws, n_seeds, sae=sae, texts=tx, **fit_kw, **extra)
                out[key].precision.update({m: r.precision[m.removesuffix(suffix)] for m in names})
                out[key].seconds.update({m: r.seconds[m.removesuffix(suffix)] for m in names})
        if DSIR in methods:
            out[key].precision[DSIR], out[key].seconds[DSIR] = dsir_over_draws(is_t, texts, draws, n_seeds)
        p = {m: np.mean(out[key].precision[m][100]) for m in methods}
        print(f"  {key:40s} " + " ".join(f"{m}={v:.2f}" for m, v in p.items())
              + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


def dsir_over_draws(is_t: np.ndarray, texts: np.ndarray, draws: int, n_seeds: int
                    ) -> tuple[dict[int, list[float]], list[float]]:
    """DSIR's precision at each budget and its seconds (fit + weights) per draw, on the draws of
    `precision_over_draws` (same split, same seed-duplicate rule, same tie-break)."""
    import json
    import tempfile

    from data_selection import HashedNgramDSIR

    from saescope.curate.evaluate import seed_duplicate_mask, seed_pool_split
    from saescope.curate.select import candidate_order

    prec: dict[int, list[float]] = {b: [] for b in BUDGETS}
    secs = []
    for r in range(draws):
        seed_rows, pool = seed_pool_split(is_t, n_seeds, np.random.default_rng(1000 + r))
        pool_rows = np.flatnonzero(pool)
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for name, rows in (("target", seed_rows), ("raw", pool_rows)):
                paths[name] = f"{tmp}/{name}.jsonl"
                with open(paths[name], "w") as f:
                    f.writelines(json.dumps({"text": str(texts[i])}) + "\n" for i in rows)
            t0 = time.perf_counter()
            dsir = HashedNgramDSIR([paths["raw"]], [paths["target"]], cache_dir=f"{tmp}/cache", num_proc=1,
                                   min_example_length=0)
            dsir.fit_importance_estimator(num_tokens_to_fit="all")
            dsir.compute_importance_weights()
            w = np.load(f"{tmp}/cache/log_importance_weights/0.npy")
            secs.append(time.perf_counter() - t0)
        w = np.where(seed_duplicate_mask(texts[seed_rows], texts[pool_rows]), np.nan, w)
        order = candidate_order(np.array([f"r{i}" for i in pool_rows]), w, tie_seed=r)
        for b in BUDGETS:
            prec[b].append(float(is_t[pool_rows][order[:b]].mean()))
    return prec, secs


def graph_variant(spec: str):
    """`GraphConfig` from `key=value` pairs joined by `+` (e.g. `node_sample=seeded+second_pass=20`;
    empty: the defaults); values are typed as the field's default."""
    from dataclasses import fields

    from saescope.curate.spaces import GraphConfig

    types = {f.name: type(f.default) for f in fields(GraphConfig)}
    kw = {}
    for pair in filter(None, spec.split("+")):
        k, v = pair.split("=", 1)
        kw[k] = types[k](v)
    return GraphConfig(**kw)


def full_pool_reference(X, ids, targets, draws, n_seeds, texts, full: float, cache: Path | None) -> dict:
    """`{target: DrawResults}` of the default and the baseline fitted on `full` of the pool; read
    from / written to `cache` (JSON, valid for the same targets, draws, seeds and fraction)."""
    from saescope.curate.evaluate import precision_over_draws

    key = {"targets": sorted(targets), "draws": draws, "n_seeds": n_seeds, "full": full}
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        if saved["key"] == key:
            print(f"full-pool reference read from {cache}")
            return load_results(saved["results"])
    ref = {k: precision_over_draws(X, ids, is_t, ["embedding-graph", BASELINE], BUDGETS, draws, n_seeds,
                                   texts=texts, fit_sample=full) for k, is_t in targets.items()}
    if cache is not None:
        cache.write_text(json.dumps({"key": key, "results": {k: {"precision": r.precision, "best": r.best}
                                                             for k, r in ref.items()}}))
    return ref


def at_scale(X, ids, targets, draws, n_seeds, texts, fractions: list[float], variants: list[str],
             ref_cache: Path | None = None) -> None:
    """The default and the baseline fitted on a uniform fraction of the pool (the graph's nodes are
    then that sample, as `saescope curate` samples `fit_sample` rows of a larger pool), scoring
    the whole pool: precision, and the share of the default's full-pool gain over the baseline
    that it keeps (`(p_f - base_f) / (p_1 - base_1)`, per budget, mean over targets and draws;
    the interval is over the draws). The full-pool rows (fraction 1) are fitted once with the
    default `GraphConfig`: every variant's extra nodes are then already nodes, so they are the
    same for all (tests/curate/test_curate_space_params.py checks it)."""
    from saescope.curate.evaluate import precision_over_draws

    methods = ["embedding-graph", BASELINE]
    full = max(fractions)
    ref = full_pool_reference(X, ids, targets, draws, n_seeds, texts, full, ref_cache)
    print(f"\n#### at scale: the graph fitted on a fraction of the pool ({len(targets)} targets x "
          f"{draws} draws; full-pool rows: fit sample {full:g})\n")
    print("| graph variant | fit sample | budget | embedding-graph | embedding-centered | gain | "
          "kept share of the full-pool gain (95% interval over draws) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def per_draw(res, m, b):  # [draws], mean over targets
        return np.mean([res[k].precision[m][b] for k in targets], axis=0)

    for spec in variants:
        graph = graph_variant(spec)
        for f in fractions:
            t0 = time.perf_counter()
            res = ref if f == full else {
                k: precision_over_draws(X, ids, is_t, methods, BUDGETS, draws, n_seeds, texts=texts,
                                        fit_sample=f, graph=graph) for k, is_t in targets.items()}
            for b in BUDGETS:
                g_full = per_draw(ref, "embedding-graph", b) - per_draw(ref, BASELINE, b)
                gain = per_draw(res, "embedding-graph", b) - per_draw(res, BASELINE, b)
                kept = t_interval(gain / np.where(g_full == 0, np.nan, g_full)) if len(gain) > 1 else (
                    float(gain.mean() / g_full.mean()) if g_full.mean() else float("nan"), float("nan"))
                share = np.mean(gain) / np.mean(g_full) if np.mean(g_full) else float("nan")
                print(f"| {spec or 'default'} | {f:g} | {b} | {per_draw(res, 'embedding-graph', b).mean():.3f} | "
                      f"{per_draw(res, BASELINE, b).mean():.3f} | {gain.mean():+.3f} | {share:.0%}"
                      + (f" ({kept[0]:.0%} +- {kept[1]:.0%})" if draws > 1 else "") + " |", flush=True)
            print(f"<!-- {spec or 'default'} at {f:g}: {time.perf_counter() - t0:.0f} s -->", flush=True)


def t_interval(v: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(v) < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def table(res: dict, keys: list[str], methods, draw_idx: list[int], title: str) -> None:
    """Markdown table: per method and budget, precision, gain and gap closed with intervals."""
    from saescope.curate.evaluate import gap_closed

    print(f"\n#### {title} ({len(keys)} targets x {len(draw_idx)} draws)\n")
    print("| method | budget | best attainable | precision | vs centered baseline | gap closed | worst target |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for b in BUDGETS:
        P = {m: np.array([[res[k].precision[m][b][r] for r in draw_idx] for k in keys]) for m in methods}
        best = np.mean([res[k].best[b] for k in keys])
        base = P[BASELINE].mean(axis=0)  # per draw, mean over targets
        for m in methods:
            per_draw = P[m].mean(axis=0)
            mu, h = t_interval(per_draw)
            d_mu, d_h = t_interval(per_draw - base)
            g_mu, g_h = t_interval(np.array([gap_closed(a, c, best) for a, c in zip(per_draw, base, strict=True)]))
            worst = float((P[m] - P[BASELINE]).mean(axis=1).min())
            print(f"| {m} | {b} | {best:.3f} | {mu:.3f} +- {h:.3f} | {d_mu:+.3f} +- {d_h:.3f} | "
                  f"{g_mu:+.0%} +- {g_h:.0%} | {worst:+.3f} |")


def report(res: dict, n_draws: int, methods: list[str]) -> None:
    """The benchmark's tables: held-out subjects, every target on the untuned draws, all cells,
    and precision@100 per target."""
    draws = list(range(n_draws))
    subj = [k for k in res if k.startswith("subject")]
    table(res, subj, methods, draws, "held out: the 10 reported subjects, used for no choice")
    if n_draws > 2:
        table(res, list(res), methods, draws[2:],
              "held out: all 14 targets on draws 2+ (no tuning cell)")
    table(res, list(res), methods, draws, "all 14 targets (the 4 domains x draws 0-1 are tuning cells)")
    print("\n#### precision@100 per target (mean over draws)\n")
    print("| target | " + " | ".join(methods) + " | best |")
    print("|---" * (len(methods) + 2) + "|")
    for k, r in res.items():
        print(f"| {k} | " + " | ".join(f"{np.mean(r.precision[m][100]):.3f}" for m in methods)
              + f" | {r.best[100]:.3f} |")


def load_results(saved: dict) -> dict:
    """`{target: DrawResults}` from the `results` of an `--out` file (JSON keys are strings)."""
    from saescope.curate.evaluate import DrawResults

    return {k: DrawResults(budgets=BUDGETS,
                           precision={m: {int(b): v for b, v in per.items()}
                                      for m, per in r["precision"].items()},
                           best={int(b): v for b, v in r["best"].items()})
            for k, r in saved.items()}


def tune(X, ids, domain, sae, n_seeds) -> None:
    """The (C, feedback) sweep of `sae-pu` on the tuning cells only (4 domains x draws 0-1)."""
    from saescope.curate.spaces import PUConfig
    from saescope.data.builtin import MMLU_DOMAINS

    targets = {f"domain: {d}": domain == d for d in MMLU_DOMAINS}
    for C, fb in TUNE_GRID:
        print(f"C={C} feedback={fb}")
        r = run_targets(X, ids, targets, ("sae-pu", BASELINE), sae, 2, n_seeds,
                        pu=PUConfig(c=C, feedback=fb))
        table(r, list(targets), ("sae-pu", BASELINE), [0, 1], f"tuning cells, sae-pu C={C} feedback={fb}")


def tune_graph(X, ids, domain, n_seeds) -> None:
    """The (k, alpha) sweep of `embedding-graph` on the tuning cells only (4 domains x draws 0-1)."""
    from saescope.curate.spaces import GraphConfig
    from saescope.data.builtin import MMLU_DOMAINS

    targets = {f"domain: {d}": domain == d for d in MMLU_DOMAINS}
    for k, a in GRAPH_GRID:
        r = run_targets(X, ids, targets, ("embedding-graph", BASELINE), None, 2, n_seeds,
                        graph=GraphConfig(k=k, alpha=a))
        table(r, list(targets), ("embedding-graph", BASELINE), [0, 1], f"tuning cells, k={k} alpha={a}")


def tune_text(X, ids, subject, domain, texts, n_seeds) -> None:
    """The lexical channel's sweep (`TEXT_GRID`) on its tuning cells: 4 domains and the 10
    `TUNE_SUBJECTS` x draws 0-1."""
    from saescope.curate.spaces import GraphConfig
    from saescope.data.builtin import MMLU_DOMAINS

    targets = {f"domain: {d}": domain == d for d in MMLU_DOMAINS}
    targets.update({f"tuning subject: {s}": subject == s for s in TUNE_SUBJECTS})
    for w, a, C in TEXT_GRID:
        r = run_targets(X, ids, targets, ("embedding-graph", BASELINE), None, 2, n_seeds, texts=texts,
                        graph=GraphConfig(text_weight=w, text_alpha=a, feedback_c=C))
        table(r, list(targets), ("embedding-graph", BASELINE), [0, 1],
              f"tuning cells, text weight={w} alpha={a} C={C}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", choices=("default", "issue"), default="default")
    ap.add_argument("--draws", type=int, default=5, help="seed draws per target")
    ap.add_argument("--n-seeds", type=int, default=50)
    ap.add_argument("--cache", type=Path, default=None, help="folder for embeddings and SAEs")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--tune", action="store_true", help="only the C sweep on the tuning cells")
    ap.add_argument("--tune-graph", action="store_true", help="only the graph sweep on the tuning cells")
    ap.add_argument("--tune-text", action="store_true", help="only the lexical-channel sweep on its tuning cells")
    ap.add_argument("--out", type=Path, default=None, help="write the per-draw figures as JSON")
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--max-targets", type=int, default=0,
                    help="only the first N of the 10 reported subjects (0: the 4 domains and 10 subjects)")
    ap.add_argument("--fit-sample", default=None,
                    help="comma-separated pool fractions (e.g. 1,0.1,0.02): only the at-scale table")
    ap.add_argument("--graph-variants", default="",
                    help="with --fit-sample: comma-separated GraphConfig variants, each `key=value` pairs "
                         "joined by `+` (e.g. `,node_sample=seeded+second_pass=20`; empty: the defaults)")
    ap.add_argument("--inflate", type=int, default=0,
                    help="with --fit-sample: append this many docstring paragraphs (not MMLU) to the pool")
    ap.add_argument("--ref-cache", type=Path, default=None,
                    help="with --fit-sample: JSON file keeping the full-pool reference rows between runs")
    ap.add_argument("--tuning-subjects", type=int, default=0,
                    help="with --fit-sample: the first N of the 10 tuning subjects instead of the reported ones")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="print the tables of a saved `--out` file instead of running")
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        report(load_results(saved["results"]), int(saved["args"]["draws"]),
               [m for m in saved["args"]["methods"].split(",") if m])
        return

    import torch
    from threadpoolctl import threadpool_limits

    from saescope.data.builtin import MMLU_DOMAINS
    from saescope.data.models import default_cache_dir

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    cache = args.cache or default_cache_dir() / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    X, ids, subject, domain, texts = embeddings(cache / "mmlu_minilm.parquet")
    if args.tune_graph:
        tune_graph(X, ids, domain, args.n_seeds)
        return
    if args.tune_text:
        tune_text(X, ids, subject, domain, texts, args.n_seeds)
        return
    methods = [m for m in args.methods.split(",") if m]
    needs_sae = args.tune or (not args.fit_sample and any(m.startswith("sae") for m in methods))
    sae = trained_sae(X, args.train, cache) if needs_sae else None
    if args.tune:
        tune(X, ids, domain, sae, args.n_seeds)
        return
    targets = {f"domain: {d}": domain == d for d in MMLU_DOMAINS}
    targets.update({f"subject: {s}": subject == s for s in SUBJECTS})
    if args.max_targets:
        targets = {f"subject: {s}": subject == s for s in SUBJECTS[: args.max_targets]}
    if args.fit_sample:
        if args.inflate:
            X, ids, subject, texts = inflated(X, ids, subject, texts, args.inflate, cache)
            targets = {k: np.r_[v, np.zeros(args.inflate, bool)] for k, v in targets.items()}
            print(f"pool inflated with {args.inflate:,} docstring paragraphs: {len(X):,} rows")
        if args.tuning_subjects:
            targets = {f"tuning subject: {s}": subject == s for s in TUNE_SUBJECTS[: args.tuning_subjects]}
        fracs = sorted((float(f) for f in args.fit_sample.split(",")), reverse=True)
        at_scale(X, ids, targets, args.draws, args.n_seeds, texts, fracs, args.graph_variants.split(","),
                 args.ref_cache)
        return
    t0 = time.perf_counter()
    res = run_targets(X, ids, targets, methods, sae, args.draws, args.n_seeds, texts=texts)
    print(f"\nall targets in {time.perf_counter() - t0:.0f} s; {args.draws} draws of {args.n_seeds} "
          f"seeds; SAE --train {args.train}")
    report(res, args.draws, methods)
    n_pool = len(X) - args.n_seeds
    print("\n#### cost: seconds to fit and score the pool, per pool row (mean over the cells)\n")
    for m in methods:
        sec = np.mean([np.mean(r.seconds[m]) for r in res.values() if r.seconds.get(m)])
        print(f"- {m}: {sec:.1f} s a cell, {sec / n_pool * 1e3:.3f} ms a pool row ({args.threads} thread(s))")
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                        "results": {k: {"precision": r.precision, "best": r.best}
                                                    for k, r in res.items()}}, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
