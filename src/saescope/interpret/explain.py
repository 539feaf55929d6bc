"""The explain phase: an explanation per latent from its explain examples.

`EXPLAINERS` maps a name to a factory `(ExplainContext) -> explain(latents) -> rows`: adding an
explainer is one factory and one entry. Each row is `{"latent", "explanation" (None on failure),
"error"}` plus anything the explainer wants to keep (e.g. its terms).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saescope.errors import ConfigError
from saescope.interpret import prompts
from saescope.interpret.examples import Examples
from saescope.interpret.keywords import KeywordsConfig, KeywordsExplainer
from saescope.interpret.llm import LLM, Completion, LLMError, Request

KEYWORDS_FIT_ROWS = 50_000
"""Rows of the corpus the keywords explainer learns its vocabulary and prior from."""

NO_TERMS = "no explanation: no distinctive terms"
"""Status of a latent whose activating texts share no distinctive term: not a failure."""

ExplainFn = Callable[[list[int]], list[dict[str, Any]]]


@dataclass
class ExplainContext:
    """What an explainer may use."""

    examples: Examples
    texts: Sequence[str]
    cfg: Any
    """The InterpretConfig of the run."""
    llm: LLM | None = None
    progress: Any = None
    """A tqdm bar counting LLM requests, or None."""
    negative_texts: Sequence[str] | None = None
    """Texts of non-activating examples (None: `texts`); token windows without the mark."""
    keyword_texts: Sequence[str] | None = None
    """Texts the keywords explainer reads (None: `texts`); for tokens, the firing token and
    its near neighbours."""


def keywords_explainer(ctx: ExplainContext) -> ExplainFn:
    """Fightin'-words terms of the activating explain texts against the corpus (keywords.py)."""
    texts = ctx.keyword_texts if ctx.keyword_texts is not None else ctx.texts
    n = len(texts)
    # The corpus prior needs a sample, not every row of a large corpus.
    fit_rows = np.arange(n)
    if n > KEYWORDS_FIT_ROWS:
        fit_rows = np.sort(np.random.default_rng(ctx.cfg.seed).choice(n, KEYWORDS_FIT_ROWS, replace=False))
    kw_cfg: KeywordsConfig = ctx.cfg.keywords
    explainer = KeywordsExplainer(kw_cfg).fit([texts[i] for i in fit_rows])

    def explain(latents: list[int]) -> list[dict[str, Any]]:
        return explain_with_keywords(explainer, ctx.examples, latents, texts)

    return explain


def explain_with_keywords(
    explainer: KeywordsExplainer, ex: Examples, latents: list[int], texts: Sequence[str]
) -> list[dict[str, Any]]:
    """Keyword labels of `latents` from their activating explain examples."""
    docs = [ex.for_latent(lat, "explain") for lat in latents]
    positives = [d["row"][d["label"] == 1] for d in docs]
    rows = np.unique(np.concatenate(positives)) if positives else np.zeros(0, np.int64)
    doc_terms = explainer.transform_texts([texts[r] for r in rows])
    labels, terms = explainer.explain([np.searchsorted(rows, p) for p in positives], doc_terms)
    return [
        {"latent": lat, "explanation": label if t else None, "terms": t,
         "error": None if t else NO_TERMS}
        for lat, label, t in zip(latents, labels, terms, strict=True)
    ]


def llm_explainer(ctx: ExplainContext) -> ExplainFn:
    """An LLM names what the activating examples share (prompts.explain_messages)."""
    if ctx.llm is None:
        raise ConfigError("the llm explainer needs an LLM")
    llm = ctx.llm

    def explain(latents: list[int]) -> list[dict[str, Any]]:
        return explain_with_llm(llm, ctx.examples, latents, ctx.texts, ctx.cfg, ctx.progress,
                                ctx.negative_texts)

    return explain


def explain_messages_for(ex: Examples, latent: int, texts: Sequence[str], cfg: Any,
                         negative_texts: Sequence[str] | None = None
                         ) -> tuple[list[dict[str, str]], list[str]]:
    """The explainer prompt of one latent and the example texts it shows (to spot echoes).
    `negative_texts`: what non-activating rows are shown as (default `texts`); given, the run is
    token-level and the prompt asks about the <<marked>> tokens (see `saescope.interpret.tokens`)."""
    pc = cfg.explain_prompt
    d = ex.for_latent(latent, "explain")
    pos = d["label"] == 1
    order = np.argsort(-d["activation"][pos], kind="stable")
    pos_texts = [texts[r] for r in d["row"][pos][order][: pc.n_positive]]
    neg_src = texts if negative_texts is None else negative_texts
    neg_texts = [neg_src[r] for r in d["row"][~pos][: pc.n_negative]]
    msgs = prompts.explain_messages(pos_texts, neg_texts, pc.max_chars, pc.budget_chars,
                                    marked=negative_texts is not None)
    return msgs, pos_texts + neg_texts


def explain_with_llm(
    llm: LLM, ex: Examples, latents: list[int], texts: Sequence[str], cfg: Any, bar: Any = None,
    negative_texts: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One explanation per latent; unparseable answers re-asked at temperature 0.7."""
    asked = {lat: explain_messages_for(ex, lat, texts, cfg, negative_texts) for lat in latents}
    result: dict[int, dict[str, Any]] = {}
    pending = list(latents)
    for attempt in range(cfg.scoring.parse_retries + 1):
        if not pending:
            break
        params = {
            "temperature": 0.0 if attempt == 0 else 0.7,
            "max_tokens": cfg.explain_prompt.max_tokens,
            "seed": attempt,
            "prefill": '{"explanation": "',
            "stop": ['"'],
            "close": '"}',
            "json_schema": prompts.answer_schema("explanation"),
        }
        answers = llm.run([Request(_retry_messages(asked[lat][0], attempt), params) for lat in pending], bar)
        still = []
        for lat, ans in zip(pending, answers, strict=True):
            if isinstance(ans, LLMError):
                result[lat] = {"latent": lat, "explanation": None, "error": f"failed: {ans}"}
                continue
            assert isinstance(ans, Completion)
            e = prompts.parse_explanation(ans.text, examples=asked[lat][1])
            if e is None:
                result[lat] = {"latent": lat, "explanation": None, "error": "failed: unparseable explanation",
                               "raw": ans.text[:300]}
                still.append(lat)
            else:
                result[lat] = {"latent": lat, "explanation": e, "error": None, "attempts": attempt + 1}
        pending = still
    return [result[lat] for lat in latents]


def _retry_messages(messages: list[dict[str, str]], attempt: int) -> list[dict[str, str]]:
    """The prompt of a re-ask: many local servers decode greedily whatever the temperature, so a
    retry also words the request differently (shorter answer asked for)."""
    if attempt == 0:
        return messages
    last = dict(messages[-1])
    last["content"] += "\nReply with only the topic, in at most 8 words."
    return [*messages[:-1], last]


EXPLAINERS: dict[str, Callable[[ExplainContext], ExplainFn]] = {
    "keywords": keywords_explainer,
    "llm": llm_explainer,
}
"""Explainer name -> factory building its `explain(latents) -> rows` for a run."""
