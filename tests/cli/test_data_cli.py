from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.cli.main import run

os.environ.setdefault("HF_HUB_OFFLINE", "1")



def test_datasets_list(capsys) -> None:
    assert run(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mmlu\t14044 rows")


def test_datasets_export_mmlu(tmp_path: Path, capsys) -> None:
    from saescope.data.builtin import SUBJECT_TO_DOMAIN

    out = tmp_path / "mmlu.jsonl"
    assert run(["datasets", "export", "mmlu", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 14_044
    assert all(list(r) == ["id", "text", "subject", "domain"] for r in rows)
    assert len({r["id"] for r in rows}) == 14_044
    assert len({r["subject"] for r in rows}) == 57
    assert all(SUBJECT_TO_DOMAIN[r["subject"]] == r["domain"] for r in rows)
    assert set(Counter(r["domain"] for r in rows)) == {"STEM", "humanities", "social sciences", "other"}
    assert run(["datasets", "export", "mmlu", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert run(["datasets", "export", "nope", str(tmp_path / "x.jsonl")]) == 2
    assert run(["datasets", "export", "mmlu", str(tmp_path / "m.parquet")]) == 0
    assert pq.read_table(tmp_path / "m.parquet").num_rows == 14_044


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [
        {"id": "1", "text": "Cells divide by mitosis.", "title": "Cell"},
        {"id": "2", "text": "Mitochondria make ATP.", "title": "Cell"},
        {"id": "3", "text": "Paris is in France.", "title": "France"},
        {"id": "4", "text": "", "title": "Empty"},
        {"id": "5", "text": "The Seine flows through Paris.", "title": "France"},
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(2, '{"id": "bad", "text": ')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_embed_cli(tmp_path: Path, capsys) -> None:
    corpus = _corpus(tmp_path)
    out = tmp_path / "emb.parquet"
    assert run(["embed", str(corpus), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{corpus}:3: invalid JSON" in err and not out.exists()
    code = run(["embed", str(corpus), "--out", str(out), "--on-error", "skip", "--no-progress",
                "--device", "cpu", "--val-fraction", "0.5", "--group-field", "title"])
    assert code == 0
    err = capsys.readouterr().err
    assert "skipped 1 malformed rows" in err and "1 empty texts dropped" in err
    t = pq.read_table(out)
    assert t["id"].to_pylist() == ["1", "2", "3", "5"]
    assert t.column_names == ["id", "embedding", "text", "title", "split"]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), 384)
    split = dict(zip(t["title"].to_pylist(), t["split"].to_pylist(), strict=False))
    assert sorted(split.values()) == ["train", "val"]
    X = np.array(t["embedding"].to_pylist())
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    """A small random LLaMA with SmolLM2's tokenizer, saved as a model folder (the PATH branch)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from saescope.data.models import dequantised_model_dir

    tok = AutoTokenizer.from_pretrained(dequantised_model_dir("smollm2"))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2)
    folder = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_activations_cli(tmp_path: Path, tiny_llama: Path, capsys) -> None:
    corpus = _corpus(tmp_path)
    out = tmp_path / "acts.parquet"
    argv = ["activations", str(corpus), "--out", str(out), "--model", str(tiny_llama), "--layer", "1",
            "--on-error", "skip", "--device", "cpu", "--no-progress"]
    assert run(argv + ["--pooling", "topk", "--top-k", "2"]) == 0
    t = pq.read_table(out)
    assert t["id"].to_pylist() == ["1", "2", "3", "5"]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), 32)
    assert t.schema.metadata[b"saescope.pooling"] == b"topk"
    assert t.schema.metadata[b"saescope.first_token_excluded"] == b"True"
    skipped = np.stack(t["embedding"].to_numpy(zero_copy_only=False))
    assert run(argv + ["--pooling", "topk", "--top-k", "2", "--keep-first-token", "--overwrite"]) == 0
    t = pq.read_table(out)
    assert t.schema.metadata[b"saescope.first_token_excluded"] == b"False"
    kept = np.stack(t["embedding"].to_numpy(zero_copy_only=False))
    assert not np.allclose(kept, skipped)  # the first position now takes part in the pooling
    assert run(argv + ["--per-token", "--overwrite"]) == 0
    t = pq.read_table(out)
    assert set(t["doc_id"].to_pylist()) == {"1", "2", "3", "5"}
    assert run(argv + ["--layer", "3", "--overwrite"]) == 2
    assert "layer 3 out of range" in capsys.readouterr().err
