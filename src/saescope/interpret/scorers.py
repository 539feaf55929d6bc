"""Scorers: how well an explanation predicts where its latent fires, on held-out texts.

Every score of every latent comes with a percentile-bootstrap 95% interval over its test items
(`metrics.bootstrap_ci`) and a chance baseline: the same scorer run with a shuffled explanation
(another latent's), except `intruder`, which uses no explanation and whose baseline is the
chance rate 1 / (texts per round).

- `embedding` (no LLM): AUROC of cos(embed(explanation), embed(text)) between activating and
  random non-activating test texts (the embedding scorer of Paulo et al. 2024, "Automatically
  Interpreting Millions of Features in Large Language Models", arXiv:2410.13928);
  `embedding_hard`: the same AUROC against the hard negatives.
- `detection`: the LLM says 1/0 per text (detection scoring, Paulo et al. 2024): primary
  value balanced accuracy (TPR + TNR) / 2 over all test texts; also precision, recall, F1,
  balanced accuracy against random and against hard negatives alone, and, when the backend
  returns token logprobs, AUROC of P("1").
- `prediction`: the capstone's score as in O'Neill et al. 2024 ("Disentangling Dense Embeddings
  with Sparse Autoencoders", arXiv:2408.00657): a prediction in [-1, 1] per text; primary value Pearson r
  between predictions and the 0/1 labels, also F1 of prediction > 0. No forced zeros:
  unparseable answers are excluded and counted (`prediction_unparsed`).
- `simulation`: predicted activation 0-10 per text, Pearson r with the true activations
  (Bills et al. 2023, "Language models can explain neurons in language models", "correlation
  scoring").
- `intruder`: k activating texts and one non-activating one; accuracy of spotting the
  non-activating one (the word-intrusion task of Chang et al. 2009, "Reading Tea Leaves", applied
  to SAE latents by Paulo & Belrose 2025, "Evaluating SAE interpretability without
  explanations", arXiv:2507.08473). Needs no explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saescope.errors import ConfigError
from saescope.interpret import metrics as M
from saescope.interpret import prompts as P
from saescope.interpret.llm import LLM, Completion, LLMError, Request

SCORERS = ("embedding", "detection", "prediction", "simulation", "intruder")
LLM_SCORERS = ("detection", "prediction", "simulation", "intruder")


@dataclass
class LatentTest:
    """The held-out test items of one latent and the explanations to score."""

    latent: int
    texts: list[str]
    labels: np.ndarray
    """1 = the latent fires on the text."""
    acts: np.ndarray
    """True activations (0 for negatives)."""
    explanation: str | None
    """The latent's explanation (None: nothing to score)."""
    shuffled: str | None
    """Another latent's explanation: the chance baseline."""
    kinds: np.ndarray | None = None
    """Kind of each item (top, quantile, random_negative, hard_negative); None = not known."""


@dataclass
class Score:
    """One scorer's result on one latent."""

    value: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    baseline: float = float("nan")
    extras: dict[str, float] = field(default_factory=dict)
    """Secondary metrics, column name -> value (e.g. detection_f1, prediction_unparsed)."""
    error: str | None = None
    """Why the score is missing (requests failed, every answer unparseable)."""


@dataclass
class ScorerConfig:
    """Settings shared by the scorers."""

    batch_size: int = 10
    """Texts per LLM request for detection, prediction and simulation."""
    intruder_rounds: int = 5
    """Intruder rounds per latent."""
    intruder_positives: int = 4
    """Activating texts per intruder round (plus one non-activating)."""
    parse_retries: int = 2
    """Re-asks (at temperature 0.7) after an unparseable answer."""
    n_boot: int = 1000
    """Bootstrap resamples for each interval."""
    max_chars: int = 400
    """Characters of each text shown to the LLM."""
    seed: int = 0
    """Seed of item order, intruder rounds and bootstrap."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"ScorerConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.intruder_positives < 1 or self.intruder_rounds < 0:
            raise ConfigError("ScorerConfig.intruder_positives must be >= 1 and intruder_rounds >= 0")
        if self.parse_retries < 0 or self.n_boot < 10:
            raise ConfigError("ScorerConfig.parse_retries must be >= 0 and n_boot >= 10")


def parse_scorers(spec: str | Sequence[str]) -> list[str]:
    """Scorer names from "a,b,c" or a list, validated ("none" or empty: no scoring)."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n and n != "none"]
    bad = [n for n in names if n not in SCORERS]
    if bad:
        raise ConfigError(f"--scorer: unknown scorer(s) {', '.join(bad)} (choose from {', '.join(SCORERS)})")
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------------------------
# Embedding scorer


