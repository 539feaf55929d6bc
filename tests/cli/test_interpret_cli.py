"""`saescope interpret` on a tiny trained SAE, with texts in --data or joined from --texts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "interpret"))
from synth import corpus, hash_embed  # noqa: E402

from saescope.cli.main import main, run  # noqa: E402


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    import torch

    from saescope.sae import SAEConfig, SparseAutoencoder

    tmp = tmp_path_factory.mktemp("cli")
    texts, topic = corpus(400, seed=1)
    X = hash_embed(texts, 64)
    ids = [f"q{i}" for i in range(len(texts))]
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.float32()), 64)
    pq.write_table(pa.table({"id": ids, "embedding": emb, "text": texts}), tmp / "emb.parquet")
    pq.write_table(pa.table({"id": ids, "embedding": emb}), tmp / "vec.parquet")
    with open(tmp / "corpus.jsonl", "w") as f:
        for i, t in zip(ids, texts, strict=True):
            f.write(json.dumps({"id": i, "body": t}) + "\n")
    # An untrained SAE: the command's plumbing does not depend on training quality.
    sae = SparseAutoencoder(SAEConfig(k=4, expansion_factor=1), d_in=64, generator=torch.Generator().manual_seed(0))
    sae.save(tmp / "sae")
    return tmp


def corpus_ids_texts(folder):
    rows = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    return [r["id"] for r in rows], [r["body"] for r in rows]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr()


def test_interpret_cli_keywords_embedding(run_files, capsys):
    out = run_files / "out"
    try:
        main(["interpret", str(run_files / "sae"), "--data", str(run_files / "emb.parquet"), "--out", str(out),
              "--latents", "3", "--no-progress"])
    except SystemExit as exc:  # typer may exit 0
        assert exc.code in (0, None)
    printed = capsys.readouterr().out
    assert "embedding: mean" in printed and "shuffled-explanation baseline" in printed
    lat = pq.read_table(out / "latents.parquet").to_pandas()
    assert len(lat) == 3 and (lat.status == "ok").all()
    s = json.loads((out / "summary.json").read_text())
    assert set(s["scores"]) == {"embedding"} and s["counts"]["latents_selected"] == 3
    m = json.loads((out / "manifest.json").read_text())
    assert m["sae"]["num_latents"] == 64 and m["embedder"] == "minilm"
    # A finished output is not overwritten without --overwrite.
    code, err = _run(["interpret", str(run_files / "sae"), "--data", str(run_files / "emb.parquet"),
                      "--out", str(out), "--latents", "3", "--no-progress"], capsys)
    assert code == 2 and "--overwrite" in err.err


def test_interpret_cli_texts_join_and_errors(run_files, capsys):
    out = run_files / "out2"
    try:
        main(["interpret", str(run_files / "sae"), "--data", str(run_files / "vec.parquet"), "--texts",
              str(run_files / "corpus.jsonl"), "--text-field", "body", "--out", str(out), "--latents", "1,2",
              "--scorer", "none", "--no-progress"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    lat = pq.read_table(out / "latents.parquet").to_pandas()
    assert lat.latent.tolist() == [1, 2]
    assert lat.explanation.notna().all() and "embedding" not in lat.columns
    ex = pq.read_table(out / "examples.parquet").to_pandas()
    texts = dict(zip(*corpus_ids_texts(run_files), strict=True))
    assert all(texts[i] == t for i, t in zip(ex.id, ex.text, strict=True))
    code, err = _run(["interpret", str(run_files / "sae"), "--data", str(run_files / "vec.parquet"),
                      "--out", str(run_files / "o3")], capsys)
    assert code == 2 and "no text column 'text'" in err.err
    code, err = _run(["interpret", str(run_files / "sae"), "--data", str(run_files / "emb.parquet"),
                      "--out", str(run_files / "o4"), "--scorer", "embedding,fuzzing"], capsys)
    assert code == 2 and "unknown scorer" in err.err
    code, err = _run(["interpret", str(run_files / "sae"), "--data", str(run_files / "emb.parquet"),
                      "--out", str(run_files / "o5"), "--latents", "1,999"], capsys)
    assert code == 2 and "999 out of range" in err.err


def test_interpret_cli_select_and_deprecated_latents(run_files, capsys):

    base = ["interpret", str(run_files / "sae"), "--data", str(run_files / "emb.parquet"), "--scorer", "none",
            "--no-progress"]
    assert run([*base, "--out", str(run_files / "out_sel"), "--select", "2,5"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert pq.read_table(run_files / "out_sel" / "latents.parquet").to_pandas().latent.tolist() == [2, 5]
    assert run([*base, "--out", str(run_files / "out_old"), "--latents", "4,7"]) == 0
    err = capsys.readouterr().err
    assert "--latents is deprecated" in err and "use --select" in err
    assert pq.read_table(run_files / "out_old" / "latents.parquet").to_pandas().latent.tolist() == [4, 7]


def test_interpret_cli_stop_words_file(run_files, capsys):
    first = run_files / "sw0"
    base = ["interpret", str(run_files / "sae"), "--data", str(run_files / "emb.parquet"), "--select", "1,2",
            "--scorer", "none", "--no-progress"]
    assert run([*base, "--out", str(first)]) == 0
    words = {w for e in pq.read_table(first / "latents.parquet").column("explanation").to_pylist()
             for w in e.replace(",", " ").split()}
    stop = run_files / "stop.txt"
    stop.write_text("\n".join(sorted(words)) + "\n", encoding="utf-8")
    assert run([*base, "--out", str(run_files / "sw1"), "--stop-words", str(stop)]) == 0
    again = pq.read_table(run_files / "sw1" / "latents.parquet").column("explanation").to_pylist()
    assert not any(w in words for e in again if e for w in e.replace(",", " ").split()), again
    code, err = _run([*base, "--out", str(run_files / "sw2"), "--stop-words", str(run_files / "none.txt")], capsys)
    assert code == 2 and "none.txt" in err.err


def test_latents_with_nothing_distinctive_have_no_explanation_not_a_failure():
    from types import SimpleNamespace

    import numpy as np

    from saescope.cli.interpret import summary_lines
    from saescope.interpret.config import InterpretConfig
    from saescope.interpret.explain import NO_TERMS
    from saescope.interpret.outputs import latent_status

    ex = SimpleNamespace(n_fires=np.array([5, 5, 0, 5]))
    expl = {0: {"explanation": "tax, jobs", "error": None}, 1: {"explanation": None, "error": NO_TERMS},
            3: {"explanation": None, "error": "failed: timeout"}}
    status, _ = latent_status(ex, np.arange(4), expl)
    assert status == ["ok", "no explanation: no distinctive terms", "dead", "failed: timeout"]
    manifest = {"summary": {"min_test_positives": 5, "counts": {
        "ok": 1, "no_explanation": 1, "dead": 1, "failed": 1, "latents_selected": 4},
        "scores": {"embedding": {"mean": 0.7, "ci": [0.6, 0.8], "baseline_mean": 0.5, "hard_mean": 0.305,
                                 "n_latents": 1, "n_low_support": 0}}}}
    lines = summary_lines(manifest, InterpretConfig(out="o"), "--select")
    assert any("1 ok, 1 with no explanation" in line and "1 failed" in line for line in lines), lines
    assert any(line.startswith("note: hard negatives below 0.5") and "chance" in line for line in lines)
