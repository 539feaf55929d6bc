"""`run_interpret`: examples -> explanations -> scores -> latents.parquet, summary.json, ...

Work happens in chunks of latents; each finished latent is appended to `OUT/.work/*.jsonl`, so
an interrupted run resumes where it stopped (per latent), and every LLM answer is in the
persistent response cache, so a rerun of a finished job makes zero LLM calls. The final files
are written atomically; `summary.json` is written last and marks a finished output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from tqdm.auto import tqdm

from saescope import __version__
from saescope.errors import ConfigError, InputError
from saescope.interpret import metrics as M
from saescope.interpret import prompts as P
from saescope.interpret.cache import ResponseCache, default_cache_path
from saescope.interpret.examples import KINDS, SPLITS, ExampleConfig, Examples, collect_examples
from saescope.interpret.families import feature_families, similar_latents
from saescope.interpret.keywords import KeywordsConfig, KeywordsExplainer
from saescope.interpret.llm import LLM, Completion, LLMError, Request, make_backend
from saescope.interpret.scorers import (
    LLM_SCORERS,
    LatentTest,
    Score,
    ScorerConfig,
    embedding_scores,
    llm_scores,
    parse_scorers,
)
from saescope.io import atomic_path, write_json

EXPLAINERS = ("keywords", "llm")
KEYWORDS_FIT_ROWS = 50_000
"""Rows of the corpus the keywords explainer learns its vocabulary and prior from."""
WORK = ".work"


@dataclass
class InterpretConfig:
    """Settings of `saescope interpret` (and `run_interpret`)."""

    explainer: str = "keywords"
    """`keywords` (offline, no model) or `llm`."""
    scorers: tuple[str, ...] = ("embedding",)
    """Scorers to run: embedding, detection, prediction, simulation, intruder."""
    latents: str = "all"
    """`all`, `N` (N live latents drawn at random with `seed`) or a list `i,j,k`."""
    min_fires: int = 1
    """With `latents=N`, draw only among latents firing on at least this many rows."""
    examples: ExampleConfig = field(default_factory=ExampleConfig)
    """How many examples of each kind per latent."""
    keywords: KeywordsConfig = field(default_factory=KeywordsConfig)
    """Settings of the keywords explainer."""
    scoring: ScorerConfig = field(default_factory=ScorerConfig)
    """Settings shared by the scorers."""
    llm_model: str | None = None
    """LLM: the server's model name with `llm_base_url`, else a local model (`smollm2` default)."""
    llm_base_url: str | None = None
    """Root of an OpenAI-compatible server (ending in /v1); None = local transformers model."""
    concurrency: int = 8
    """LLM requests in flight at once."""
    llm_timeout: float = 120.0
    """Seconds before an LLM request is abandoned and retried."""
    llm_logprobs: bool = False
    """Ask the server for token logprobs (detection AUROC); the local backend always has them."""
    explain_max_tokens: int = 80
    """Token budget of an explanation answer."""
    cache_path: str | None = None
    """LLM response cache (SQLite); None = `$SAESCOPE_CACHE_DIR` or the user cache folder."""
    embedder: str = "minilm"
    """Sentence model of the embedding scorer (`minilm` offline, a local folder or a hub name)."""
    device: str = "cpu"
    """Device of local models (cpu, cuda, auto)."""
    chunk_latents: int = 64
    """Latents per unit of work (resume granularity)."""
    family_min_weight: float = 0.1
    """Smallest normalised co-occurrence kept as an edge of the family graph."""
    n_similar: int = 5
    """Similar latents (decoder cosine) listed per latent."""
    price_in_per_mtok: float = 0.0
    """Cost per million prompt tokens, for the manifest's cost estimate."""
    price_out_per_mtok: float = 0.0
    """Cost per million completion tokens."""
    seed: int = 0
    """Seed of latent sampling, baseline shuffling and scorers (examples use `examples.seed`)."""
    overwrite: bool = False
    """Replace a finished output folder (LLM answers still come from the cache)."""

    def __post_init__(self) -> None:
        if self.explainer not in EXPLAINERS:
            raise ConfigError(f"--explainer must be one of {', '.join(EXPLAINERS)}, got {self.explainer!r}")
        self.scorers = tuple(parse_scorers(self.scorers))
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.chunk_latents < 1:
            raise ConfigError(f"chunk_latents must be >= 1, got {self.chunk_latents}")
        if self.min_fires < 0:
            raise ConfigError(f"min_fires must be >= 0, got {self.min_fires}")
        self.latents = str(self.latents).strip()

    @property
    def needs_llm(self) -> bool:
        return self.explainer == "llm" or any(s in LLM_SCORERS for s in self.scorers)

    def fingerprint(self) -> str:
        """What determines the results (not overwrite/concurrency/progress), for resume checks."""
        d = asdict(self)
        for k in ("overwrite", "concurrency", "chunk_latents", "cache_path", "llm_timeout"):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def select_latents(spec: str, n_fires: np.ndarray, min_fires: int, seed: int) -> np.ndarray:
    """Latent indices from `all`, `N` or `i,j,k` (validated against the SAE's size)."""
    M_ = len(n_fires)
    spec = spec.strip().lower()
    if spec == "all":
        return np.arange(M_)
    if "," not in spec and spec.isdigit():
        n = int(spec)
        live = np.flatnonzero(n_fires >= max(1, min_fires))
        if n < 1:
            raise ConfigError("--latents N needs N >= 1")
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(live, size=min(n, len(live)), replace=False))
    try:
        ids = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--latents must be 'all', a count N, or indices i,j,k (got {spec!r})") from None
    bad = [i for i in ids if not 0 <= i < M_]
    if bad:
        raise ConfigError(f"--latents: index {bad[0]} out of range (the SAE has {M_} latents)")
    return np.array(sorted(set(ids)), dtype=np.int64)