def embedding_scores(
    tests: Sequence[LatentTest],
    embed: Callable[[list[str]], np.ndarray],
    cfg: ScorerConfig,
) -> list[Score]:
    """AUROC of cosine(explanation, text) per latent (see module doc), with interval and baseline."""
    strings: dict[str, int] = {}
    for t in tests:
        for s in [t.explanation, t.shuffled, *t.texts]:
            if s is not None and s not in strings:
                strings[s] = len(strings)
    if not strings:
        return [Score(error="no explanation") for _ in tests]
    V = np.asarray(embed(list(strings)), dtype=np.float32)
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    out = []
    for i, t in enumerate(tests):
        if t.explanation is None:
            out.append(Score(error="no explanation"))
            continue
        T = V[[strings[s] for s in t.texts]]
        sims = T @ V[strings[t.explanation]]
        # Primary: activating vs random non-activating texts (as Paulo et al. define it). Hard
        # negatives are the input-space neighbours of the top examples, so in the embedding
        # space they sit closer to the explanation than most activating texts: they get their
        # own column instead of dragging the main score below chance.
        main = np.ones(len(sims), dtype=bool)
        extras: dict[str, float] = {}
        if t.kinds is not None:
            main = t.kinds != "hard_negative"
            hard = t.kinds != "random_negative"
            extras["embedding_hard"] = M.auroc(sims[hard], t.labels[hard])
        value = M.auroc(sims[main], t.labels[main])
        lo, hi = M.bootstrap_ci(M.auroc_rows, (sims[main], t.labels[main]), cfg.n_boot, cfg.seed + i)
        base = float("nan")
        if t.shuffled is not None:
            base = M.auroc((T @ V[strings[t.shuffled]])[main], t.labels[main])
        out.append(Score(value, lo, hi, base, extras))
    return out


# --------------------------------------------------------------------------------------------
# LLM scorers


@dataclass
class _Job:
    owner: tuple[int, str]
    items: np.ndarray
    messages: list[dict[str, str]]
    n: int
    values: list[float] | None = None
    probs: list[float] | None = None
    error: str | None = None
    unparsed: bool = False


def _max_tokens(n: int) -> int:
    return 40 + 6 * n


_DIGITS = [str(d) for d in range(10)]
_LIST_END = [",", " ", "]", "}", "]}"]
# The answer format a local model is held to: the start of the JSON answer, and the tokens
# allowed after it (see llm.TransformersBackend).
FORMAT: dict[str, tuple[str, list[str]]] = {
    "detection": ('{"answers": [', ["0", "1", *_LIST_END]),
    "prediction": ('{"predictions": [', [*_DIGITS, "-", ".", "-1", "-0", *_LIST_END]),
    "simulation": ('{"activations": [', [*_DIGITS, "10", *_LIST_END]),
    "intruder": ('{"intruder": ', [*_DIGITS[1:], "}"]),
}


