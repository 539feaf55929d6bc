"""Scorers: how well an explanation predicts where its latent fires, on held-out texts.

Every score of every latent comes with a percentile-bootstrap 95% interval over its test items
(`metrics.bootstrap_ci`) and a chance baseline: the same scorer run with a shuffled explanation
(another latent's), except `intruder`, which uses no explanation and whose baseline is the
chance rate 1 / (texts per round).

One rule for every scorer's headline (the column named after the scorer, `<scorer>`): it is
computed on the activating test texts (sampled across activation quantiles) against the
*random* non-activating test texts, as Paulo et al. 2024 ("Automatically Interpreting Millions
of Features in Large Language Models", arXiv:2410.13928, sec. 3) define detection and embedding
scores. Hard negatives (input-space neighbours of the top examples on which the latent does not
fire) are a harder, separate test: `<scorer>_hard` is the same statistic on the activating texts
against the hard negatives alone. When the kinds of the items are unknown, the headline uses
every item.

Support: a score computed on few activating test texts is noise (`1.000 [1.000, 1.000]` on two
texts). The pipeline masks the scores of a latent with fewer than
`ScorerConfig.min_test_positives` activating test texts (NaN, column `low_support` = true), so
nothing is ranked or averaged by an unsupported score.

- `embedding` (no LLM): AUROC of cos(embed(explanation), embed(text)) (the embedding scorer of
  Paulo et al. 2024).
- `detection`: the LLM says 1/0 per text (detection scoring, Paulo et al. 2024): headline
  balanced accuracy (TPR + TNR) / 2; also precision, recall, F1 = 2TP/(2TP+FP+FN) (0, not NaN,
  for a scorer that never says yes), and, when the backend returns token logprobs, AUROC of
  P("1"). (`detection_random_balanced_accuracy` equals the headline and
  `detection_hard_balanced_accuracy` equals `detection_hard`; both names are kept.)
- `prediction`: the capstone's score as in O'Neill et al. 2024 ("Disentangling Dense Embeddings
  with Sparse Autoencoders", arXiv:2408.00657): a prediction in [-1, 1] per text; headline
  Pearson r between predictions and the 0/1 labels, also F1 of prediction > 0. No forced zeros:
  unparseable answers are excluded and counted (`prediction_unparsed`).
- `simulation`: Bills et al. 2023 ("Language models can explain neurons in language models",
  "correlation scoring"): the LLM simulates the activation (0-10) of each text from the
  explanation, and the score is the Pearson r of simulated with true activations over
  activating plus random texts. Where this differs from the paper: Bills et al. simulate one
  activation per *token* of 5 top-activating and 5 random text excerpts, and their random
  excerpts may fire; an SAE on text embeddings has one activation per *text*, so here each text
  is one item, the activating texts are spread over activation quantiles (not only the top)
  and the random texts are non-activating ones.
- `intruder`: k activating texts and one non-activating one; accuracy of spotting the
  non-activating one (the word-intrusion task of Chang et al. 2009, "Reading Tea Leaves", applied
  to SAE latents by Paulo & Belrose 2025, "Evaluating SAE interpretability without
  explanations", arXiv:2507.08473). Needs no explanation. The headline's intruders are random
  non-activating texts; `intruder_hard` uses hard negatives as intruders.

`SCORERS` maps each name to its function `(tests, context) -> [Score]`: adding a scorer is one
function and one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saescope.errors import ConfigError
from saescope.interpret import metrics, prompts
from saescope.interpret.llm import LLM, Completion, LLMError, Request
from saescope.linalg import unit_rows

LLM_SCORERS = ("detection", "prediction", "simulation", "intruder")
HARD = "hard_negative"
RANDOM = "random_negative"


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

    @property
    def n_positive(self) -> int:
        """Activating test texts (the support of every score of this latent)."""
        return int(np.sum(self.labels == 1))

    def headline(self) -> np.ndarray:
        """Items of the headline score: activating + random negatives (all items if kinds unknown)."""
        if self.kinds is None:
            return np.ones(len(self.texts), dtype=bool)
        return self.kinds != HARD

    def hard(self) -> np.ndarray | None:
        """Items of the `_hard` score: activating + hard negatives (None when there are none)."""
        if self.kinds is None or not np.any(self.kinds == HARD):
            return None
        return self.kinds != RANDOM


@dataclass
class Score:
    """One scorer's result on one latent."""

    value: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    baseline: float = float("nan")
    extras: dict[str, float] = field(default_factory=dict)
    """Secondary metrics, column name -> value (e.g. detection_f1, detection_hard)."""
    error: str | None = None
    """Why the score is missing (requests failed, every answer unparseable)."""
    answers: dict[str, list[float | None]] | None = None
    """Per test item, in `LatentTest.texts` order, what a per-text LLM scorer answered (None =
    no answer): `prediction` (detection: 1/0), `probability` (detection: P("1") when the backend
    returns logprobs) and `baseline_prediction` (the answer under the shuffled explanation).
    The pipeline keeps them in `scored_examples.parquet`."""


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
    min_test_positives: int = 5
    """Fewest activating test texts for a score to count; latents with fewer get NaN scores and
    `low_support` = true (a score on 1-2 texts is 1.000 [1.000, 1.000] by luck)."""
    seed: int = 0
    """Seed of item order, intruder rounds and bootstrap (`InterpretConfig.seed` sets it in a run)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"ScorerConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.intruder_positives < 1 or self.intruder_rounds < 0:
            raise ConfigError("ScorerConfig.intruder_positives must be >= 1 and intruder_rounds >= 0")
        if self.parse_retries < 0 or self.n_boot < 10:
            raise ConfigError("ScorerConfig.parse_retries must be >= 0 and n_boot >= 10")
        if self.min_test_positives < 1:
            raise ConfigError(f"ScorerConfig.min_test_positives must be >= 1, got {self.min_test_positives}")


@dataclass
class ScoringContext:
    """What scorers may use: their settings, a sentence embedder, an LLM, a progress bar."""

    cfg: ScorerConfig
    embed: Callable[[list[str]], np.ndarray] | None = None
    """Sentence embedder (the `embedding` scorer)."""
    llm: LLM | None = None
    """LLM (every scorer in LLM_SCORERS)."""
    progress: Any = None
    """A tqdm bar counting LLM requests, or None."""


def parse_scorers(spec: str | Sequence[str]) -> list[str]:
    """Scorer names from "a,b,c" or a list, validated ("none" or empty: no scoring)."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n and n != "none"]
    bad = [n for n in names if n not in SCORERS]
    if bad:
        raise ConfigError(f"--scorer: unknown scorer(s) {', '.join(bad)} (choose from {', '.join(SCORERS)})")
    return list(dict.fromkeys(names))


