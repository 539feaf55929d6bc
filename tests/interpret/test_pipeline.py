"""run_interpret end to end: outputs, LLM path through a faulty server, resume, zero-call rerun."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from fault_server import INJECTION
from synth import TOPICS, corpus, hash_embed, topic_codes

from saescope.errors import ConfigError
from saescope.interpret import (
    SCORERS,
    InterpretConfig,
    ScorerConfig,
    interpret_vectors,
    run_interpret,
)
from saescope.interpret.prompts import EXPLAIN_HEADER, EXPLAIN_NEGATIVE_HEADER


@pytest.fixture(scope="module")
def data():
    texts, topic = corpus(240, seed=3)
    texts = [f"{t} {INJECTION}" if i % 5 == 0 else t for i, t in enumerate(texts)]
    codes = topic_codes(topic)
    X = hash_embed(texts, 64)
    ids = [f"doc{i}" for i in range(len(texts))]
    return X, ids, texts, codes, topic


def _embed(strings):
    return hash_embed(strings)


def test_keywords_run_writes_the_documented_outputs(data, tmp_path):
    X, ids, texts, codes, topic = data
    out = tmp_path / "interp"
    summary = interpret_vectors(None, X, ids, texts, out, InterpretConfig(), progress=False, codes=codes, embed=_embed)
    lat = pq.read_table(out / "latents.parquet")
    for col in ("latent", "density", "n_fires", "status", "explanation", "explainer", "top_ids", "top_acts",
                "embedding", "embedding_lo", "embedding_hi", "embedding_baseline", "family", "similar_latents"):
        assert col in lat.column_names, col
    assert str(lat.schema.field("latent").type) == "int32"
    assert str(lat.schema.field("top_ids").type) == "list<element: string>"
    rows = lat.to_pylist()
    assert [r["status"] for r in rows] == ["ok"] * 6 + ["dead"]
    for k in range(6):
        assert rows[k]["n_fires"] == int((topic == k).sum())
        assert rows[k]["explanation"].split(",")[0] in TOPICS[k]
        assert rows[k]["embedding"] > 0.75 and rows[k]["embedding_lo"] <= rows[k]["embedding"]
        assert all(texts[ids.index(i)] for i in rows[k]["top_ids"])
    ex = pq.read_table(out / "examples.parquet").to_pandas()
    assert set(ex.columns) == {"latent", "id", "text", "activation", "kind", "split"}
    for _, g in ex.groupby("latent"):
        assert not set(g[g.split == "explain"].id) & set(g[g.split == "test"].id)
    s = json.loads((out / "summary.json").read_text())
    assert s == json.loads(json.dumps(summary))
    assert s["scores"]["embedding"]["mean"] > 0.85
    assert s["scores"]["embedding"]["baseline_mean"] < 0.7
    # the gain over the shuffled baseline, paired by latent, with its interval
    t = lat.to_pandas()
    gain = s["scores"]["embedding"]["above_baseline"]
    diff = (t.embedding - t.embedding_baseline).dropna()
    assert gain["n_latents"] == len(diff) == 6 and gain["mean"] == pytest.approx(diff.mean())
    assert 0 < gain["ci"][0] <= gain["mean"] <= gain["ci"][1]
    assert s["counts"]["ok"] == 6 and s["counts"]["dead"] == 1
    m = json.loads((out / "manifest.json").read_text())
    assert m["sample_sizes"]["n_test_positive"] == 20 and m["seeds"]["run"] == 0
    assert not (out / ".work").exists()
    with pytest.raises(ConfigError, match="finished interpretation"):
        interpret_vectors(None, X, ids, texts, out, InterpretConfig(), progress=False, codes=codes, embed=_embed)


def test_resume_scores_only_unfinished_latents(data, tmp_path, monkeypatch):
    X, ids, texts, codes, _ = data
    out = tmp_path / "interp"
    seen: list[int] = []
    real = SCORERS["embedding"]

    def crashing(tests, ctx):
        if seen:
            raise KeyboardInterrupt
        seen.extend(t.latent for t in tests)
        return real(tests, ctx)

    monkeypatch.setitem(SCORERS, "embedding", crashing)
    cfg = InterpretConfig(chunk_latents=2)
    with pytest.raises(KeyboardInterrupt):
        interpret_vectors(None, X, ids, texts, out, cfg, progress=False, codes=codes, embed=_embed)
    assert seen == [0, 1] and not (out / "summary.json").exists()
    with pytest.raises(ConfigError, match="other settings"):
        interpret_vectors(None, X, ids, texts, out, InterpretConfig(chunk_latents=2, seed=5), progress=False,
                      codes=codes, embed=_embed)
    resumed: list[int] = []

    def counting(tests, ctx):
        resumed.extend(t.latent for t in tests)
        return real(tests, ctx)

    monkeypatch.setitem(SCORERS, "embedding", counting)
    interpret_vectors(None, X, ids, texts, out, cfg, progress=False, codes=codes, embed=_embed)
    assert resumed == [2, 3, 4, 5]
    lat = pq.read_table(out / "latents.parquet").to_pandas()
    assert lat.embedding.notna().sum() == 6


def test_scored_examples_survive_a_resume(data, tmp_path, fault_server, monkeypatch):
    X, ids, texts, codes, _ = data
    fault_server.fault_every_first = False
    cfg = InterpretConfig(scorers=("detection",), llm_base_url=fault_server.base_url, llm_model="scripted",
                          cache_path=str(tmp_path / "cache.sqlite"), chunk_latents=2,
                          scoring=ScorerConfig(n_boot=50))
    interpret_vectors(None, X, ids, texts, tmp_path / "whole", cfg, progress=False, codes=codes)
    real = SCORERS["detection"]
    chunks: list[int] = []

    def crashing(tests, ctx):
        if chunks:
            raise KeyboardInterrupt
        chunks.append(len(tests))
        return real(tests, ctx)

    monkeypatch.setitem(SCORERS, "detection", crashing)
    with pytest.raises(KeyboardInterrupt):
        interpret_vectors(None, X, ids, texts, tmp_path / "resumed", cfg, progress=False, codes=codes)
    monkeypatch.setitem(SCORERS, "detection", real)
    interpret_vectors(None, X, ids, texts, tmp_path / "resumed", cfg, progress=False, codes=codes)
    whole = pq.read_table(tmp_path / "whole" / "scored_examples.parquet")
    resumed = pq.read_table(tmp_path / "resumed" / "scored_examples.parquet")
    ex = pq.read_table(tmp_path / "whole" / "examples.parquet").to_pandas()
    assert chunks == [2] and whole.num_rows == (ex.split == "test").sum() > 200
    assert resumed.equals(whole)


def test_llm_run_through_faulty_server_then_zero_call_rerun(data, tmp_path, fault_server, fast_backoff):
    X, ids, texts, codes, _ = data
    fault_server.retry_after = "0.05"
    cfg = InterpretConfig(
        explainer="llm",
        scorers=("embedding", "detection", "intruder"),
        llm_base_url=fault_server.base_url,
        llm_model="scripted",
        llm_timeout=0.5,
        cache_path=str(tmp_path / "cache.sqlite"),
        scoring=ScorerConfig(n_boot=200),
    )
    out = tmp_path / "interp"
    s = interpret_vectors(None, X, ids, texts, out, cfg, progress=False, codes=codes, embed=_embed)
    assert set(fault_server.faults_sent) == {"429", "500", "hang", "malformed", "truncated"}
    assert max(fault_server.paid.values()) == 1
    lat = pq.read_table(out / "latents.parquet").to_pandas()
    ok = lat[lat.status == "ok"]
    assert len(ok) == 6
    for _, r in ok.iterrows():
        assert r.explanation == " ".join(TOPICS[r.latent][:3])
        # The oracle echoes injected texts before answering: parsing still reads its answers.
        assert r.detection == 1.0 and r.detection_unparsed == 0
        assert r.detection_baseline < 0.6
        assert r.intruder == 1.0 and r.intruder_baseline == pytest.approx(0.2)
        # The hard-negative columns follow the same rule for every scorer.
        assert r.intruder_hard == 1.0 and r.detection_hard == 1.0 and r.embedding_hard <= 1.0
    ex = pq.read_table(out / "examples.parquet").to_pandas()
    assert ex[ex.split == "test"].text.str.contains(INJECTION).any()
    assert s["scores"]["detection"]["mean"] == 1.0
    # every detection answer on every test example, as the oracle gave it (all right)
    se = pq.read_table(out / "scored_examples.parquet").to_pandas()
    assert set(se.scorer) == {"detection"} and len(se) == (ex.split == "test").sum()
    assert (se.prediction == se.activating.astype(float)).all() and se.correct.all()
    assert se.baseline_prediction.notna().all() and (se.baseline_prediction != se.prediction).any()
    m = json.loads((out / "manifest.json").read_text())
    assert m["llm_stats"]["calls"] == len(fault_server.paid) and m["token_counts"]["prompt"] > 0
    assert m["prompt_version"] and m["model"].endswith(":scripted")
    # Rerun of the finished job (overwrite): every answer comes from the cache.
    before = fault_server.total_requests
    cfg.overwrite = True
    s2 = interpret_vectors(None, X, ids, texts, out, cfg, progress=False, codes=codes, embed=_embed)
    assert fault_server.total_requests == before
    assert s2["scores"] == s["scores"]
    m2 = json.loads((out / "manifest.json").read_text())
    assert m2["llm_stats"]["calls"] == 0 and m2["llm_stats"]["cache_hits"] > 0


def test_failed_latents_are_recorded(data, tmp_path, fault_server, fast_backoff):
    X, ids, texts, codes, _ = data
    fault_server.fault_every_first = False
    oracle = fault_server.oracle

    def explains_latent_2(user):  # the explanation request of latent 2 always gets HTTP 500
        if EXPLAIN_HEADER not in user:
            return False
        firing = user.split(EXPLAIN_NEGATIVE_HEADER)[0]
        return oracle.topic_of(firing.split("\n")[1]) == 2

    fault_server.fail_if = explains_latent_2
    cfg = InterpretConfig(
        explainer="llm",
        scorers=("embedding",),
        llm_base_url=fault_server.base_url,
        llm_model="scripted",
        cache_path=str(tmp_path / "cache.sqlite"),
    )
    s = interpret_vectors(None, X, ids, texts, tmp_path / "o", cfg, progress=False, codes=codes, embed=_embed)
    lat = pq.read_table(tmp_path / "o" / "latents.parquet").to_pandas()
    st = dict(zip(lat.latent, lat.status, strict=True))
    assert st[2].startswith("failed:") and "HTTP 500" in st[2]
    assert sum(v == "ok" for v in st.values()) == 5
    assert s["counts"]["failed"] == 1 and np.isnan(lat.embedding[lat.latent == 2]).all()


def test_latent_selection_and_config_validation():
    from saescope.interpret.pipeline import select_latents

    n_fires = np.array([0, 50, 3, 40, 0, 25])
    assert select_latents("all", n_fires, 1, 0).tolist() == list(range(6))
    pick = select_latents("2", n_fires, 20, 0)
    assert len(pick) == 2 and set(pick) <= {1, 3, 5}  # only latents firing >= 20 times
    assert select_latents("5,1,1", n_fires, 1, 0).tolist() == [1, 5]
    with pytest.raises(ConfigError, match="out of range"):
        select_latents("1,6", n_fires, 1, 0)
    with pytest.raises(ConfigError, match="--latents must be"):
        select_latents("first", n_fires, 1, 0)
    with pytest.raises(ConfigError, match="--explainer"):
        InterpretConfig(explainer="gpt")
    with pytest.raises(ConfigError, match="--concurrency"):
        InterpretConfig(concurrency=0)


def test_low_support_scores_are_masked_and_not_averaged(tmp_path):
    # Latent 0 fires on 6 rows: 3 explain, 3 test positives (< 5): its score must not count.
    texts, topic = corpus(300, seed=4)
    codes = topic_codes(topic).tolil()
    rows0 = np.flatnonzero(codes[:, 0].toarray().ravel())
    for r in rows0[6:]:
        codes[r, 0] = 0
    codes = codes.tocsr()
    codes.eliminate_zeros()
    X = hash_embed(texts, 64)
    out = tmp_path / "o"
    s = interpret_vectors(None, X, [str(i) for i in range(len(texts))], texts, out, InterpretConfig(), progress=False,
                      codes=codes, embed=_embed)
    lat = pq.read_table(out / "latents.parquet").to_pandas().set_index("latent")
    assert lat.loc[0, "n_test_positive"] == 3 and bool(lat.loc[0, "low_support"])
    assert np.isnan(lat.loc[0, "embedding"]) and np.isnan(lat.loc[0, "embedding_lo"])
    assert not lat.loc[1:5, "low_support"].any() and lat.loc[1:5, "embedding"].notna().all()
    assert s["scores"]["embedding"]["n_latents"] == 5 and s["scores"]["embedding"]["n_low_support"] == 1
    assert s["scores"]["embedding"]["mean"] == pytest.approx(lat.loc[1:5, "embedding"].mean())
    assert "embedding_hard" in lat.columns


def test_run_interpret_from_files_returns_the_manifest(data, tmp_path):
    import pyarrow as pa
    import torch

    from saescope.sae import SAEConfig, SparseAutoencoder

    X, ids, texts, _, _ = data
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.float32()), X.shape[1])
    pq.write_table(pa.table({"id": ids, "embedding": emb, "text": texts}), tmp_path / "v.parquet")
    SparseAutoencoder(SAEConfig(k=4, expansion_factor=1), d_in=X.shape[1],
                      generator=torch.Generator().manual_seed(0)).save(tmp_path / "sae")
    (tmp_path / "sae" / "metrics.json").write_text(json.dumps({"fvu": 0.3, "dead_fraction": 0.125}))
    cfg = InterpretConfig(sae=str(tmp_path / "sae"), data=str(tmp_path / "v.parquet"), out=str(tmp_path / "o"),
                          latents="3", scorers=())
    m = run_interpret(cfg, progress=False)
    assert m["inputs"]["data"].endswith("v.parquet") and m["counts"]["latents_selected"] == 3
    assert m["sae_dead_fraction"]["dead_fraction"] == 0.125 and "metrics.json" in m["sae_dead_fraction"]["source"]
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["counts"]["sae_dead_fraction"] == 0.125
    with pytest.raises(ConfigError, match="needs cfg.data"):
        run_interpret(InterpretConfig(sae=str(tmp_path / "sae")))
