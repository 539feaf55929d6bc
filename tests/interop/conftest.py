"""A tiny but real run folder (data/, sae/, interpret/) shared by the export tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TOPICS = ("cat dog pet fur", "stock bond market price", "rain cloud storm wind",
          "chess pawn rook king")


def _hash_embed(texts: list[str]) -> np.ndarray:
    """A deterministic bag-of-words embedding (stands in for the sentence model of the scorer)."""
    out = np.zeros((len(texts), 32), np.float32)
    for i, t in enumerate(texts):
        for w in t.split():
            out[i, hash(w) % 32] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    import torch

    from saescope.data.shards import vectors_to_arrow
    from saescope.interpret.pipeline import InterpretConfig, interpret_vectors
    from saescope.sae.config import SAEConfig, TrainConfig
    from saescope.sae.train import train_sae

    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    n, d = 400, 16
    topic = rng.integers(0, len(TOPICS), n)
    centres = rng.standard_normal((len(TOPICS), d)).astype(np.float32) * 2
    X = centres[topic] + rng.standard_normal((n, d)).astype(np.float32) * 0.5
    words = [t.split() for t in TOPICS]
    texts = [" ".join(rng.choice(words[t], 3)) + f" note {i}" for i, t in enumerate(topic)]
    ids = [f"doc{i}" for i in range(n)]
    (root / "data").mkdir()
    pq.write_table(pa.table({"id": ids, "embedding": vectors_to_arrow(X), "text": texts}),
                   root / "data" / "embeddings.parquet")
    torch.manual_seed(0)
    cfg = TrainConfig(sae=SAEConfig(arch="topk", k=3, num_latents=24), steps=60, batch_size=128,
                      device="cpu", log_every=20)
    res = train_sae(X, cfg, out_dir=root / "sae", progress=False)
    icfg = InterpretConfig(explainer="keywords", scorers=("embedding",), cache_path=str(root / "c.db"))
    interpret_vectors(res.sae, X, ids, texts, root / "interpret", icfg, progress=False, embed=_hash_embed)
    return root


class NoisyDetector:
    """In-process LLM backend for the detection scorer: right on most texts, wrong on a fixed
    quarter of them (by a hash of the text), with token logprobs, so that per-latent accuracies
    differ from 1 and from each other and an item put in the wrong place changes them."""

    model_id = "noisy-detector"
    max_concurrency = 2

    async def complete(self, messages, params):
        import json
        import math
        import re
        import zlib

        from saescope.interpret.llm import Completion

        user = messages[-1]["content"]
        expl = json.loads(re.search(r"Feature description: (\".*\")", user).group(1))
        words = {w for w in expl.lower().split() if len(w) > 2 and w != "note"}
        texts = [json.loads(m) for m in re.findall(r"^\d+\. (\".*\")$", user, flags=re.M)]
        answers, logprobs = [], []
        for t in texts:
            h = zlib.crc32(t.encode())
            fires = bool(words & set(t.lower().split())) != (h % 4 == 0)
            p = (0.55 if fires else 0.05) + 0.4 * (h % 97) / 97
            answers.append(int(fires))
            logprobs.append((str(int(fires)), {"1": math.log(p), "0": math.log(1 - p)}))
        return Completion(json.dumps({"answers": answers}), token_logprobs=logprobs)

    async def aclose(self):
        return None


@pytest.fixture(scope="session")
def detection_run(tiny_run, tmp_path_factory):
    """A run folder like `tiny_run` whose interpretation also ran the detection scorer."""
    import shutil

    from saescope.interpret.cache import ResponseCache
    from saescope.interpret.llm import LLM
    from saescope.interpret.pipeline import InterpretConfig, interpret_vectors
    from saescope.sae.model import SparseAutoencoder

    root = tmp_path_factory.mktemp("detection_run")
    for stage in ("data", "sae"):
        shutil.copytree(tiny_run / stage, root / stage)
    table = pq.read_table(root / "data" / "embeddings.parquet")
    X = np.asarray(table["embedding"].to_pylist(), np.float32)
    icfg = InterpretConfig(explainer="keywords", scorers=("embedding", "detection"),
                           cache_path=str(root / "c.db"))
    llm = LLM(NoisyDetector(), ResponseCache(root / "c.db"))
    interpret_vectors(SparseAutoencoder.load(root / "sae"), X, table["id"].to_pylist(),
                  table["text"].to_pylist(), root / "interpret", icfg, progress=False,
                  embed=_hash_embed, llm=llm)
    return root
