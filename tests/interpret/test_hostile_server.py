"""A hostile or broken LLM server cannot stall, flood or crash a run (issue 27, cases 4-6).

Everything goes over the real wire to the fault-injecting server (`fault_server.py`).
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.cli.main import run
from saescope.interpret.llm import LLM, LLMError, OpenAIBackend, Request
from saescope.interpret.prompts import EXPLAIN_HEADER, detection_messages, parse_explanation


def _one_request():
    return [Request(detection_messages("volcano lava magma", ["volcano number 0", "violin melody"]),
                    {"max_tokens": 30})]


@pytest.mark.timeout(60)
def test_a_trickling_server_is_cut_at_the_total_deadline(fault_server):
    """One byte every 2 s never trips a per-read timeout of 3 s; the total deadline of 3 s does."""
    fault_server.trickle_seconds = 2.0
    fault_server.fault_plan = {"volcano number 0": ["trickle"] * 5}
    backend = OpenAIBackend(base_url=fault_server.base_url, model="m", timeout=3.0, max_retries=0)
    t0 = time.monotonic()
    (out,) = LLM(backend).run(_one_request())
    elapsed = time.monotonic() - t0
    assert isinstance(out, LLMError) and "within 3 s" in str(out)
    assert elapsed < 8, elapsed  # the whole answer would take minutes


def test_the_bytes_read_from_an_answer_are_capped(fault_server):
    fault_server.huge_bytes = 8 << 20
    fault_server.fault_plan = {"volcano number 0": ["huge"] * 5}
    backend = OpenAIBackend(base_url=fault_server.base_url, model="m", timeout=30,
                            max_response_bytes=1 << 20, backoff_base=0.01)
    (out,) = LLM(backend).run(_one_request())
    assert isinstance(out, LLMError) and "longer than 1048576 bytes" in str(out)
    assert fault_server.total_requests == 1  # not retried: the same server would send it again


def _interpret_inputs(tmp_path):
    from synth import TOPICS, corpus

    from saescope.data.synthetic import oracle_sae

    texts, topic = corpus(n=40, seed=0)
    d = len(TOPICS) + 2
    X = np.zeros((len(texts), d), np.float32)
    X[np.arange(len(texts)), topic] = 1.0 + np.random.default_rng(0).random(len(texts))
    oracle_sae(np.eye(d, dtype=np.float32), k=1).save(tmp_path / "sae")
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), d)
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(len(texts))], "text": texts,
                             "embedding": emb}), tmp_path / "data.parquet")


def _interpret(tmp_path, srv, *extra):
    return ["interpret", tmp_path / "sae", "--data", tmp_path / "data.parquet",
            "--out", tmp_path / "out", "--explainer", "llm", "--llm-base-url", srv.base_url,
            "--llm-model", "hostile", "--llm-timeout", "10", "--cache", tmp_path / "cache.db",
            "--latents", "3", "--no-progress", *extra]


DEEP = '{"explanation": ' + "[" * 200_000 + "]" * 200_000 + "}"
"""JSON nested 200,000 deep (a recursive decoder raises RecursionError), under the byte cap."""


@pytest.mark.timeout(300)
def test_a_200000_deep_answer_is_a_parse_failure_also_from_the_cache(tmp_path, fault_server,
                                                                     fast_backoff):
    """Every answer (explanations and detection) is JSON nested 200,000 deep: the latents are
    recorded as failed, the run finishes; the rerun, answered from the cache, finishes too."""
    _interpret_inputs(tmp_path)
    fault_server.fault_every_first = False
    fault_server.answer_override = lambda user: DEEP
    argv = _interpret(tmp_path, fault_server, "--scorer", "detection")
    assert run(argv) == 0
    lat = pq.read_table(tmp_path / "out" / "latents.parquet").to_pandas()
    assert lat["explanation"].isna().all()
    sent = fault_server.total_requests
    assert run([*argv, "--overwrite"]) == 0  # the cached answers fail to parse again, no crash
    assert fault_server.total_requests == sent  # every re-ask was answered from the cache


def test_a_megabyte_explanation_is_not_stored(tmp_path, fault_server, fast_backoff):
    import json

    _interpret_inputs(tmp_path)
    fault_server.fault_every_first = False
    fault_server.answer_override = lambda user: (json.dumps({"explanation": "x" * 1_000_000})
                                                 if EXPLAIN_HEADER in user else None)
    assert run(_interpret(tmp_path, fault_server, "--scorer", "none")) == 0
    lat = pq.read_table(tmp_path / "out" / "latents.parquet").to_pandas()
    assert lat["explanation"].isna().all()
    assert (tmp_path / "out" / "latents.parquet").stat().st_size < 100_000


def test_explanations_are_capped_in_characters_not_only_words():
    assert parse_explanation('{"explanation": "' + "x" * 301 + '"}') is None
    assert parse_explanation('{"explanation": "lava flows"}') == "lava flows"
    assert len(parse_explanation("y" * 5000)) == 300  # a plain line is cut


@pytest.mark.timeout(30)
def test_parsing_is_linear_in_the_answer():
    """A megabyte of unclosed `{"a":` took 320 s (each `{` decoded to the end); now one pass.
    The timeout guards against the quadratic parse coming back; it measures nothing."""
    assert parse_explanation('{"a":' * 200_000) is None