def _append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, default=_json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash: redo that latent
            break
    return rows


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _prepare_out(out: Path, cfg: InterpretConfig) -> Path:
    """Create OUT and OUT/.work; refuse a finished or foreign folder unless overwrite."""
    work = out / WORK
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    finished = (out / "summary.json").exists()
    if out.exists() and cfg.overwrite:
        shutil.rmtree(work, ignore_errors=True)
        # Until the new run finishes, the folder must not look finished.
        (out / "summary.json").unlink(missing_ok=True)
    elif finished:
        raise ConfigError(f"--out {out} holds a finished interpretation (use --overwrite)")
    elif out.exists() and not (work / "state.json").is_file() and any(p.name != WORK for p in out.iterdir()):
        raise ConfigError(f"--out {out} exists and is not empty (use --overwrite)")
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state.json"
    fp = cfg.fingerprint()
    if state.exists():
        old = json.loads(state.read_text())
        if old.get("fingerprint") != fp:
            raise ConfigError(
                f"--out {out} holds an unfinished run with other settings; use the same settings "
                "to resume, or --overwrite to start again"
            )
    else:
        write_json(state, {"fingerprint": fp})
    return work


def run_interpret(
    sae: Any,
    X: np.ndarray,
    ids: Sequence[Any],
    texts: Sequence[str],
    out_dir: str | os.PathLike[str],
    cfg: InterpretConfig | None = None,
    progress: bool = True,
    codes: sp.csr_matrix | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    llm: LLM | None = None,
) -> dict[str, Any]:
    """Explain and score the latents of `sae` on vectors X [N, d] with their ids and texts.

    `codes` (CSR [N, M]) skips encoding; `embed` replaces the sentence model of the embedding
    scorer; `llm` replaces the backend built from the config. Returns the summary dict.
    """
    cfg = cfg or InterpretConfig()
    t0 = time.time()
    X = np.asarray(X, dtype=np.float32)
    N = len(X)
    ids_s = np.asarray([str(i) for i in ids], dtype=object)
    if len(ids_s) != N or len(texts) != N:
        raise InputError(f"run_interpret: {N} vectors but {len(ids_s)} ids and {len(texts)} texts")
    texts = [t if isinstance(t, str) else "" for t in texts]
    out = Path(out_dir)
    if codes is None:
        if sae is None:
            raise ConfigError("run_interpret needs an SAE or precomputed codes")
        from saescope.sae import encode_csr

        if X.shape[1] != sae.d_in:
            raise InputError(f"vectors have dimension {X.shape[1]}, the SAE expects {sae.d_in}")
        codes = encode_csr(sae, X, progress=progress)
    codes = codes.tocsr()
    if codes.shape[0] != N:
        raise InputError(f"codes have {codes.shape[0]} rows, the data has {N}")
    n_lat = codes.shape[1]
    n_fires_all = np.bincount(codes.indices[codes.data != 0], minlength=n_lat)
    latents = select_latents(cfg.latents, n_fires_all, cfg.min_fires, cfg.seed)
    work = _prepare_out(out, cfg)

    ex = collect_examples(codes, X, latents, cfg.examples, progress=progress)
    families = feature_families(codes, cfg.family_min_weight)
    W_dec = None
    if sae is not None:
        W_dec = sae.W_dec.detach().float().cpu().numpy()
    similar = (
        similar_latents(W_dec, latents, cfg.n_similar)
        if W_dec is not None
        else np.zeros((len(latents), 0), dtype=np.int32)
    )

    if cfg.needs_llm and llm is None:
        cache = ResponseCache(cfg.cache_path or default_cache_path())
        backend = make_backend(
            cfg.llm_model, cfg.llm_base_url, cfg.concurrency, cfg.llm_timeout, cfg.device, cfg.llm_logprobs
        )
        llm = LLM(backend, cache, cfg.concurrency)

    alive = [int(lat) for lat, n in zip(latents, ex.n_fires, strict=True) if n > 0]
    req_bar = tqdm(desc="LLM requests", unit="req", disable=not (progress and cfg.needs_llm))

    # Phase 1: explanations (resumable per latent).
    expl_path = work / "explanations.jsonl"
    explanations = {int(r["latent"]): r for r in _read_jsonl(expl_path)}
    todo = [lat for lat in alive if lat not in explanations]
    keywords = None
    if cfg.explainer == "keywords" and todo:
        # The corpus prior needs a sample, not every row of a large corpus.
        fit_rows = np.arange(N)
        if N > KEYWORDS_FIT_ROWS:
            fit_rows = np.sort(np.random.default_rng(cfg.seed).choice(N, KEYWORDS_FIT_ROWS, replace=False))
        keywords = KeywordsExplainer(cfg.keywords).fit([texts[i] for i in fit_rows])
    bar = tqdm(total=len(todo), desc="explain", disable=not progress)
    for s in range(0, len(todo), cfg.chunk_latents):
        chunk = todo[s : s + cfg.chunk_latents]
        if cfg.explainer == "keywords":
            rows = _explain_keywords(keywords, ex, chunk, texts)
        else:
            assert llm is not None
            rows = _explain_llm(llm, ex, chunk, texts, cfg, req_bar)
        _append_jsonl(expl_path, rows)
        explanations.update({r["latent"]: r for r in rows})
        bar.update(len(chunk))
    bar.close()

    # Baseline: a derangement of the explanations over the explained latents.
    ok_lat = [lat for lat in alive if explanations[lat]["explanation"] is not None]
    shuffled: dict[int, str | None] = {lat: None for lat in alive}
    if len(ok_lat) >= 2:
        rng = np.random.default_rng([cfg.seed, 17])
        perm = rng.permutation(len(ok_lat))
        for k in range(len(perm)):
            a, b = ok_lat[perm[k]], ok_lat[perm[(k + 1) % len(perm)]]
            shuffled[a] = explanations[b]["explanation"]

    # Phase 2: scores (resumable per latent).
    score_path = work / "scores.jsonl"
    scored = {int(r["latent"]): r for r in _read_jsonl(score_path)}
    todo = [lat for lat in alive if lat not in scored]
    embed_fn = None
    if "embedding" in cfg.scorers and todo:
        embed_fn = _memo_embed(embed or _default_embedder(cfg), X, texts)
    bar = tqdm(total=len(todo), desc="score", disable=not progress)
    for s in range(0, len(todo), cfg.chunk_latents):
        chunk = todo[s : s + cfg.chunk_latents]
        tests = []
        for lat in chunk:
            t = ex.for_latent(lat, "test")
            e = explanations[lat]["explanation"]
            tests.append(
                LatentTest(
                    latent=lat,
                    texts=[texts[r] for r in t["row"]],
                    labels=t["label"].astype(np.int64),
                    acts=t["activation"].astype(np.float64),
                    explanation=e,
                    shuffled=shuffled[lat] if e is not None else None,
                    kinds=np.asarray(t["kind"], dtype=str),
                )
            )
        per_scorer: dict[str, list[Score]] = {}
        for name in cfg.scorers:
            if name == "embedding":
                assert embed_fn is not None
                per_scorer[name] = embedding_scores(tests, embed_fn, cfg.scoring)
            else:
                assert llm is not None
                per_scorer[name] = llm_scores(name, tests, llm, cfg.scoring, req_bar)
        rows = []
        for k, lat in enumerate(chunk):
            row: dict[str, Any] = {"latent": lat}
            for name, scores in per_scorer.items():
                sc = scores[k]
                row[name] = sc.value
                row[f"{name}_lo"] = sc.lo
                row[f"{name}_hi"] = sc.hi
                row[f"{name}_baseline"] = sc.baseline
                row.update(sc.extras)
                if sc.error:
                    row[f"{name}_error"] = sc.error
            rows.append(row)
        _append_jsonl(score_path, rows)
        scored.update({r["latent"]: r for r in rows})
        bar.update(len(chunk))
    bar.close()

    req_bar.close()
    summary = _write_outputs(out, cfg, ex, latents, ids_s, texts, explanations, scored, families, similar)
    if llm is not None:
        summary["counts"].update(
            {"llm_calls": llm.stats["calls"], "llm_cache_hits": llm.stats["cache_hits"],
             "llm_failures": llm.stats["failures"]}
        )
    manifest = _manifest(cfg, sae, ex, llm, summary, time.time() - t0, n_lat)
    write_json(out / "manifest.json", manifest)
    write_json(out / "summary.json", summary)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def _explain_keywords(
    kw: KeywordsExplainer | None, ex: Examples, chunk: list[int], texts: Sequence[str]
) -> list[dict[str, Any]]:
    assert kw is not None
    docs = [ex.for_latent(lat, "explain") for lat in chunk]
    pos = [d["row"][d["label"] == 1] for d in docs]
    rows = np.unique(np.concatenate(pos)) if pos else np.zeros(0, np.int64)
    doc_terms = kw.transform_texts([texts[r] for r in rows])
    labels, terms = kw.explain([np.searchsorted(rows, p) for p in pos], doc_terms)
    rows = []
    for lat, label, t in zip(chunk, labels, terms, strict=True):
        rows.append({"latent": lat, "explanation": label if t else None, "terms": t,
                     "error": None if t else "no distinctive terms"})
    return rows


