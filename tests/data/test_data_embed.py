from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.data.embed import Embedder, embed_table
from saescope.data.vectors import read_vectors
from saescope.errors import SaescopeError


def test_minilm_matches_sentence_transformers_exactly(minilm, mmlu) -> None:
    from sentence_transformers import SentenceTransformer

    from saescope.data.models import resolve_sentence_model

    texts = mmlu["text"].to_pylist()[:16]
    ours = minilm.encode(texts)
    st = SentenceTransformer(resolve_sentence_model("minilm"), device="cpu")
    ref = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (16, 384) and minilm.dim == 384
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_same_subject_questions_are_closer(minilm, mmlu) -> None:
    subjects = ["high school biology", "professional law", "high school macroeconomics",
                "world religions"]
    ids, labels = [], []
    for s in subjects:
        rows = np.flatnonzero(np.array(mmlu["subject"].to_pylist()) == s)[:16]
        ids.extend(rows.tolist())
        labels.extend([s] * len(rows))
    X = minilm.encode(mmlu["text"].take(ids).to_pylist())
    S = X @ X.T
    same = np.equal.outer(labels, labels)
    np.fill_diagonal(same, False)
    diff = ~np.equal.outer(labels, labels)
    assert S[same].mean() > S[diff].mean() + 0.1


TOPICS = ["cells", "law", "markets", "stars"]


def _table(_mmlu, n: int) -> pa.Table:
    """Short texts (cheap to embed) with the columns of the MMLU table."""
    return pa.table({
        "id": [f"doc-{i}" for i in range(n)],
        "text": [f"Sentence {i} is about {TOPICS[i % 4]}." for i in range(n)],
        "subject": [TOPICS[i % 4] for i in range(n)],
        "domain": ["x"] * n,
    })


def test_embed_table_layout_and_passthrough(minilm, mmlu, tmp_path: Path) -> None:
    table = _table(mmlu, 24)
    out = embed_table(table, tmp_path / "e.parquet", embedder=minilm, shard_size=10, progress=False)
    t = pq.read_table(out)
    assert t.column_names == ["id", "embedding", "text", "subject", "domain"]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), 384)
    assert t["id"].to_pylist() == table["id"].to_pylist()
    vt = read_vectors(out)
    np.testing.assert_allclose(vt.X, minilm.encode(table["text"].to_pylist()), atol=1e-6)
    assert not (tmp_path / ".e.parquet.parts").exists()
    with pytest.raises(SaescopeError, match="already exists"):
        embed_table(table, out, embedder=minilm, progress=False)
    # A folder output keeps the shards.
    folder = embed_table(table, tmp_path / "shards", embedder=minilm, shard_size=10, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == \
        [".saescope-output"] + [f"part-0000{i}.parquet" for i in range(3)]
    np.testing.assert_array_equal(read_vectors(folder).X, vt.X)


class _Crash(Exception):
    pass


def test_interrupted_embedding_run_resumes(minilm, mmlu, tmp_path: Path, monkeypatch) -> None:
    table = _table(mmlu, 20)
    out = tmp_path / "e.parquet"
    calls: list[int] = []
    real = Embedder.encode

    def crashing(self, texts, progress=False):
        calls.append(len(texts))
        if len(calls) == 3:
            raise _Crash
        return real(self, texts, progress)

    monkeypatch.setattr(Embedder, "encode", crashing)
    with pytest.raises(_Crash):
        embed_table(table, out, embedder=minilm, shard_size=6, progress=False)
    assert not out.exists()
    parts = sorted(p.name for p in (tmp_path / ".e.parquet.parts").glob("*.parquet"))
    assert parts == ["part-00000.parquet", "part-00001.parquet"]

    calls.clear()
    monkeypatch.setattr(Embedder, "encode", lambda self, texts, progress=False: (calls.append(len(texts)), real(self, texts))[1])
    embed_table(table, out, embedder=minilm, shard_size=6, progress=False)
    assert calls == [6, 2]  # only shards 2 and 3 were computed
    vt = read_vectors(out)
    assert vt.ids.tolist() == table["id"].to_pylist()
    np.testing.assert_allclose(vt.X, real(minilm, table["text"].to_pylist()), atol=1e-6)

    # Parts of a different job (other input) are not reused.
    calls.clear()
    with pytest.raises(_Crash):
        monkeypatch.setattr(Embedder, "encode", crashing)
        embed_table(table, tmp_path / "f.parquet", embedder=minilm, shard_size=6, progress=False)
    calls.clear()
    monkeypatch.setattr(Embedder, "encode", lambda self, texts, progress=False: (calls.append(len(texts)), real(self, texts))[1])
    embed_table(_table(mmlu, 21).slice(1), tmp_path / "f.parquet", embedder=minilm, shard_size=6,
                progress=False)
    assert calls == [6, 6, 6, 2]
