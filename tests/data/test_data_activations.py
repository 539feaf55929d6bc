from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from saescope.data.activations import ActivationExtractor, extract_table
from saescope.data.vectors import read_vectors
from saescope.errors import ConfigError

TEXTS = [
    "The capital of France is Paris.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Hi",
]
LAYERS = [2, 5]


def _reference(model, input_ids: list[int], layer: int) -> torch.Tensor:
    """Hidden states after block `layer` from a plain unpadded forward: hidden_states[layer + 1]."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([input_ids]), output_hidden_states=True)
    return out.hidden_states[layer + 1][0]


def _reference_pool(H: torch.Tensor, pooling: str, k: int) -> torch.Tensor:
    if pooling == "mean":
        return H.mean(0)
    if pooling == "max":
        return H.max(0).values
    if pooling == "last":
        return H[-1]
    top = H.norm(dim=-1).topk(min(k, len(H))).indices
    return H[top].mean(0)


@pytest.fixture(scope="module")
def references(smollm2):
    model, tok = smollm2
    ids = [tok(t)["input_ids"] for t in TEXTS]
    return ids, {(i, layer): _reference(model, s, layer) for i, s in enumerate(ids) for layer in LAYERS}


@pytest.mark.parametrize("pooling", ["mean", "max", "last", "topk"])
def test_pooled_matches_plain_forward(smollm2, references, pooling: str) -> None:
    _, refs = references
    # batch_size=2 puts texts of different lengths in one padded batch.
    ex = ActivationExtractor(layers=LAYERS, pooling=pooling, top_k=3, batch_size=2,
                             model_and_tokenizer=smollm2, dtype="float32", skip_first=False)
    assert ex.hidden_size == smollm2[0].config.hidden_size == 576
    out = ex.pooled(TEXTS)
    for layer in LAYERS:
        assert out[layer].shape == (3, 576) and out[layer].dtype == np.float32
        for i in range(3):
            ref = _reference_pool(refs[(i, layer)], pooling, 3).numpy()
            np.testing.assert_allclose(out[layer][i], ref, rtol=1e-4, atol=1e-4)
    if pooling == "topk":  # K=3 of >3 tokens is not the mean
        assert not np.allclose(out[2][1], refs[(1, 2)].mean(0).numpy(), atol=1e-3)


def test_per_token_matches_plain_forward(smollm2, references) -> None:
    ids, refs = references
    ex = ActivationExtractor(layers=LAYERS, batch_size=3, model_and_tokenizer=smollm2, dtype="float32",
                             skip_first=False)
    tb = ex.per_token(TEXTS)
    assert tb.doc_index.tolist() == [i for i, s in enumerate(ids) for _ in s]
    assert tb.position.tolist() == [p for s in ids for p in range(len(s))]
    assert tb.token_id.tolist() == [t for s in ids for t in s]
    for layer in LAYERS:
        ref = torch.cat([refs[(i, layer)] for i in range(3)]).numpy()
        np.testing.assert_allclose(tb.vectors[layer], ref, rtol=1e-4, atol=1e-4)


class _BosTokenizer:
    """Wraps a tokenizer so that it prepends BOS, like LLaMA-2/Gemma tokenizers do."""

    def __init__(self, tok) -> None:
        self._tok = tok

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __call__(self, texts, **kwargs):
        enc = self._tok(texts, **kwargs)
        bos = self._tok.bos_token_id
        if isinstance(texts, str):
            return {"input_ids": [bos] + enc["input_ids"]}
        return {"input_ids": [[bos] + s for s in enc["input_ids"]]}


def test_bos_is_excluded(smollm2) -> None:
    model, tok = smollm2
    ex = ActivationExtractor(layers=[3], model_and_tokenizer=(model, _BosTokenizer(tok)), dtype="float32")
    assert ex.bos_id == tok.bos_token_id
    text = TEXTS[1]
    pooled = ex.pooled([text])[3][0]
    H = _reference(model, [tok.bos_token_id] + tok(text)["input_ids"], 3)
    np.testing.assert_allclose(pooled, H[1:].mean(0).numpy(), rtol=1e-4, atol=1e-4)
    assert not np.allclose(pooled, H.mean(0).numpy(), atol=1e-3)
    tb = ex.per_token([text])
    assert tb.position[0] == 1 and len(tb.position) == len(H) - 1


def test_first_token_is_left_out_by_default(smollm2, references) -> None:
    """The attention-sink position carries the massive activations: out of pooling and tokens."""
    ids, refs = references
    ex = ActivationExtractor(layers=[5], batch_size=3, model_and_tokenizer=smollm2, dtype="float32")
    assert ex.skip_first and ex.bos_id is None  # SmolLM2 adds no BOS: the first real token is the sink
    out = ex.pooled(TEXTS)[5]
    for i, s in enumerate(ids):
        H = refs[(i, 5)]
        want = H[1:].mean(0) if len(s) > 1 else H[0]  # a one-token document keeps its token
        np.testing.assert_allclose(out[i], want.numpy(), rtol=1e-4, atol=1e-4)
    # the sink is a massive-norm outlier: far above the other tokens of the same text
    H = refs[(1, 5)]
    assert H[0].norm() > 5 * H[1:].norm(dim=-1).median()
    tb = ex.per_token(TEXTS[:2])
    assert tb.position.tolist() == [p for s in ids[:2] for p in range(1, len(s))]
    assert ex.fingerprint() != ActivationExtractor(layers=[5], model_and_tokenizer=smollm2, dtype="float32",
                                                   skip_first=False).fingerprint()


def test_dominant_dimensions_warns_on_massive_activations() -> None:
    from saescope.data.activations import dominant_dimensions, variance_shares

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 64)).astype(np.float32)
    assert dominant_dimensions(X) is None
    assert variance_shares(X).sum() == pytest.approx(1.0)
    X[:, 7] = 1000 + 60 * rng.normal(size=500)  # one massive dimension: mean 1000, large spread
    msg = dominant_dimensions(X)
    assert msg is not None and "7 (" in msg and "first token" in msg
    assert variance_shares(X)[0] > 0.95


def test_layers_and_options_checked(smollm2) -> None:
    ex = ActivationExtractor(layers=[-1, 0], model_and_tokenizer=smollm2, dtype="float32")
    assert ex.layers == [29, 0]
    assert ActivationExtractor(model_and_tokenizer=smollm2, dtype="float32").layers == [15]
    with pytest.raises(ConfigError, match="layer 30 out of range"):
        ActivationExtractor(layers=[30], model_and_tokenizer=smollm2, dtype="float32")
    with pytest.raises(ConfigError, match="pooling"):
        ActivationExtractor(layers=[1], pooling="median", model_and_tokenizer=smollm2, dtype="float32")


def test_extract_table_layouts(smollm2, tmp_path: Path) -> None:
    table = pa.table({"id": ["x", "y", "z"], "text": TEXTS, "label": ["geo", "bio", "greet"]})
    ex = ActivationExtractor(layers=LAYERS, pooling="mean", model_and_tokenizer=smollm2, dtype="float32")
    outs = extract_table(table, tmp_path / "acts.parquet", ex, shard_size=2, progress=False)
    assert outs == {2: tmp_path / "acts-layer2.parquet", 5: tmp_path / "acts-layer5.parquet"}
    t = pq.read_table(outs[5])
    assert t.column_names == ["id", "embedding", "text", "label"]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), 576)
    assert t.schema.metadata[b"saescope.layer"] == b"5"
    np.testing.assert_allclose(read_vectors(outs[5]).X, ex.pooled(TEXTS)[5], rtol=1e-4, atol=1e-4)

    ex1 = ActivationExtractor(layers=[2], model_and_tokenizer=smollm2, dtype="float32",
                              skip_first=False)
    tok_out = extract_table(table, tmp_path / "tok.parquet", ex1, per_token=True, progress=False)
    t = pq.read_table(tok_out[2])
    n_tok = [len(smollm2[1](s)["input_ids"]) for s in TEXTS]
    assert t.num_rows == sum(n_tok)
    # the document's columns but its text follow each token (labels, a document-level split)
    assert t.column_names == ["id", "embedding", "doc_id", "position", "token", "token_id", "label"]
    assert t["label"].to_pylist() == ["geo"] * n_tok[0] + ["bio"] * n_tok[1] + ["greet"] * n_tok[2]
    assert t["doc_id"].to_pylist() == ["x"] * n_tok[0] + ["y"] * n_tok[1] + ["z"] * n_tok[2]
    assert t["id"][1].as_py() == "x:1"
    assert "".join(t.filter(pa.compute.equal(t["doc_id"], "x"))["token"].to_pylist()) == TEXTS[0]


def test_bfloat16_compute_is_close_to_float32(smollm2) -> None:
    """bfloat16 autocast changes the numbers (so it really runs) but keeps the vectors close."""
    from saescope.data.activations import resolve_compute_dtype

    assert resolve_compute_dtype("float32", "cpu") == "float32"
    assert resolve_compute_dtype("auto", "cpu") in ("float32", "bfloat16")
    with pytest.raises(ConfigError, match="dtype"):
        resolve_compute_dtype("float16", "cpu")
    f32 = ActivationExtractor(layers=[5], model_and_tokenizer=smollm2, dtype="float32")
    bf16 = ActivationExtractor(layers=[5], model_and_tokenizer=smollm2, dtype="bfloat16")
    assert f32.fingerprint() != bf16.fingerprint()
    a, b = f32.per_token(TEXTS).vectors[5], bf16.per_token(TEXTS).vectors[5]
    rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)
    assert 0 < np.median(rel) < 0.03


def test_forward_stops_after_the_deepest_block(smollm2) -> None:
    ran: list[int] = []
    ex = ActivationExtractor(layers=[1, 3], model_and_tokenizer=smollm2, dtype="float32")
    handles = [ex.blocks[i].register_forward_hook(lambda *_a, i=i: ran.append(i)) for i in range(6)]
    try:
        ex.pooled(TEXTS[:1])
    finally:
        for h in handles:
            h.remove()
    assert ran == [0, 1, 2, 3]


def test_progress_counts_tokens_per_batch(smollm2) -> None:
    ex = ActivationExtractor(layers=[2], batch_size=2, model_and_tokenizer=smollm2, dtype="float32")
    seen: list[int] = []
    ex.pooled(TEXTS, on_batch=seen.append)
    lengths = sorted((len(smollm2[1](t)["input_ids"]) for t in TEXTS), reverse=True)
    assert seen == [lengths[0] + lengths[1], lengths[2]]  # length-sorted batches of 2
    assert sum(seen) == ex.token_counts(TEXTS).sum()


def test_running_variance_matches_numpy() -> None:
    from saescope.data.activations import RunningVariance

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5)) * [1, 10, 100, 1000, 0.1] + 1e4
    stats = RunningVariance()
    for part in np.array_split(X, [7, 100, 101]):
        stats.update(part)
    assert stats.n == 300
    np.testing.assert_allclose(stats.var, X.var(axis=0), rtol=1e-9)


def test_dominant_warning_once_per_layer_on_the_whole_output(smollm2, tmp_path: Path,
                                                             caplog) -> None:
    """Shards of one document each: the check runs once on the whole output, not per shard."""
    texts = [f"{t} Number {i}." for i in range(4) for t in TEXTS]
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    ex = ActivationExtractor(layers=[5], model_and_tokenizer=smollm2, dtype="float32",
                             skip_first=False)
    with caplog.at_level("WARNING", logger="saescope.data.activations"):
        extract_table(table, tmp_path / "a.parquet", ex, shard_size=1, progress=False)
    msgs = [r.getMessage() for r in caplog.records if "of the variance" in r.getMessage()]
    assert len(msgs) == 1 and "whole file" in msgs[0] and "--keep-first-token" in msgs[0]


def test_train_reads_a_per_token_store_and_validates_on_held_out_documents(smollm2, tmp_path: Path) -> None:
    """A per-token folder is a vector input like any other; the document's `split` follows each
    of its tokens, so `train` holds out whole documents."""
    import json

    from saescope.cli.main import run

    texts = [f"{t} Item {i}." for i in range(4) for t in TEXTS]
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts,
                      "split": ["val" if i % 4 == 0 else "train" for i in range(len(texts))]})
    ex = ActivationExtractor(layers=[2], model_and_tokenizer=smollm2, dtype="float32")
    out = extract_table(table, tmp_path / "tokens", ex, per_token=True, shard_size=5,
                        progress=False)[2]
    t = pq.read_table(out).to_pandas()
    assert (t.groupby("doc_id")["split"].nunique() == 1).all()
    assert set(t.loc[t.split == "val", "doc_id"]) == {str(i) for i in range(0, len(texts), 4)}
    assert run(["train", str(out), "--out", str(tmp_path / "sae"), "--steps", "5", "--k", "4",
                "--latents", "64", "--quiet"]) == 0
    man = json.loads((tmp_path / "sae" / "manifest.json").read_text())
    assert man["validation"] == "split column"
