"""A small but real run folder (MMLU questions, MiniLM, a trained SAE) for tests and quick looks.

`build_sample_run(out)` embeds a few hundred MMLU questions with all-MiniLM-L6-v2, trains a
small TopK SAE with `saescope.sae.train_sae`, explains and scores its latents with
`saescope.interpret.run_interpret` (keywords + embedding scorer, offline) and curates the STEM
questions with `saescope.curate.run_curate` (SAE space, embedding and random baselines).
If the interpret or curate package cannot be imported (a partial install), that stage's
documented files (docs/architecture.md) are written by a small stand-in from the same codes
(`"explainer": "sample-run"`), and `stand_ins` in run.json says which.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from saescope.io import atomic_path, write_json
from saescope.rundir import RunLayout
from saescope.viz import analysis

STOP = set("""a an the of and or to in on for with by is are was were be been which what
who whom whose that this these those it its as at from into than then there their they he she
his her not no yes if but do does did can could would should will shall may might must have has
had following following: one two following? about following. all any each most more many
""".split())


def _write_parquet(df: pd.DataFrame | pa.Table, path: Path) -> None:
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def build_data(lay: RunLayout, n_per_domain: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    from saescope.data.builtin import load_mmlu
    from saescope.data.embed import Embedder
    from saescope.data.shards import vectors_to_arrow

    mmlu = load_mmlu().to_pandas()
    rng = np.random.default_rng(seed)
    parts = []
    for _, g in mmlu.groupby("domain", sort=True):
        parts.append(g.iloc[np.sort(rng.choice(len(g), size=min(n_per_domain, len(g)), replace=False))])
    meta = pd.concat(parts).reset_index(drop=True)
    meta["split"] = np.where(rng.random(len(meta)) < 0.8, "train", "val")
    X = Embedder("minilm", device="cpu").encode(meta["text"].tolist())
    table = pa.table({"id": meta["id"].astype(str), "embedding": vectors_to_arrow(X),
                      "text": meta["text"], "subject": meta["subject"], "domain": meta["domain"],
                      "split": meta["split"]})
    _write_parquet(table, lay.data)
    return X, meta


def build_sae(lay: RunLayout, X: np.ndarray, meta: pd.DataFrame, num_latents: int, k: int,
              steps: int, seed: int) -> Any:
    from saescope.sae import SAEConfig, TrainConfig, train_sae

    train = X[(meta["split"] == "train").to_numpy()]
    val = X[(meta["split"] == "val").to_numpy()]
    cfg = TrainConfig(sae=SAEConfig(arch="topk", k=k, num_latents=num_latents), batch_size=64,
                      steps=steps, log_every=max(1, steps // 20), checkpoint_every=0, seed=seed,
                      device="cpu", lr=2e-3)
    return train_sae(train, cfg, val_data=val, out_dir=lay.sae, progress=False).sae


def codes_of(sae: Any, X: np.ndarray):
    from saescope.sae import encode_csr

    return encode_csr(sae, X, batch_size=1024)


def _keywords(texts: list[str], n: int = 3) -> str:
    words = Counter(w for t in texts for w in set(re.findall(r"[a-z]{4,}", t.lower())) if w not in STOP)
    return ", ".join(w for w, _ in words.most_common(n)) or "(no keywords)"


def build_interpret_standin(lay: RunLayout, sae: Any, X: np.ndarray, meta: pd.DataFrame,
                            seed: int) -> None:
    """latents.parquet, examples.parquet, summary.json, manifest.json per the documented schema."""
    codes = codes_of(sae, X).tocsc()
    n, M = codes.shape
    rng = np.random.default_rng(seed)
    W = analysis.l2_normalize(sae.W_dec.detach().numpy())
    dec_sim = W @ W.T
    np.fill_diagonal(dec_sim, -np.inf)
    texts, ids = meta["text"].tolist(), meta["id"].astype(str).tolist()
    lat_rows, ex_rows = [], []
    for m in range(M):
        rows = codes.indices[codes.indptr[m]:codes.indptr[m + 1]]
        acts = codes.data[codes.indptr[m]:codes.indptr[m + 1]]
        order = np.argsort(-acts, kind="stable")
        rows, acts = rows[order], acts[order]
        similar = np.argsort(-dec_sim[m])[:5].astype(np.int32)
        base: dict[str, Any] = {"latent": m, "density": len(rows) / n, "n_fires": len(rows),
                                "top_ids": [ids[r] for r in rows[:10]],
                                "top_acts": acts[:10].astype(np.float32).tolist(),
                                "family": int(min(m, similar[0])), "similar_latents": similar.tolist()}
        if len(rows) < 3:
            lat_rows.append({**base, "status": "dead" if len(rows) == 0 else "failed: too few examples",
                             "explanation": "", "explainer": "sample-run",
                             "embedding": np.nan, "embedding_lo": np.nan, "embedding_hi": np.nan,
                             "embedding_baseline": np.nan})
            continue
        top = rows[:10]
        quant = rows[10:][np.linspace(0, max(0, len(rows) - 11), num=min(5, max(0, len(rows) - 10)),
                                      dtype=int)] if len(rows) > 10 else np.zeros(0, int)
        firing = set(rows.tolist())
        neg_pool = np.array([i for i in range(n) if i not in firing])
        neg = rng.choice(neg_pool, size=min(5, len(neg_pool)), replace=False) if len(neg_pool) else []
        act_of = dict(zip(rows.tolist(), acts.tolist(), strict=True))
        for kind, sel in (("top", top), ("quantile", quant), ("random_negative", neg)):
            for j, r in enumerate(sel):
                ex_rows.append({"latent": m, "id": ids[r], "text": texts[r],
                                "activation": float(act_of.get(int(r), 0.0)), "kind": kind,
                                "split": "explain" if j % 2 == 0 else "test"})
        # Stand-in score: AUROC of the latent's activation for its top subject vs the rest.
        subj = meta["subject"].to_numpy()
        target = Counter(subj[top]).most_common(1)[0][0]
        score = _auroc(np.asarray(codes[:, m].todense()).ravel(), subj == target)
        boot = [_auroc(np.asarray(codes[b, m].todense()).ravel(), subj[b] == target)
                for b in (rng.integers(0, n, n) for _ in range(20))]
        lat_rows.append({**base, "status": "ok", "explanation": _keywords([texts[r] for r in top]),
                         "explainer": "sample-run", "embedding": score,
                         "embedding_lo": float(np.nanpercentile(boot, 2.5)),
                         "embedding_hi": float(np.nanpercentile(boot, 97.5)),
                         "embedding_baseline": 0.5})
    lat = pd.DataFrame(lat_rows)
    lat["latent"] = lat["latent"].astype(np.int32)
    lat["family"] = lat["family"].astype(np.int32)
    out = lay.interpret
    _write_parquet(lat, out / "latents.parquet")
    _write_parquet(pd.DataFrame(ex_rows), out / "examples.parquet")
    ok = lat[lat["status"] == "ok"]["embedding"].to_numpy()
    write_json(out / "summary.json", {
        "scores": {"embedding": {"mean": float(ok.mean()), "ci": [float(np.percentile(ok, 2.5)),
                                                                  float(np.percentile(ok, 97.5))],
                                 "baseline_mean": 0.5}},
        "counts": {"latents": int(M), "ok": int(len(ok)),
                   "dead": int((lat["status"] == "dead").sum())},
    })
    write_json(out / "manifest.json", {"explainer": "sample-run", "stand_in": True, "seed": seed})


def _auroc(score: np.ndarray, label: np.ndarray) -> float:
    from scipy.stats import rankdata

    pos, neg = label.sum(), (~label).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def build_curate_standin(lay: RunLayout, sae: Any, X: np.ndarray, meta: pd.DataFrame,
                         target: str, n_seeds: int, budget: int, seed: int) -> None:
    """selected.parquet, manifest.json, projection.parquet per the documented schema."""
    rng = np.random.default_rng(seed)
    dom = meta["domain"].to_numpy()
    cand = np.flatnonzero(dom == target)
    seeds = np.sort(rng.choice(cand, size=min(n_seeds, len(cand)), replace=False))
    pool = np.setdiff1d(np.arange(len(X)), seeds)
    C = analysis.l2_normalize(codes_of(sae, X).toarray())
    sims = C[pool] @ C[seeds].T
    centroid = analysis.l2_normalize(C[seeds].mean(axis=0, keepdims=True))[0]
    cen = C[pool] @ centroid
    order = np.argsort(-cen, kind="stable")[:budget]
    chosen = pool[order]
    clusters = analysis.kmeans_labels(C[chosen], 4, seed)
    sel = meta.iloc[chosen][["id", "text", "subject", "domain"]].reset_index(drop=True)
    sel["score"] = cen[order]
    sel["centroid_sim"] = cen[order]
    sel["max_sim"] = sims[order].max(axis=1)
    sel["nearest_seed"] = meta["id"].to_numpy()[seeds][sims[order].argmax(axis=1)]
    sel["cluster"] = clusters
    sel["rank"] = np.arange(1, len(sel) + 1)

    def metrics(rows: np.ndarray, V: np.ndarray) -> dict[str, Any]:
        Vn = analysis.l2_normalize(V)
        s = Vn[rows] @ analysis.l2_normalize(Vn[seeds].mean(axis=0, keepdims=True))[0]
        pc = analysis.pairwise_cosines(Vn[rows])
        hit = (dom[rows] == target).sum()
        prec, rec = hit / len(rows), hit / max(1, (dom[pool] == target).sum())
        return {"avg_similarity": float(s.mean()), "diversity": float(1 - pc.mean()),
                "precision": float(prec), "recall": float(rec),
                "f1": float(2 * prec * rec / (prec + rec)) if prec + rec else 0.0,
                "label_distribution": dict(Counter(dom[rows].tolist()))}

    E = analysis.l2_normalize(X)
    emb_order = pool[np.argsort(-(E[pool] @ analysis.l2_normalize(E[seeds].mean(0, keepdims=True))[0]))[:budget]]
    rand = rng.choice(pool, size=budget, replace=False)
    xy = analysis.pca_2d(X)
    role = np.full(len(X), "pool", dtype=object)
    role[chosen] = "selected"
    role[seeds] = "seed"
    proj = pd.DataFrame({"id": meta["id"].astype(str), "role": role, "label": dom,
                         "x": xy[:, 0], "y": xy[:, 1]})
    out = lay.curate
    _write_parquet(sel, out / "selected.parquet")
    _write_parquet(proj, out / "projection.parquet")
    write_json(out / "manifest.json", {
        "config": {"space": "sae", "budget": budget, "target": target, "label_field": "domain"},
        "stand_in": True, "n_seeds": len(seeds), "threshold": None,
        "metrics": metrics(chosen, C),
        "baselines": {"embedding": metrics(emb_order, C), "random": metrics(rand, C)},
    })


def build_interpret(lay: RunLayout, sae: Any, X: np.ndarray, meta: pd.DataFrame, seed: int) -> None:
    """The real `saescope interpret` stage: keywords explainer, embedding scorer (offline)."""
    from saescope.interpret import run_interpret
    from saescope.interpret.pipeline import InterpretConfig

    run_interpret(sae, X, meta["id"].astype(str).tolist(), meta["text"].tolist(), lay.interpret,
                  InterpretConfig(seed=seed, device="cpu"), progress=False)


def build_curate(lay: RunLayout, meta_path: Path, target: str, n_seeds: int, budget: int,
                 seed: int) -> None:
    """The real `saescope curate` stage: seeds from the target domain, the rest as the pool."""
    from saescope.curate.config import CurateConfig
    from saescope.curate.pipeline import run_curate

    table = pq.read_table(meta_path)
    dom = table["domain"].to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(seed)
    is_seed = np.zeros(len(dom), dtype=bool)
    is_seed[rng.choice(np.flatnonzero(dom == target), size=n_seeds, replace=False)] = True
    inputs = lay.root / "data"
    _write_parquet(table.filter(pa.array(is_seed)), inputs / "seeds.parquet")
    _write_parquet(table.filter(pa.array(~is_seed)), inputs / "pool.parquet")
    run_curate(CurateConfig(seeds=str(inputs / "seeds.parquet"), pool=str(inputs / "pool.parquet"),
                            out=str(lay.curate), budget=budget, sae=str(lay.sae), clusters=4,
                            label_field="domain", target=[target],
                            baselines=["embedding", "random"], device="cpu", seed=seed),
               progress=False)


def build_sample_run(out: str | Path, n_per_domain: int = 60, num_latents: int = 64, k: int = 8,
                     steps: int = 300, seed: int = 0) -> Path:
    """Write a complete small run folder under `out` and return its path.

    The interpret and curate stages use their real APIs; only when a stage's package cannot be
    imported (a partial install) is its stand-in writer used, and run.json says so.
    """
    import torch

    torch.manual_seed(seed)
    lay = RunLayout.paths(out)
    X, meta = build_data(lay, n_per_domain, seed)
    sae = build_sae(lay, X, meta, num_latents, k, steps, seed)
    stand_ins = []
    try:
        import saescope.interpret.pipeline  # noqa: F401
    except ImportError:
        build_interpret_standin(lay, sae, X, meta, seed)
        stand_ins.append("interpret")
    else:
        build_interpret(lay, sae, X, meta, seed)
    try:
        import saescope.curate.pipeline  # noqa: F401
    except ImportError:
        build_curate_standin(lay, sae, X, meta, "STEM", 20, 40, seed)
        stand_ins.append("curate")
    else:
        build_curate(lay, lay.data, "STEM", 20, 40, seed)
    write_json(Path(out) / "run.json", {"command": "saescope.viz.sample_run.build_sample_run",
                                        "config": {"n_per_domain": n_per_domain, "num_latents": num_latents,
                                                   "k": k, "steps": steps, "seed": seed},
                                        "stand_ins": stand_ins})
    return Path(out)


def ensure_sample_run(out: str | Path, **kwargs: Any) -> Path:
    """`build_sample_run(out)` unless `out` already holds a finished one (run.json is written last)."""
    out = Path(out)
    if (out / "run.json").is_file():
        return out
    return build_sample_run(out, **kwargs)