def mask_low_support(row: dict[str, Any], n_positive: int, scorers: Sequence[str], cfg: ScorerConfig) -> None:
    """Record the support of a latent's scores; blank them (NaN) when it is below the minimum."""
    row["n_test_positive"] = int(n_positive)
    row["low_support"] = bool(n_positive < cfg.min_test_positives)
    if row["low_support"]:
        for name in scorers:
            for col in (name, f"{name}_lo", f"{name}_hi", f"{name}_hard"):
                if col in row:
                    row[col] = float("nan")


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
    V = unit_rows(V)
    out = []
    for i, t in enumerate(tests):
        if t.explanation is None:
            out.append(Score(error="no explanation"))
            continue
        sims = V[[strings[s] for s in t.texts]] @ V[strings[t.explanation]]
        # Hard negatives sit, in the embedding space, closer to the explanation than most
        # activating texts: they get their own column instead of dragging the headline down.
        main, hard = t.headline(), t.hard()
        extras: dict[str, float] = {}
        if hard is not None:
            extras["embedding_hard"] = metrics.auroc(sims[hard], t.labels[hard])
        value = metrics.auroc(sims[main], t.labels[main])
        lo, hi = metrics.bootstrap_ci(metrics.auroc_rows, (sims[main], t.labels[main]), cfg.n_boot, cfg.seed + i)
        base = float("nan")
        if t.shuffled is not None:
            base_sims = V[[strings[s] for s in t.texts]] @ V[strings[t.shuffled]]
            base = metrics.auroc(base_sims[main], t.labels[main])
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
    name: str,
    cfg: ScorerConfig,
    progress: Any = None,
) -> None:
    """Send every job; re-ask unparseable answers up to cfg.parse_retries times."""
    parse = _PARSERS[name]
    prefill, allowed = FORMAT[name]
    schema = prompts.answer_schema(name)
    pending = list(jobs)
    for attempt in range(cfg.parse_retries + 1):
        if not pending:
            break
        params = {
            "temperature": 0.0 if attempt == 0 else 0.7,
            "seed": attempt,
            "prefill": prefill,
            "allowed": allowed,
            "json_schema": schema,
        }
        # detection's n one-token answers: the local backend closes the list at n ("n_items")
        count = (lambda j: {"n_items": j.n}) if name == "detection" else (lambda j: {})
        reqs = [Request(j.messages, {**params, "max_tokens": _max_tokens(j.n), **count(j)}) for j in pending]
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
            if name == "detection":
                job.probs = prompts.binary_token_probs(res.token_logprobs, job.n)
        pending = still


