"""`run_interpret`: examples -> explanations -> scores -> latents.parquet, summary.json, ...

`run_interpret(cfg)` reads its inputs (`cfg.sae`, `cfg.data`, `cfg.texts`) and writes `cfg.out`;
`interpret_vectors(sae, X, ids, texts, out, cfg)` does the same on arrays already in memory.
The explain phase (`explain_phase`, explainers in `explain.EXPLAINERS`) and the score phase
(`score_phase`, scorers in `scorers.SCORERS`) are separate: each works in chunks of latents and
appends every finished latent to `OUT/.work/*.jsonl`, so an interrupted run resumes where it
stopped (per latent), and every LLM answer is in the persistent response cache, so a rerun of a
finished job makes zero LLM calls. The final files are written atomically; `summary.json` is
written last and marks a finished output.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from saescope.errors import ConfigError, InputError
from saescope.interpret.cache import ResponseCache, default_cache_path
from saescope.interpret.config import InterpretConfig, select_latents
from saescope.interpret.examples import Examples, collect_examples
from saescope.interpret.explain import EXPLAINERS, ExplainContext
from saescope.interpret.families import feature_families, similar_latents
from saescope.interpret.inputs import load_sae, read_vectors_with_texts, sae_dead_fraction
from saescope.interpret.llm import LLM, make_backend
from saescope.interpret.outputs import (
    manifest,
    summarise,
    write_examples,
    write_latents,
    write_scored_examples,
)
from saescope.interpret.scorers import SCORERS, LatentTest, ScoringContext, mask_low_support
from saescope.interpret.tokens import TokenWindows
from saescope.io import append_jsonl, open_output, read_jsonl, write_json

WORK = ".work"
"""Hidden folder of OUT with the resumable work logs (`explanations.jsonl`, `scores.jsonl`)."""

__all__ = ["InterpretConfig", "explain_phase", "interpret_vectors", "run_interpret", "score_phase", "select_latents"]


def run_interpret(cfg: InterpretConfig, progress: bool = True,
                  embed: Callable[[list[str]], np.ndarray] | None = None,
                  llm: LLM | None = None) -> dict[str, Any]:
    """Interpret the SAE `cfg.sae` on `cfg.data` (texts from `cfg.texts` or a column) into `cfg.out`.

    Returns the manifest (`OUT/manifest.json`). `embed` replaces the sentence model of the
    embedding scorer, `llm` the backend built from the config. `interpret_vectors(sae, X, ids,
    texts, out_dir, cfg)` is the same work on arrays in memory (it returns the summary).
    """
    if not isinstance(cfg, InterpretConfig):
        raise ConfigError(f"run_interpret takes an InterpretConfig, got {type(cfg).__name__} "
                          "(interpret_vectors(sae, X, ids, texts, out_dir, cfg) takes arrays)")
    if not cfg.data or not cfg.out:
        raise ConfigError("run_interpret(cfg) needs cfg.data and cfg.out (and cfg.sae)")
    inputs = read_vectors_with_texts(cfg.data, cfg.texts, cfg.text_field, cfg.id_field, cfg.column,
                                     need_texts=False)
    windows = TokenWindows.from_meta(inputs.meta, str(cfg.data), cfg.token_window_before,
                                     cfg.token_window_after)
    if windows is None and cfg.texts is None and (
            inputs.meta is None or cfg.text_field not in inputs.meta.column_names):
        inputs = read_vectors_with_texts(cfg.data, cfg.texts, cfg.text_field, cfg.id_field,
                                         cfg.column)  # raises: no texts
    sae = load_sae(cfg.sae, inputs.X.shape[1], cfg.data)
    interpret_vectors(sae, inputs.X, inputs.ids, inputs.texts, cfg.out, cfg, progress=progress,
                      embed=embed, llm=llm, windows=windows)
    return json.loads((Path(cfg.out) / "manifest.json").read_text())


def _codes_of(sae: Any, X: np.ndarray, codes: sp.csr_matrix | None, progress: bool) -> sp.csr_matrix:
    if codes is None:
        if sae is None:
            raise ConfigError("run_interpret needs an SAE or precomputed codes")
        from saescope.sae import encode_csr

        if X.shape[1] != sae.d_in:
            raise InputError(f"vectors have dimension {X.shape[1]}, the SAE expects {sae.d_in}")
        codes = encode_csr(sae, X, progress=progress)
    codes = codes.tocsr()
    if codes.shape[0] != len(X):
        raise InputError(f"codes have {codes.shape[0]} rows, the data has {len(X)}")
    return codes


def _make_llm(cfg: InterpretConfig) -> LLM:
    cache = ResponseCache(cfg.cache_path or default_cache_path())
    backend = make_backend(cfg.llm_model, cfg.llm_base_url, cfg.concurrency, cfg.llm_timeout, cfg.device,
                           cfg.llm_logprobs)
    return LLM(backend, cache, cfg.concurrency)


def interpret_vectors(
    sae: Any,
    X: np.ndarray,
    ids: Sequence[Any],
    texts: Sequence[str] | None,
    out_dir: str | os.PathLike[str],
    cfg: InterpretConfig | None = None,
    progress: bool = True,
    codes: sp.csr_matrix | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    llm: LLM | None = None,
    windows: TokenWindows | None = None,
) -> dict[str, Any]:
    """Explain and score the latents of `sae` on vectors X [N, d] with their ids and texts.

    `codes` (CSR [N, M]) skips encoding. `windows`: X are token rows (`saescope.interpret.tokens`);
    each example is then the window of context around its token, `texts` are ignored. Returns
    the summary dict.
    """
    cfg = cfg or InterpretConfig()
    t0 = time.time()
    X = np.asarray(X, dtype=np.float32)
    ids_s = np.asarray([str(i) for i in ids], dtype=object)
    if windows is not None:
        texts = windows.texts(mark=True)
    if texts is None:
        raise InputError("run_interpret: no texts (give texts, or token windows)")
    if len(ids_s) != len(X) or len(texts) != len(X):
        raise InputError(f"run_interpret: {len(X)} vectors but {len(ids_s)} ids and {len(texts)} texts")
    if windows is None:
        texts = [t if isinstance(t, str) else "" for t in texts]
    out = Path(out_dir)
    codes = _codes_of(sae, X, codes, progress)
    n_lat = codes.shape[1]
    n_fires_all = np.bincount(codes.indices[codes.data != 0], minlength=n_lat)
    latents = select_latents(cfg.latents, n_fires_all, cfg.min_fires, cfg.seed)
    given = [cfg.sae, cfg.data, cfg.texts]
    with open_output(out, cfg.overwrite, fingerprint=cfg.fingerprint(), complete="summary.json",
                     what="interpretation", inputs=given) as job:
        out = job.work  # beside the old output under --overwrite
        work = out / WORK
        work.mkdir(exist_ok=True)

        ex = collect_examples(codes, X, latents, cfg.examples, progress=progress,
                              texts=None if windows is not None else texts,
                              groups=None if windows is None else windows.doc_keys,
                              quiet=None if windows is None else windows.quiet(codes))
        families = feature_families(codes, cfg.family_min_weight)
        similar = np.zeros((len(latents), 0), dtype=np.int32)
        if sae is not None:
            similar = similar_latents(sae.W_dec.detach().float().cpu().numpy(), latents, cfg.n_similar)
        if cfg.needs_llm and llm is None:
            llm = _make_llm(cfg)
        alive = [int(lat) for lat, n in zip(latents, ex.n_fires, strict=True) if n > 0]
        req_bar = tqdm(desc="LLM requests", unit="req", disable=not (progress and cfg.needs_llm))
        ctx = ExplainContext(ex, texts, cfg, llm, req_bar)
        # Token level: the scorers judge whole windows without the mark (delphi's detection
        # and embedding scoring show plain contexts; a negative window is silent throughout).
        score_texts, score_ex = texts, ex
        if windows is not None:  # a window's activation is its largest token's (simulation)
            kw = cfg.token_keyword_window
            ctx.negative_texts = score_texts = windows.texts(mark=False)
            score_ex = replace(ex, activation=windows.window_max(codes, ex.row, ex.latent))
            ctx.keyword_texts = windows.texts(mark=False, before=kw, after=kw)
        explanations = explain_phase(ctx, alive, work / "explanations.jsonl", progress)
        shuffled = shuffled_explanations(explanations, alive, cfg.seed)
        scoring = ScoringContext(cfg.scoring, None, llm, req_bar)
        if "embedding" in cfg.scorers:
            scoring.embed = _memo_embed(embed or _default_embedder(cfg), X, score_texts)
        scored = score_phase(scoring, cfg.scorers, score_ex, score_texts, explanations, shuffled, alive,
                             work / "scores.jsonl", cfg.chunk_latents, progress)
        req_bar.close()

        table = write_latents(out, cfg, ex, latents, ids_s, explanations, scored, families, similar)
        write_examples(out, ex, ids_s, texts,
                       None if windows is None else windows.window_acts(codes, ex.row, ex.latent))
        write_scored_examples(out, cfg, score_ex, latents, ids_s, score_texts, scored)
        summary = summarise(cfg, ex, table, n_lat, families, latents)
        sae_dead = sae_dead_fraction(cfg.sae)
        if sae_dead is not None:
            summary["counts"]["sae_dead_fraction"] = sae_dead["dead_fraction"]
        if llm is not None:
            summary["counts"].update({"llm_calls": llm.stats["calls"], "llm_cache_hits": llm.stats["cache_hits"],
                                      "llm_failures": llm.stats["failures"]})
        write_json(out / "manifest.json", manifest(cfg, sae, ex, llm, summary, time.time() - t0, n_lat, sae_dead))
        write_json(out / "summary.json", summary)
        shutil.rmtree(work, ignore_errors=True)
    return summary


def explain_phase(ctx: ExplainContext, latents: list[int], path: Path, progress: bool = False) -> dict[int, dict[str, Any]]:
    """Explanations of `latents` (resumed from `path`, new ones appended to it), by cfg.explainer."""
    cfg = ctx.cfg
    explanations = {int(r["latent"]): r for r in read_jsonl(path)}
    todo = [lat for lat in latents if lat not in explanations]
    if not todo:
        return explanations
    explain = EXPLAINERS[cfg.explainer](ctx)
    with tqdm(total=len(todo), desc="explain", disable=not progress) as bar:
        for s in range(0, len(todo), cfg.chunk_latents):
            chunk = todo[s : s + cfg.chunk_latents]
            rows = explain(chunk)
            append_jsonl(path, rows)
            explanations.update({r["latent"]: r for r in rows})
            bar.update(len(chunk))
    return explanations


def shuffled_explanations(explanations: dict[int, dict[str, Any]], latents: list[int], seed: int) -> dict[int, str | None]:
    """The chance baseline: a derangement of the explanations over the explained latents."""
    ok = [lat for lat in latents if explanations[lat]["explanation"] is not None]
    shuffled: dict[int, str | None] = {lat: None for lat in latents}
    if len(ok) >= 2:
        perm = np.random.default_rng([seed, 17]).permutation(len(ok))
        for k in range(len(perm)):
            shuffled[ok[perm[k]]] = explanations[ok[perm[(k + 1) % len(perm)]]]["explanation"]
    return shuffled


def latent_test(ex: Examples, latent: int, texts: Sequence[str], explanation: str | None,
                shuffled: str | None) -> LatentTest:
    """The held-out test items of one latent."""
    t = ex.for_latent(latent, "test")
    return LatentTest(
        latent=latent,
        texts=[texts[r] for r in t["row"]],
        labels=t["label"].astype(np.int64),
        acts=t["activation"].astype(np.float64),
        explanation=explanation,
        shuffled=shuffled if explanation is not None else None,
        kinds=np.asarray(t["kind"], dtype=str),
    )


def score_phase(
    ctx: ScoringContext,
    scorers: Sequence[str],
    ex: Examples,
    texts: Sequence[str],
    explanations: dict[int, dict[str, Any]],
    shuffled: dict[int, str | None],
    latents: list[int],
    path: Path,
    chunk_latents: int = 64,
    progress: bool = False,
) -> dict[int, dict[str, Any]]:
    """Scores of `latents` by each scorer (resumed from `path`, new ones appended), support-masked."""
    scored = {int(r["latent"]): r for r in read_jsonl(path)}
    todo = [lat for lat in latents if lat not in scored]
    with tqdm(total=len(todo), desc="score", disable=not progress) as bar:
        for s in range(0, len(todo), chunk_latents):
            chunk = todo[s : s + chunk_latents]
            tests = [latent_test(ex, lat, texts, explanations[lat]["explanation"], shuffled[lat]) for lat in chunk]
            per_scorer = {name: SCORERS[name](tests, ctx) for name in scorers}
            rows = []
            for k, (lat, test) in enumerate(zip(chunk, tests, strict=True)):
                row: dict[str, Any] = {"latent": lat}
                for name, results in per_scorer.items():
                    sc = results[k]
                    row.update({name: sc.value, f"{name}_lo": sc.lo, f"{name}_hi": sc.hi,
                                f"{name}_baseline": sc.baseline, **sc.extras})
                    if sc.error:
                        row[f"{name}_error"] = sc.error
                    if sc.answers is not None:  # per-example answers: scored_examples.parquet
                        row.setdefault("_answers", {})[name] = sc.answers
                mask_low_support(row, test.n_positive, scorers, ctx.cfg)
                rows.append(row)
            append_jsonl(path, rows)
            scored.update({r["latent"]: r for r in rows})
            bar.update(len(chunk))
    return scored


def _default_embedder(cfg: InterpretConfig) -> Callable[[list[str]], np.ndarray]:
    """The sentence model of `cfg.embedder`, loaded on first use (a resumed run may need none)."""
    model: Any = None

    def encode(strings: list[str]) -> np.ndarray:
        nonlocal model
        if model is None:
            from saescope.data.embed import Embedder

            model = Embedder(cfg.embedder, device=cfg.device)
        return model.encode(strings)

    return encode


def _memo_embed(
    embed: Callable[[list[str]], np.ndarray], X: np.ndarray, texts: Sequence[str]
) -> Callable[[list[str]], np.ndarray]:
    """Embed each distinct string once; reuse X rows when X are this embedder's vectors of the texts.

    The reuse is checked, not assumed: a sample of rows is embedded and must match X (cosine
    > 0.999) before any row of X stands in for an embedding. The embedder is first called when
    something is scored.
    """
    memo: dict[str, np.ndarray] = {}
    probed = False

    def probe() -> None:
        nonempty = [i for i, t in enumerate(texts) if t]
        if not nonempty:
            return
        rows = np.random.default_rng(0).choice(nonempty, size=min(8, len(nonempty)), replace=False)
        V = np.asarray(embed([texts[i] for i in rows]), dtype=np.float32)
        if V.shape[1] != X.shape[1]:
            return
        Xp = X[rows]
        cos = (V * Xp).sum(1) / np.maximum(np.linalg.norm(V, axis=1) * np.linalg.norm(Xp, axis=1), 1e-12)
        if np.all(cos > 0.999):
            for i, t in enumerate(texts):
                memo.setdefault(t, X[i])

    def fn(strings: list[str]) -> np.ndarray:
        nonlocal probed
        if not probed:
            probed = True
            probe()
        new = [s for s in dict.fromkeys(strings) if s not in memo]
        if new:
            V = np.asarray(embed(new), dtype=np.float32)
            memo.update(zip(new, V, strict=True))
        return np.stack([memo[s] for s in strings]) if strings else np.zeros((0, 1), np.float32)

    return fn
