"""Exports of a token-level run: Neuronpedia prompts and delphi records with the real tokens and
per-token activations, and delphi's latent cache read back by delphi's own loader."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from saescope.interop.delphi import classifier_outputs, write_latent_cache
from saescope.interop.neuronpedia import NeuronpediaConfig, export_neuronpedia
from saescope.interpret import InterpretConfig, run_interpret
from saescope.sae import SAEConfig, SparseAutoencoder, encode_csr

WORDS = ["lava", "magma", "violin", "cello", "vote", "ballot", "the", "of", "and", "a"]


def _embed(texts):
    V = np.zeros((len(texts), 64), np.float32)
    for i, t in enumerate(texts):
        for w in t.split():
            V[i, zlib.crc32(w.encode()) % 64] += 1
    return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="module")
def token_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokrun")
    rng = np.random.default_rng(0)
    E = rng.standard_normal((len(WORDS), 8)).astype(np.float32)  # one vector per word
    docs, pos, toks, ids, X = [], [], [], [], []
    for d in range(150):
        for p in range(1, 11):
            w = int(rng.integers(len(WORDS)))
            docs.append(f"d{d}")
            pos.append(p)
            toks.append(" " + WORDS[w])
            ids.append(100 + w)
            X.append(E[w] + 0.05 * rng.standard_normal(8))
    X = np.asarray(X, np.float32)
    store = root / "tokens.parquet"
    pq.write_table(pa.table({
        "id": [f"{d}:{p}" for d, p in zip(docs, pos, strict=True)],
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 8),
        "doc_id": docs, "position": pa.array(pos, pa.int32()), "token": toks,
        "token_id": pa.array(ids, pa.int64())}), store)
    sae = SparseAutoencoder(SAEConfig(arch="topk", k=2, num_latents=12), d_in=8,
                            generator=torch.Generator().manual_seed(0))
    sae.save(root / "sae")
    run_interpret(InterpretConfig(sae=str(root / "sae"), data=str(store), out=str(root / "interpret"),
                                  token_window_before=3, token_window_after=1),
                  progress=False, embed=_embed)
    return root, store, X


def test_neuronpedia_prompts_carry_the_real_tokens(token_run, tmp_path):
    root, store, X = token_run
    export_neuronpedia(root / "interpret", tmp_path / "np", NeuronpediaConfig(),
                       sae_dir=root / "sae", data=store)
    feats = json.loads((tmp_path / "np" / "batch-0.json").read_text())["features"]
    ex = pq.read_table(root / "interpret" / "examples.parquet").to_pandas()
    checked = 0
    for f in feats:
        for a in f["activations"]:
            assert len(a["tokens"]) == len(a["values"]) >= 1
            assert all(t.strip() in WORDS for t in a["tokens"])
            own = a["values"][a["qualifying_token_index"]]
            if a["bin_contains"] == -1:  # a top example: its own token is where the latent fires
                tops = ex[(ex.latent == f["feature_index"]) & (ex.kind == "top")].activation
                assert own > 0 and np.isclose(tops, own, atol=1e-3).any()
                checked += 1
        assert f["n_tokens_in_prompt"] == max((len(a["tokens"]) for a in f["activations"]), default=1)
    assert checked and max(len(a["tokens"]) for f in feats for a in f["activations"]) == 5
    mod = pytest.importorskip("sae_dashboard.neuronpedia.neuronpedia_dashboard",
                              reason="sae-dashboard not installed (pip install --no-deps sae-dashboard)")
    raw = json.loads((tmp_path / "np" / "batch-0.json").read_text())
    assert mod.NeuronpediaDashboardBatch(**raw).to_dict() == raw


def test_delphi_records_carry_the_window(token_run):
    root, _, _ = token_run
    ex = pq.read_table(root / "interpret" / "examples.parquet").to_pandas()
    rows = ex[ex.split == "test"].head(5).assign(prediction=1.0, probability=0.9, correct=True,
                                                 quantile=0, activating=True)
    recs = classifier_outputs(rows)
    for rec, (_, r) in zip(recs, rows.iterrows(), strict=True):
        assert rec["str_tokens"] == list(r["tokens"]) and len(rec["str_tokens"]) > 1
        assert rec["activations"] == pytest.approx(list(r["token_acts"]))


def test_delphi_latent_cache_read_by_delphi(token_run, tmp_path):
    root, store, X = token_run
    stats = write_latent_cache(store, root / "sae", tmp_path / "latents", "layers.15",
                               model_name="smollm2", n_splits=2)
    assert stats["documents"] == 150 and stats["tokens"] == 1500
    codes = encode_csr(SparseAutoencoder.load(root / "sae"), X).toarray()
    tb = pq.read_table(store).to_pandas()
    loader = pytest.importorskip("delphi.latents.loader",
                                 reason="eai-delphi (and its blobfile, asyncer) not installed")
    seen = 0
    for name in stats["files"]:
        buf = loader.TensorBuffer(str(tmp_path / "latents" / "layers.15" / name), "layers.15")
        locations, activations, tokens = buf.load()
        assert tokens.shape == (150, 10)
        assert tokens[0].tolist() == tb.token_id[:10].tolist()
        for (d, s, lat), a in zip(locations.tolist(), activations.tolist(), strict=True):
            assert a == pytest.approx(codes[d * 10 + s, lat], rel=2e-3, abs=2e-3)
            seen += 1
    assert seen == int((codes != 0).sum())
    assert json.loads((tmp_path / "latents" / "layers.15" / "config.json").read_text())["model_name"] == "smollm2"


def test_export_cli_writes_the_latent_cache_of_a_token_store(token_run, tmp_path):
    from saescope.cli.main import run

    root, store, _ = token_run
    assert run(["export", root / "interpret", "--format", "delphi", "--out", tmp_path / "d",
                "--hook", "layers.15", "--sae", root / "sae", "--data", store]) == 0
    assert (tmp_path / "d" / "latents" / "layers.15" / "0_11.safetensors").is_file()
    assert (tmp_path / "d" / "explanations").is_dir()