def _run_jobs(
    llm: LLM,
    jobs: list[_Job],
    parse: Callable[[str, int], Any],
    cfg: ScorerConfig,
    fmt: tuple[str, list[str]],
    progress: Any = None,
) -> None:
    """Send every job; re-ask unparseable answers up to cfg.parse_retries times."""
    pending = list(jobs)
    for attempt in range(cfg.parse_retries + 1):
        if not pending:
            break
        params = {
            "temperature": 0.0 if attempt == 0 else 0.7,
            "max_tokens": 0,
            "seed": attempt,
            "prefill": fmt[0],
            "allowed": fmt[1],
        }
        reqs = [Request(j.messages, {**params, "max_tokens": _max_tokens(j.n)}) for j in pending]
        results = llm.run(reqs, progress)
        still = []
        for job, res in zip(pending, results, strict=True):
            if isinstance(res, LLMError):
                job.error = str(res)
                continue
            assert isinstance(res, Completion)
            parsed = parse(res.text, job.n)
            if parsed is None:
                job.unparsed = True
                still.append(job)
                continue
            job.unparsed = False
            job.values = [float(parsed)] if isinstance(parsed, int) else list(parsed)
            if parse is P.parse_detection:
                job.probs = P.binary_token_probs(res.token_logprobs, job.n)
        pending = still


def _batch_jobs(
    tests: Sequence[LatentTest],
    build: Callable[[str, Sequence[str], int], list[dict[str, str]]],
    cfg: ScorerConfig,
) -> list[_Job]:
    jobs = []
    for i, t in enumerate(tests):
        rng = np.random.default_rng([cfg.seed, t.latent])
        order = rng.permutation(len(t.texts))
        for variant, expl in (("real", t.explanation), ("shuffled", t.shuffled)):
            if expl is None:
                continue
            for s in range(0, len(order), cfg.batch_size):
                items = order[s : s + cfg.batch_size]
                msgs = build(expl, [t.texts[k] for k in items], cfg.max_chars)
                jobs.append(_Job((i, variant), items, msgs, len(items)))
    return jobs


def _gather(jobs: list[_Job], i: int, variant: str, n: int) -> tuple[np.ndarray, np.ndarray, int, str | None]:
    """Per-item values and P(1) of latent i's variant (NaN where missing), unparsed count, error."""
    vals = np.full(n, np.nan)
    probs = np.full(n, np.nan)
    unparsed = 0
    errors = []
    for j in jobs:
        if j.owner != (i, variant):
            continue
        if j.values is not None:
            vals[j.items] = j.values
            if j.probs is not None:
                probs[j.items] = j.probs
        elif j.error is not None:
            errors.append(j.error)
        else:
            unparsed += len(j.items)
    return vals, probs, unparsed, (errors[0] if errors else None)