_PARSERS: dict[str, Callable[[str, int], Any]] = {
    "detection": prompts.parse_detection,
    "prediction": prompts.parse_prediction,
    "simulation": prompts.parse_simulation,
    "intruder": prompts.parse_intruder,
}


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


def _balanced_accuracy(vals: np.ndarray, target: np.ndarray) -> float:
    return metrics.binary_metrics(vals, target)["balanced_accuracy"]


@dataclass(frozen=True)
class _PerTextScorer:
    """An LLM scorer that answers one value per text: prompt, headline statistic and its target."""

    build: Callable[[str, Sequence[str], int], list[dict[str, str]]]
    statistic: Callable[[np.ndarray, np.ndarray], float]
    statistic_rows: Callable[..., np.ndarray]
    target: str
    """`labels` (fires or not) or `acts` (true activations)."""


_PER_TEXT: dict[str, _PerTextScorer] = {
    "detection": _PerTextScorer(
        prompts.detection_messages, _balanced_accuracy, metrics.balanced_accuracy_rows, "labels"
    ),
    "prediction": _PerTextScorer(prompts.prediction_messages, metrics.pearson, metrics.pearson_rows, "labels"),
    "simulation": _PerTextScorer(prompts.simulation_messages, metrics.pearson, metrics.pearson_rows, "acts"),
}


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
    spec = _PER_TEXT[name]
    jobs = _batch_jobs(tests, spec.build, cfg)
    _run_jobs(llm, jobs, name, cfg, progress)
    return [_per_text_score(name, spec, jobs, i, t, cfg) for i, t in enumerate(tests)]


def _per_text_score(
    name: str, spec: _PerTextScorer, jobs: list[_Job], i: int, t: LatentTest, cfg: ScorerConfig
) -> Score:
    """Headline with interval, `_hard`, baseline and extras of one latent from its answers."""
    if t.explanation is None:
        return Score(error="no explanation")
    vals, probs, unparsed, err = _gather(jobs, i, "real", len(t.texts))
    base_vals = _gather(jobs, i, "shuffled", len(t.texts))[0] if t.shuffled is not None else None
    score = Score(extras={f"{name}_unparsed": float(unparsed)},
                  answers={"prediction": _listed(vals), "probability": _listed(probs),
                           "baseline_prediction": _listed(base_vals)})
    if np.isnan(vals).all():
        score.error = err or f"every {name} answer was unparseable"
        return score
    if err is not None:
        score.extras[f"{name}_failed_items"] = float(np.isnan(vals).sum() - unparsed)
    target = t.labels if spec.target == "labels" else t.acts
    main, hard = t.headline(), t.hard()
    score.value = spec.statistic(vals[main], target[main])
    score.lo, score.hi = metrics.bootstrap_ci(
        spec.statistic_rows, (vals[main], target[main]), cfg.n_boot, cfg.seed + 7919 * i
    )
    if hard is not None:
        score.extras[f"{name}_hard"] = spec.statistic(vals[hard], target[hard])
    if name == "detection":
        score.extras.update(_detection_extras(vals, probs, t))
    elif name == "prediction":
        positive = np.where(np.isnan(vals), np.nan, (vals > 0).astype(float))
        score.extras["prediction_f1"] = metrics.binary_metrics(positive[main], t.labels[main])["f1"]
    if base_vals is not None and not np.isnan(base_vals).all():
        score.baseline = spec.statistic(base_vals[main], target[main])
    return score


def _listed(values: np.ndarray | None) -> list[float | None] | None:
    """Per-item values as JSON-ready floats (None where NaN = no answer)."""
    if values is None:
        return None
    return [None if np.isnan(v) else float(v) for v in values]


def _detection_extras(vals: np.ndarray, probs: np.ndarray, t: LatentTest) -> dict[str, float]:
    """Precision, recall, F1, AUROC of P("1") on the headline items; BA per kind of negative."""
    main = t.headline()
    extras = {
        f"detection_{k}": v
        for k, v in metrics.binary_metrics(vals[main], t.labels[main]).items()
        if k != "balanced_accuracy"
    }
    answered = main & ~np.isnan(vals)
    has_probs = not np.isnan(probs[answered]).any()
    extras["detection_auroc"] = metrics.auroc(probs[answered], t.labels[answered]) if has_probs else float("nan")
    if t.kinds is not None:
        for kind, col in ((HARD, "random"), (RANDOM, "hard")):
            keep = t.kinds != kind
            extras[f"detection_{col}_balanced_accuracy"] = _balanced_accuracy(vals[keep], t.labels[keep])
    return extras