def _explain_llm(
    llm: LLM, ex: Examples, chunk: list[int], texts: Sequence[str], cfg: InterpretConfig, bar: Any = None
) -> list[dict[str, Any]]:
    """One explanation per latent; unparseable answers re-asked at temperature 0.7."""
    msgs = {}
    for lat in chunk:
        d = ex.for_latent(lat, "explain")
        pos = d["label"] == 1
        order = np.argsort(-d["activation"][pos], kind="stable")
        prow, pact = d["row"][pos][order], d["activation"][pos][order]
        msgs[lat] = P.explain_messages(
            [texts[r] for r in prow],
            [float(a) for a in pact],
            [texts[r] for r in d["row"][~pos]],
            cfg.scoring.max_chars,
        )
    result: dict[int, dict[str, Any]] = {}
    pending = list(chunk)
    for attempt in range(cfg.scoring.parse_retries + 1):
        if not pending:
            break
        params = {
            "temperature": 0.0 if attempt == 0 else 0.7,
            "max_tokens": cfg.explain_max_tokens,
            "seed": attempt,
            "prefill": '{"explanation": "',
            "stop": ['"'],
            "close": '"}',
        }
        answers = llm.run([Request(msgs[lat], params) for lat in pending], bar)
        still = []
        for lat, ans in zip(pending, answers, strict=True):
            if isinstance(ans, LLMError):
                result[lat] = {"latent": lat, "explanation": None, "error": f"failed: {ans}"}
                continue
            assert isinstance(ans, Completion)
            e = P.parse_explanation(ans.text)
            if e is None:
                result[lat] = {"latent": lat, "explanation": None, "error": "failed: unparseable explanation",
                               "raw": ans.text[:300]}
                still.append(lat)
            else:
                result[lat] = {"latent": lat, "explanation": e, "error": None}
        pending = still
    return [result[lat] for lat in chunk]


