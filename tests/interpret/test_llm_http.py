"""The OpenAI-compatible client against a real local server that injects faults."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from saescope.interpret.cache import ResponseCache
from saescope.interpret.llm import LLM, LLMError, OpenAIBackend, Request, parse_retry_after
from saescope.interpret.prompts import detection_messages


def _backend(srv, **kw):
    kw.setdefault("timeout", 0.5)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    kw.setdefault("max_concurrency", 4)
    return OpenAIBackend(base_url=srv.base_url, model="scripted", **kw)


def _requests(n):
    return [
        Request(detection_messages("volcano lava magma", [f"volcano number {i}", "violin melody"]), {"max_tokens": 30})
        for i in range(n)
    ]


def test_every_fault_recovers_and_nothing_is_paid_twice(fault_server, tmp_path):
    fault_server.retry_after = "0.1"
    cache = ResponseCache(tmp_path / "c.sqlite")
    llm = LLM(_backend(fault_server), cache, concurrency=4)
    reqs = _requests(20) + _requests(5)  # 5 duplicates of requests already in the batch
    out = llm.run(reqs)
    assert all(not isinstance(o, LLMError) for o in out), [o for o in out if isinstance(o, LLMError)]
    assert [json.loads(o.text)["answers"] for o in out] == [[1, 0]] * 25
    # Each of the five faults was injected, each distinct request paid exactly once.
    assert set(fault_server.faults_sent) == {"429", "500", "hang", "malformed", "truncated"}
    assert len(fault_server.paid) == 20 and max(fault_server.paid.values()) == 1
    assert len(cache) == 20
    assert llm.stats["calls"] == 20 and llm.stats["failures"] == 0
    # A rerun is answered from the cache: zero requests reach the server.
    before = fault_server.total_requests
    llm2 = LLM(_backend(fault_server), ResponseCache(tmp_path / "c.sqlite"))
    out2 = llm2.run(reqs)
    assert fault_server.total_requests == before
    assert [o.text for o in out2] == [o.text for o in out]
    assert llm2.stats["calls"] == 0 and llm2.stats["cache_hits"] == 25


def test_retry_after_is_honoured(fault_server):
    fault_server.fault_plan = {"volcano number 0": ["429", "429"]}
    llm = LLM(_backend(fault_server, backoff_max=0.01), None)
    t0 = time.monotonic()
    (out,) = llm.run(_requests(1))
    assert not isinstance(out, LLMError)
    (key,) = fault_server.times
    gaps = np.diff(fault_server.times[key])
    # The backoff alone would wait <= 0.01 s; Retry-After: 1 makes each gap about a second.
    assert len(gaps) == 2 and gaps.min() >= 0.95
    assert time.monotonic() - t0 < 5


def test_permanent_failures_are_recorded_not_raised(fault_server, tmp_path):
    fault_server.always_fail = {"volcano number 3"}
    fault_server.fault_plan = {"volcano number 5": ["401"]}
    cache = ResponseCache(tmp_path / "c.sqlite")
    llm = LLM(_backend(fault_server, max_retries=2), cache)
    out = llm.run(_requests(6))
    assert isinstance(out[3], LLMError) and "3 attempts" in str(out[3]) and "HTTP 500" in str(out[3])
    assert isinstance(out[5], LLMError) and "HTTP 401" in str(out[5])
    assert sum(isinstance(o, LLMError) for o in out) == 2
    assert len(cache) == 4  # failures are never cached
    assert llm.stats["failures"] == 2
    # 401 is not retried; 500 is retried max_retries times.
    assert fault_server.attempts and sorted(fault_server.attempts.values()).count(3) == 1


def test_api_key_from_env_is_sent_and_never_shown(fault_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("SAESCOPE_LLM_API_KEY", "sk-secret-123")
    fault_server.fault_every_first = False
    backend = _backend(fault_server)
    llm = LLM(backend, None)
    llm.run(_requests(1))
    assert fault_server.auth_seen == ["Bearer sk-secret-123"]
    assert "sk-secret" not in repr(backend)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0.5", 0.5), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("junk", None), (None, None)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_json_schema_is_sent_and_dropped_when_the_server_rejects_it(fault_server):
    fault_server.fault_every_first = False
    schema = {"type": "object", "properties": {"answers": {"type": "array"}}, "required": ["answers"]}
    req = Request(detection_messages("volcano", ["volcano lava"]), {"max_tokens": 20, "json_schema": schema})
    backend = _backend(fault_server)
    (out,) = LLM(backend, None).run([req])
    assert not isinstance(out, LLMError)
    sent = fault_server.response_formats[-1]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == schema
    # A server that refuses response_format: the request is sent again without it, and so are later ones.
    fault_server.reject_response_format = True
    backend = _backend(fault_server)
    outs = LLM(backend, None).run([req, Request(req.messages, {**req.params, "max_tokens": 21})])
    assert all(not isinstance(o, LLMError) for o in outs), outs
    assert json.loads(outs[0].text)["answers"] == [1]
    assert fault_server.response_formats[-1] is None and backend.structured_output is False
