"""The local transformers backend with the offline smollm2 model (one small generation)."""

from __future__ import annotations

import pytest

from saescope.interpret.cache import ResponseCache
from saescope.interpret.llm import LLM, TransformersBackend
from saescope.interpret.llm import Request as Req
from saescope.interpret.prompts import detection_messages
from saescope.interpret.scorers import FORMAT


@pytest.mark.slow
def test_smollm2_answers_with_chat_template_prefill_and_logprobs(tmp_path):
    pytest.importorskip("gguf")
    backend = TransformersBackend("smollm2")
    cache = ResponseCache(tmp_path / "c.sqlite")
    msgs = detection_messages("volcanoes", ["lava flows from the crater", "a violin concerto"])
    prefill, allowed = FORMAT["detection"]
    req = Req(msgs, {"temperature": 0.0, "max_tokens": 6, "prefill": prefill, "allowed": allowed, "seed": 0})
    (c,) = LLM(backend, cache).run([req])
    assert not isinstance(c, Exception), c
    assert c.text.startswith('{"answers": [')  # the forced JSON prefix is part of the answer
    # Constrained decoding: only 0/1 answers, separators and the closing brackets.
    assert set(c.text[len(prefill):]) <= set("01, ]}")
    assert 1 <= c.completion_tokens <= 6
    assert c.prompt_tokens > 100  # system + user turns through the chat template
    assert c.token_logprobs is not None and len(c.token_logprobs) == c.completion_tokens
    assert all(lp <= 0 for _, alts in c.token_logprobs for lp in alts.values())
    # Same request again: answered from the cache, no generation.
    llm2 = LLM(backend, cache)
    (c2,) = llm2.run([req])
    assert c2.cached and c2.text == c.text and llm2.stats["calls"] == 0


@pytest.mark.slow
def test_smollm2_detection_list_is_closed_at_the_asked_count(tmp_path):
    """SmolLM2-135M left alone writes 30 answers for 8 texts; with `n_items` the local backend
    closes the list at n, so the strict parser reads it."""
    pytest.importorskip("gguf")
    from saescope.interpret.prompts import parse_detection

    texts = ["lava flows from the crater", "a violin concerto", "the volcano erupted", "a senate vote",
             "magma under the crust", "the orchestra tuned up", "ash fell on the town"]
    msgs = detection_messages("volcanoes", texts)
    prefill, allowed = FORMAT["detection"]
    params = {"temperature": 0.0, "max_tokens": 40 + 6 * len(texts), "prefill": prefill, "allowed": allowed,
              "seed": 0, "n_items": len(texts)}
    (c,) = LLM(TransformersBackend("smollm2"), ResponseCache(tmp_path / "c.sqlite")).run([Req(msgs, params)])
    assert not isinstance(c, Exception), c
    assert parse_detection(c.text, len(texts)) is not None, c.text