def _default_embedder(cfg: InterpretConfig) -> Callable[[list[str]], np.ndarray]:
    from saescope.data.embed import Embedder

    model = Embedder(cfg.embedder, device=cfg.device)
    return model.encode


def _memo_embed(
    embed: Callable[[list[str]], np.ndarray], X: np.ndarray, texts: Sequence[str]
) -> Callable[[list[str]], np.ndarray]:
    """Embed each distinct string once; reuse X rows when X are this embedder's vectors of the texts.

    The reuse is checked, not assumed: a sample of rows is embedded and must match X (cosine
    > 0.999) before any row of X stands in for an embedding.
    """
    memo: dict[str, np.ndarray] = {}
    nonempty = [i for i, t in enumerate(texts) if t]
    if nonempty:
        rng = np.random.default_rng(0)
        probe = rng.choice(nonempty, size=min(8, len(nonempty)), replace=False)
        V = np.asarray(embed([texts[i] for i in probe]), dtype=np.float32)
        if V.shape[1] == X.shape[1]:
            Xp = X[probe]
            cos = (V * Xp).sum(1) / np.maximum(np.linalg.norm(V, axis=1) * np.linalg.norm(Xp, axis=1), 1e-12)
            if np.all(cos > 0.999):
                for i, t in enumerate(texts):
                    memo.setdefault(t, X[i])

    def fn(strings: list[str]) -> np.ndarray:
        new = [s for s in dict.fromkeys(strings) if s not in memo]
        if new:
            V = np.asarray(embed(new), dtype=np.float32)
            memo.update(zip(new, V, strict=True))
        return np.stack([memo[s] for s in strings]) if strings else np.zeros((0, 1), np.float32)

    return fn


