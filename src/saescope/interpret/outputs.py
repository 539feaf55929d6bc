"""The files of a finished run: latents.parquet, examples.parquet, scored_examples.parquet,
summary and manifest dicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saescope import __version__
from saescope.interpret import metrics, prompts
from saescope.interpret.examples import KINDS, SPLITS, Examples
from saescope.interpret.llm import LLM
from saescope.io import atomic_path


def latent_status(ex: Examples, latents: np.ndarray, explanations: dict[int, dict[str, Any]]) -> tuple[list[str], list[str | None]]:
    """Status (`ok`, `dead` = never fires on this data, `no explanation: ...` = nothing distinctive
    to name, `failed: ...` = an error) and explanation per latent."""
    status: list[str] = []
    expl: list[str | None] = []
    for i, lat in enumerate(latents):
        if ex.n_fires[i] == 0:
            status.append("dead")
            expl.append(None)
            continue
        e = explanations[int(lat)]
        expl.append(e["explanation"])
        st = "ok" if e["explanation"] is not None else (e["error"] or "failed: no explanation")
        status.append(st if st.startswith(("ok", "failed", "no explanation")) else f"failed: {st}")
    return status, expl


def _score_columns(cfg: Any, latents: np.ndarray, scored: dict[int, dict[str, Any]]) -> dict[str, pa.Array]:
    score_cols: list[str] = []
    for name in cfg.scorers:
        score_cols += [name, f"{name}_lo", f"{name}_hi", f"{name}_baseline"]
    special = {"latent", "low_support", "n_test_positive"}
    extra_cols = sorted(
        {k for r in scored.values() for k in r
         if k not in special and k not in score_cols and not k.endswith("_error") and not k.startswith("_")}
    )
    cols: dict[str, pa.Array] = {}
    for c in score_cols + extra_cols:
        cols[c] = pa.array([_f(scored.get(int(lat), {}).get(c)) for lat in latents], pa.float64())
    if cfg.scorers:
        cols["n_test_positive"] = pa.array(
            [scored.get(int(lat), {}).get("n_test_positive", 0) for lat in latents], pa.int32()
        )
        cols["low_support"] = pa.array(
            [scored.get(int(lat), {}).get("low_support") for lat in latents], pa.bool_()
        )
    for name in cfg.scorers:
        errs = [scored.get(int(lat), {}).get(f"{name}_error") for lat in latents]
        if any(errs):
            cols[f"{name}_error"] = pa.array(errs, pa.string())
    return cols


def write_latents(out: Path, cfg: Any, ex: Examples, latents: np.ndarray, ids: np.ndarray,
                  explanations: dict[int, dict[str, Any]], scored: dict[int, dict[str, Any]],
                  families: np.ndarray, similar: np.ndarray) -> pa.Table:
    """latents.parquet: one row per selected latent (schema in docs/architecture.md)."""
    n_show = cfg.examples.n_top_explain
    status, expl = latent_status(ex, latents, explanations)
    top_ids, top_acts = [], []
    for i in range(len(latents)):
        ok = ex.top_rows[i, :n_show] >= 0
        top_ids.append([str(x) for x in ids[ex.top_rows[i, :n_show][ok]]])
        top_acts.append(ex.top_acts[i, :n_show][ok].astype(np.float32).tolist())
    cols: dict[str, pa.Array] = {
        "latent": pa.array(latents.astype(np.int32), pa.int32()),
        "density": pa.array(ex.density.astype(np.float64), pa.float64()),
        "n_fires": pa.array(ex.n_fires.astype(np.int64), pa.int64()),
        "status": pa.array(status, pa.string()),
        "explanation": pa.array(expl, pa.string()),
        "explainer": pa.array([cfg.explainer] * len(latents), pa.string()),
        "top_ids": pa.array(top_ids, pa.list_(pa.string())),
        "top_acts": pa.array(top_acts, pa.list_(pa.float32())),
    }
    cols.update(_score_columns(cfg, latents, scored))
    cols["family"] = pa.array(families[latents].astype(np.int32), pa.int32())
    cols["similar_latents"] = pa.array([list(map(int, s)) for s in similar], pa.list_(pa.int32()))
    table = pa.table(cols)
    with atomic_path(out / "latents.parquet") as tmp:
        pq.write_table(table, tmp)
    return table


def write_examples(out: Path, ex: Examples, ids: np.ndarray, texts: Sequence[str],
                   token_acts: tuple[list[list[str]], list[list[float]], list[int]] | None = None
                   ) -> None:
    """examples.parquet: every explain and test example of every latent; token-level runs add
    `tokens` (the window's tokens), `token_acts` (the latent's activation on each) and
    `token_index` (where the example's own token is in the window)."""
    cols = {
        "latent": pa.array(ex.latent.astype(np.int32), pa.int32()),
        "id": pa.array([str(x) for x in ids[ex.row]], pa.string()),
        "text": pa.array([texts[r] for r in ex.row], pa.string()),
        "activation": pa.array(ex.activation, pa.float32()),
        "kind": pa.array(np.asarray(KINDS, dtype=object)[ex.kind].tolist(), pa.string()),
        "split": pa.array(np.asarray(SPLITS, dtype=object)[ex.split].tolist(), pa.string()),
    }
    if token_acts is not None:
        cols["tokens"] = pa.array(token_acts[0], pa.list_(pa.string()))
        cols["token_acts"] = pa.array(token_acts[1], pa.list_(pa.float32()))
        cols["token_index"] = pa.array(token_acts[2], pa.int32())
    table = pa.table(cols)
    with atomic_path(out / "examples.parquet") as tmp:
        pq.write_table(table, tmp)


SCORED_EXAMPLES_SCHEMA = pa.schema([
    ("scorer", pa.string()), ("latent", pa.int32()), ("id", pa.string()), ("text", pa.string()),
    ("kind", pa.string()), ("activating", pa.bool_()), ("activation", pa.float32()),
    ("quantile", pa.int8()), ("prediction", pa.float64()), ("probability", pa.float64()),
    ("correct", pa.bool_()), ("baseline_prediction", pa.float64()),
])  # fmt: skip
"""scored_examples.parquet: one row per (per-text LLM scorer, latent, test example)."""


def _correct(scorer: str, prediction: float | None, activating: bool) -> bool | None:
    """Whether an answer is right: detection 1/0 = fires, prediction > 0 = fires (its F1's rule);
    None for simulation (a 0-10 guess is not right or wrong) and for no answer."""
    if prediction is None or scorer == "simulation":
        return None
    return bool(prediction > (0.5 if scorer == "detection" else 0.0)) == activating


def write_scored_examples(out: Path, cfg: Any, ex: Examples, latents: np.ndarray, ids: np.ndarray,
                          texts: list[str], scored: dict[int, dict[str, Any]]) -> None:
    """scored_examples.parquet: every answer of the per-text LLM scorers (detection, prediction,
    simulation) on every test example, with the example's kind, label, activation and quantile
    bin (`SCORED_EXAMPLES_SCHEMA`; the file delphi's per-example score files are made from).
    Not written (an old one removed) when no such scorer ran."""
    names = [n for n in cfg.scorers if n in ("detection", "prediction", "simulation")]
    if not names:  # an --overwrite run must not leave an older run's answers behind
        (out / "scored_examples.parquet").unlink(missing_ok=True)
        return
    cols: dict[str, list[Any]] = {f.name: [] for f in SCORED_EXAMPLES_SCHEMA}
    for name in names:
        for lat in latents:
            answers = scored.get(int(lat), {}).get("_answers", {}).get(name)
            if answers is None:
                continue
            t = ex.for_latent(int(lat), "test")
            n = len(t["row"])
            if len(answers["prediction"]) != n:
                raise AssertionError(f"latent {lat}: {len(answers['prediction'])} answers for {n} test examples")
            labels = t["label"].astype(bool).tolist()
            base = answers.get("baseline_prediction") or [None] * n
            cols["scorer"] += [name] * n
            cols["latent"] += [int(lat)] * n
            cols["id"] += [str(ids[r]) for r in t["row"]]
            cols["text"] += [texts[r] for r in t["row"]]
            cols["kind"] += [str(k) for k in t["kind"]]
            cols["activating"] += labels
            cols["activation"] += t["activation"].astype(float).tolist()
            cols["quantile"] += t["quantile"].astype(int).tolist()
            cols["prediction"] += answers["prediction"]
            cols["probability"] += answers.get("probability") or [None] * n
            cols["correct"] += [_correct(name, p, y) for p, y in zip(answers["prediction"], labels, strict=True)]
            cols["baseline_prediction"] += base
    table = pa.table({f.name: pa.array(cols[f.name], f.type) for f in SCORED_EXAMPLES_SCHEMA},
                     schema=SCORED_EXAMPLES_SCHEMA)
    with atomic_path(out / "scored_examples.parquet") as tmp:
        pq.write_table(table, tmp)


def summarise(cfg: Any, ex: Examples, table: pa.Table, n_latents_in_sae: int, families: np.ndarray,
              latents: np.ndarray) -> dict[str, Any]:
    """Mean score per scorer over the latents with enough support, with interval and baseline."""
    scores: dict[str, Any] = {}
    low = np.zeros(table.num_rows, dtype=bool)
    if "low_support" in table.column_names:
        low = np.asarray([bool(x) for x in table["low_support"].to_pylist()])
    for name in cfg.scorers:
        v = table[name].to_numpy(zero_copy_only=False)
        b = table[f"{name}_baseline"].to_numpy(zero_copy_only=False)
        mean, lo, hi = metrics.mean_ci(v, seed=cfg.seed)
        # Paired over the latents scored with both: how far the explanations sit above their
        # shuffled-explanation baseline, with the bootstrap interval of that mean difference.
        gain, gain_lo, gain_hi = metrics.mean_ci(v - np.where(np.isfinite(v), b, np.nan), seed=cfg.seed)
        scores[name] = {
            "mean": _f(mean),
            "ci": [_f(lo), _f(hi)],
            "baseline_mean": _f(np.nanmean(b[~low])) if np.isfinite(b[~low]).any() else None,
            "above_baseline": {"mean": _f(gain), "ci": [_f(gain_lo), _f(gain_hi)],
                               "n_latents": int(np.isfinite(v - b).sum())},
            "n_latents": int(np.isfinite(v).sum()),
            "n_low_support": int(low.sum()),
        }
        hard = f"{name}_hard"
        if hard in table.column_names:
            scores[name]["hard_mean"] = _f(np.nanmean(table[hard].to_numpy(zero_copy_only=False)))
        unp = f"{name}_unparsed"
        if unp in table.column_names:
            scores[name]["unparsed_answers"] = int(np.nansum(table[unp].to_numpy(zero_copy_only=False)))
    st = np.asarray(table["status"].to_pylist(), dtype=str)
    counts = {
        "latents_in_sae": int(n_latents_in_sae),
        "latents_selected": int(len(latents)),
        "ok": int((st == "ok").sum()),
        "dead": int((st == "dead").sum()),
        "no_explanation": int(np.char.startswith(st, "no explanation").sum()),
        "failed": int(np.char.startswith(st, "failed").sum()),
        "rows": int(ex.n_rows),
        "examples": int(len(ex.row)),
        "families": int(len(np.unique(families[latents]))),
    }
    return {"explainer": cfg.explainer, "scores": scores, "counts": counts,
            "min_test_positives": cfg.scoring.min_test_positives}


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def manifest(cfg: Any, sae: Any, ex: Examples, llm: LLM | None, summary: dict[str, Any], seconds: float,
             n_lat: int, sae_dead: dict[str, Any] | None) -> dict[str, Any]:
    """What ran, on what, with which seeds and sizes, at what cost."""
    stats = dict(llm.stats) if llm is not None else {}
    cost = (stats.get("prompt_tokens", 0) * cfg.price_in_per_mtok
            + stats.get("completion_tokens", 0) * cfg.price_out_per_mtok) / 1e6
    sae_info = None
    if sae is not None:
        sae_info = {"d_in": int(sae.d_in), "num_latents": int(sae.num_latents)}
        c = getattr(sae, "cfg", None)
        if c is not None:
            sae_info.update({k: getattr(c, k) for k in ("arch", "k") if hasattr(c, k)})
    return {
        "saescope_version": __version__,
        "stage": "interpret",
        "inputs": {"sae": cfg.sae, "data": cfg.data, "texts": cfg.texts, "out": cfg.out},
        "explainer": cfg.explainer,
        "model": llm.model_id if llm is not None else None,
        "embedder": cfg.embedder if "embedding" in cfg.scorers else None,
        "prompt_version": prompts.PROMPT_VERSION if cfg.needs_llm else None,
        "scorers": list(cfg.scorers),
        "seeds": {"run": cfg.seed, "examples": cfg.examples.seed, "scoring": cfg.scoring.seed},
        "sample_sizes": asdict(cfg.examples),
        "scoring": asdict(cfg.scoring),
        "explain_prompt": asdict(cfg.explain_prompt) if cfg.explainer == "llm" else None,
        "keywords": asdict(cfg.keywords) if cfg.explainer == "keywords" else None,
        "latents": cfg.latents,
        "sae": sae_info,
        "sae_dead_fraction": sae_dead,
        "rows": int(ex.n_rows),
        "num_latents": n_lat,
        "llm_stats": stats,
        "token_counts": {
            "prompt": stats.get("prompt_tokens", 0),
            "completion": stats.get("completion_tokens", 0),
            "cached_prompt": stats.get("cached_prompt_tokens", 0),
            "cached_completion": stats.get("cached_completion_tokens", 0),
        },
        "cost_estimate": {"usd": cost, "price_in_per_mtok": cfg.price_in_per_mtok,
                          "price_out_per_mtok": cfg.price_out_per_mtok},
        "seconds": seconds,
        "fingerprint": cfg.fingerprint(),
        "counts": summary["counts"],
        "summary": summary,
    }