def llm_scores(
    name: str,
    tests: Sequence[LatentTest],
    llm: LLM,
    cfg: ScorerConfig,
    progress: Any = None,
) -> list[Score]:
    """Run one LLM scorer over the latents (see module doc for each definition)."""
    if name == "intruder":
        return _intruder_scores(tests, llm, cfg, progress)
    build, parse = {
        "detection": (P.detection_messages, P.parse_detection),
        "prediction": (P.prediction_messages, P.parse_prediction),
        "simulation": (P.simulation_messages, P.parse_simulation),
    }[name]
    jobs = _batch_jobs(tests, build, cfg)
    _run_jobs(llm, jobs, parse, cfg, FORMAT[name], progress)
    out = []
    for i, t in enumerate(tests):
        if t.explanation is None:
            out.append(Score(error="no explanation"))
            continue
        n = len(t.texts)
        vals, probs, unparsed, err = _gather(jobs, i, "real", n)
        extras: dict[str, float] = {f"{name}_unparsed": float(unparsed)}
        score = Score(extras=extras)
        if np.isnan(vals).all():
            score.error = err or f"every {name} answer was unparseable"
            out.append(score)
            continue
        if err is not None:
            extras[f"{name}_failed_items"] = float(np.isnan(vals).sum() - unparsed)
        boot_seed = cfg.seed + 7919 * i
        if name == "detection":
            bm = M.binary_metrics(vals, t.labels)
            score.value = bm["balanced_accuracy"]
            score.lo, score.hi = M.bootstrap_ci(M.balanced_accuracy_rows, (vals, t.labels), cfg.n_boot, boot_seed)
            extras.update({f"detection_{k}": v for k, v in bm.items() if k != "balanced_accuracy"})
            ok = ~np.isnan(vals)
            has_probs = not np.isnan(probs[ok]).any()
            extras["detection_auroc"] = M.auroc(probs[ok], t.labels[ok]) if has_probs else float("nan")
            if t.kinds is not None:  # the same, against each kind of negative alone
                for kind, col in (("hard_negative", "random"), ("random_negative", "hard")):
                    keep = t.kinds != kind
                    extras[f"detection_{col}_balanced_accuracy"] = M.binary_metrics(
                        vals[keep], t.labels[keep]
                    )["balanced_accuracy"]
        elif name == "prediction":
            score.value = M.pearson(vals, t.labels)
            score.lo, score.hi = M.bootstrap_ci(M.pearson_rows, (vals, t.labels), cfg.n_boot, boot_seed)
            pos = np.where(np.isnan(vals), np.nan, (vals > 0).astype(float))
            extras["prediction_f1"] = M.binary_metrics(pos, t.labels)["f1"]
        else:  # simulation
            score.value = M.pearson(vals, t.acts)
            score.lo, score.hi = M.bootstrap_ci(M.pearson_rows, (vals, t.acts), cfg.n_boot, boot_seed)
        if t.shuffled is not None:
            bvals, _, _, _ = _gather(jobs, i, "shuffled", n)
            if not np.isnan(bvals).all():
                score.baseline = _primary(name, bvals, t)
        out.append(score)
    return out


def _primary(name: str, vals: np.ndarray, t: LatentTest) -> float:
    """The scorer's primary value (see module doc) of per-item answers `vals`."""
    if name == "detection":
        return M.binary_metrics(vals, t.labels)["balanced_accuracy"]
    if name == "prediction":
        return M.pearson(vals, t.labels)
    return M.pearson(vals, t.acts)


def _intruder_scores(tests: Sequence[LatentTest], llm: LLM, cfg: ScorerConfig, progress: Any) -> list[Score]:
    k = cfg.intruder_positives
    jobs: list[_Job] = []
    answers: dict[int, list[int]] = {}
    for i, t in enumerate(tests):
        rng = np.random.default_rng([cfg.seed, t.latent, 1])
        pos = rng.permutation(np.flatnonzero(t.labels == 1))
        neg = rng.permutation(np.flatnonzero(t.labels == 0))
        rounds = min(cfg.intruder_rounds, len(pos) // k, len(neg))
        answers[i] = []
        for r in range(rounds):
            items = list(pos[r * k : (r + 1) * k])
            at = int(rng.integers(0, k + 1))
            items.insert(at, neg[r])
            answers[i].append(at + 1)
            msgs = P.intruder_messages([t.texts[j] for j in items], cfg.max_chars)
            jobs.append(_Job((i, "real"), np.array([r]), msgs, k + 1))
    _run_jobs(llm, jobs, P.parse_intruder, cfg, FORMAT["intruder"], progress)
    out = []
    for i, _t in enumerate(tests):
        n = len(answers[i])
        if n == 0:
            out.append(Score(error="too few test texts for an intruder round"))
            continue
        vals, _, unparsed, err = _gather(jobs, i, "real", n)
        correct = np.where(np.isnan(vals), np.nan, (vals == np.array(answers[i])).astype(float))
        score = Score(baseline=1.0 / (k + 1), extras={"intruder_unparsed": float(unparsed)})
        if np.isnan(correct).all():
            score.error = err or "every intruder answer was unparseable"
        else:
            score.value = float(np.nanmean(correct))
            score.lo, score.hi = M.bootstrap_ci(M.accuracy_rows, (correct,), cfg.n_boot, cfg.seed + i)
        out.append(score)
    return out