def _write_outputs(
    out: Path,
    cfg: InterpretConfig,
    ex: Examples,
    latents: np.ndarray,
    ids: np.ndarray,
    texts: Sequence[str],
    explanations: dict[int, dict[str, Any]],
    scored: dict[int, dict[str, Any]],
    families: np.ndarray,
    similar: np.ndarray,
) -> dict[str, Any]:
    """latents.parquet and examples.parquet; returns the summary."""
    L = len(latents)
    status, expl = [], []
    for i, lat in enumerate(latents):
        lat = int(lat)
        if ex.n_fires[i] == 0:
            status.append("dead")
            expl.append(None)
            continue
        e = explanations[lat]
        expl.append(e["explanation"])
        status.append("ok" if e["explanation"] is not None else (e["error"] or "failed: no explanation"))
        if not status[-1].startswith(("ok", "failed")):
            status[-1] = f"failed: {status[-1]}"
    top_ids, top_acts = [], []
    for i in range(L):
        ok = ex.top_rows[i, : cfg.examples.n_top_explain] >= 0
        rows = ex.top_rows[i, : cfg.examples.n_top_explain][ok]
        top_ids.append([str(x) for x in ids[rows]])
        top_acts.append(ex.top_acts[i, : cfg.examples.n_top_explain][ok].astype(np.float32).tolist())
    cols: dict[str, pa.Array] = {
        "latent": pa.array(latents.astype(np.int32), pa.int32()),
        "density": pa.array(ex.density.astype(np.float64), pa.float64()),
        "n_fires": pa.array(ex.n_fires.astype(np.int64), pa.int64()),
        "status": pa.array(status, pa.string()),
        "explanation": pa.array(expl, pa.string()),
        "explainer": pa.array([cfg.explainer] * L, pa.string()),
        "top_ids": pa.array(top_ids, pa.list_(pa.string())),
        "top_acts": pa.array(top_acts, pa.list_(pa.float32())),
    }
    score_cols: list[str] = []
    for name in cfg.scorers:
        score_cols += [name, f"{name}_lo", f"{name}_hi", f"{name}_baseline"]
    extra_cols = sorted(
        {k for r in scored.values() for k in r if k != "latent" and k not in score_cols and not k.endswith("_error")}
    )
    for c in score_cols + extra_cols:
        vals = [_f(scored.get(int(lat), {}).get(c)) for lat in latents]
        cols[c] = pa.array(vals, pa.float64())
    for name in cfg.scorers:
        errs = [scored.get(int(lat), {}).get(f"{name}_error") for lat in latents]
        if any(errs):
            cols[f"{name}_error"] = pa.array(errs, pa.string())
    cols["family"] = pa.array(families[latents].astype(np.int32), pa.int32())
    cols["similar_latents"] = pa.array([list(map(int, s)) for s in similar], pa.list_(pa.int32()))
    table = pa.table(cols)
    with atomic_path(out / "latents.parquet") as tmp:
        pq.write_table(table, tmp)

    ex_table = pa.table(
        {
            "latent": pa.array(ex.latent.astype(np.int32), pa.int32()),
            "id": pa.array([str(x) for x in ids[ex.row]], pa.string()),
            "text": pa.array([texts[r] for r in ex.row], pa.string()),
            "activation": pa.array(ex.activation, pa.float32()),
            "kind": pa.array(np.asarray(KINDS, dtype=object)[ex.kind].tolist(), pa.string()),
            "split": pa.array(np.asarray(SPLITS, dtype=object)[ex.split].tolist(), pa.string()),
        }
    )
    with atomic_path(out / "examples.parquet") as tmp:
        pq.write_table(ex_table, tmp)

    scores: dict[str, Any] = {}
    for name in cfg.scorers:
        v = table[name].to_numpy(zero_copy_only=False)
        b = table[f"{name}_baseline"].to_numpy(zero_copy_only=False)
        mean, lo, hi = M.mean_ci(v, seed=cfg.seed)
        scores[name] = {
            "mean": _f(mean),
            "ci": [_f(lo), _f(hi)],
            "baseline_mean": _f(np.nanmean(b)) if np.isfinite(b).any() else None,
            "n_latents": int(np.isfinite(v).sum()),
        }
        unp = f"{name}_unparsed"
        if unp in table.column_names:
            scores[name]["unparsed_answers"] = int(np.nansum(table[unp].to_numpy(zero_copy_only=False)))
    st = np.asarray(status, dtype=object)
    counts = {
        "latents_in_sae": int(len(families)),
        "latents_selected": int(L),
        "ok": int((st == "ok").sum()),
        "dead": int((st == "dead").sum()),
        "failed": int(np.char.startswith(st.astype(str), "failed").sum()),
        "rows": int(ex.n_rows),
        "examples": int(len(ex.row)),
        "families": int(len(np.unique(families[latents]))),
    }
    return {"explainer": cfg.explainer, "scores": scores, "counts": counts}


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _manifest(
    cfg: InterpretConfig, sae: Any, ex: Examples, llm: LLM | None, summary: dict[str, Any], seconds: float, n_lat: int
) -> dict[str, Any]:
    stats = dict(llm.stats) if llm is not None else {}
    cost = (
        stats.get("prompt_tokens", 0) * cfg.price_in_per_mtok + stats.get("completion_tokens", 0) * cfg.price_out_per_mtok
    ) / 1e6
    sae_info = None
    if sae is not None:
        sae_info = {"d_in": int(sae.d_in), "num_latents": int(sae.num_latents)}
        c = getattr(sae, "cfg", None)
        if c is not None:
            sae_info.update({k: getattr(c, k) for k in ("arch", "k") if hasattr(c, k)})
    return {
        "saescope_version": __version__,
        "explainer": cfg.explainer,
        "model": llm.model_id if llm is not None else None,
        "embedder": cfg.embedder if "embedding" in cfg.scorers else None,
        "prompt_version": P.PROMPT_VERSION if cfg.needs_llm else None,
        "scorers": list(cfg.scorers),
        "seeds": {"run": cfg.seed, "examples": cfg.examples.seed, "scoring": cfg.scoring.seed},
        "sample_sizes": asdict(cfg.examples),
        "scoring": asdict(cfg.scoring),
        "keywords": asdict(cfg.keywords) if cfg.explainer == "keywords" else None,
        "latents": cfg.latents,
        "sae": sae_info,
        "rows": int(ex.n_rows),
        "num_latents": n_lat,
        "llm_stats": stats,
        "token_counts": {
            "prompt": stats.get("prompt_tokens", 0),
            "completion": stats.get("completion_tokens", 0),
            "cached_prompt": stats.get("cached_prompt_tokens", 0),
            "cached_completion": stats.get("cached_completion_tokens", 0),
        },
        "cost_estimate": {
            "usd": cost,
            "price_in_per_mtok": cfg.price_in_per_mtok,
            "price_out_per_mtok": cfg.price_out_per_mtok,
        },
        "seconds": seconds,
        "fingerprint": cfg.fingerprint(),
        "counts": summary["counts"],
    }