def _intruder_rounds(
    t: LatentTest, k: int, n_rounds: int, rng: np.random.Generator
) -> tuple[list[list[int]], list[int], list[list[int]], list[int]]:
    """Item lists and 1-based intruder positions: headline rounds (random intruders), hard rounds."""
    pos = rng.permutation(np.flatnonzero(t.labels == 1))
    negatives = t.labels == 0
    if t.kinds is not None:
        random_neg = rng.permutation(np.flatnonzero(negatives & (t.kinds != HARD)))
        hard_neg = rng.permutation(np.flatnonzero(negatives & (t.kinds == HARD)))
    else:
        random_neg, hard_neg = rng.permutation(np.flatnonzero(negatives)), np.zeros(0, np.int64)
    groups = [list(pos[r * k : (r + 1) * k]) for r in range(min(n_rounds, len(pos) // k))]
    rounds: list[tuple[list[list[int]], list[int]]] = []
    for intruders in (random_neg, hard_neg):
        items, answers = [], []
        for group, intruder in zip(groups, intruders, strict=False):
            at = int(rng.integers(0, k + 1))
            items.append(group[:at] + [int(intruder)] + group[at:])
            answers.append(at + 1)
        rounds.append((items, answers))
    return rounds[0][0], rounds[0][1], rounds[1][0], rounds[1][1]


def _intruder_scores(tests: Sequence[LatentTest], llm: LLM, cfg: ScorerConfig, progress: Any) -> list[Score]:
    k = cfg.intruder_positives
    jobs: list[_Job] = []
    answers: dict[tuple[int, str], list[int]] = {}
    for i, t in enumerate(tests):
        rng = np.random.default_rng([cfg.seed, t.latent, 1])
        items, ans, hard_items, hard_ans = _intruder_rounds(t, k, cfg.intruder_rounds, rng)
        for variant, rounds, truth in (("real", items, ans), ("hard", hard_items, hard_ans)):
            answers[(i, variant)] = truth
            for r, round_items in enumerate(rounds):
                msgs = prompts.intruder_messages([t.texts[j] for j in round_items], cfg.max_chars)
                jobs.append(_Job((i, variant), np.array([r]), msgs, k + 1))
    _run_jobs(llm, jobs, "intruder", cfg, progress)
    out = []
    for i in range(len(tests)):
        n = len(answers[(i, "real")])
        if n == 0:
            out.append(Score(error="too few test texts for an intruder round"))
            continue
        vals, _, unparsed, err = _gather(jobs, i, "real", n)
        correct = np.where(np.isnan(vals), np.nan, (vals == np.array(answers[(i, "real")])).astype(float))
        score = Score(baseline=1.0 / (k + 1), extras={"intruder_unparsed": float(unparsed)})
        if np.isnan(correct).all():
            score.error = err or "every intruder answer was unparseable"
        else:
            score.value = float(np.nanmean(correct))
            score.lo, score.hi = metrics.bootstrap_ci(metrics.accuracy_rows, (correct,), cfg.n_boot, cfg.seed + i)
        n_hard = len(answers[(i, "hard")])
        if n_hard:
            hard_vals, _, _, _ = _gather(jobs, i, "hard", n_hard)
            hard_ok = hard_vals == np.array(answers[(i, "hard")])
            if not np.isnan(hard_vals).all():
                score.extras["intruder_hard"] = float(np.mean(hard_ok[~np.isnan(hard_vals)]))
        out.append(score)
    return out


# --------------------------------------------------------------------------------------------
# The registry


def _embedding(tests: Sequence[LatentTest], ctx: ScoringContext) -> list[Score]:
    if ctx.embed is None:
        raise ConfigError("the embedding scorer needs a sentence embedder")
    return embedding_scores(tests, ctx.embed, ctx.cfg)


def _llm_scorer(name: str) -> Callable[[Sequence[LatentTest], ScoringContext], list[Score]]:
    def score(tests: Sequence[LatentTest], ctx: ScoringContext) -> list[Score]:
        if ctx.llm is None:
            raise ConfigError(f"the {name} scorer needs an LLM")
        return llm_scores(name, tests, ctx.llm, ctx.cfg, ctx.progress)

    score.__name__ = f"{name}_scores"
    return score


SCORERS: dict[str, Callable[[Sequence[LatentTest], ScoringContext], list[Score]]] = {
    "embedding": _embedding,
    **{name: _llm_scorer(name) for name in LLM_SCORERS},
}
"""Scorer name -> `fn(tests, context) -> [Score]` (one per test, same order)."""
