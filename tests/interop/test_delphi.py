"""delphi: its own SAE loader reads saescope SAEs; saescope's explanations in delphi's files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from saescope.errors import InputError
from saescope.interop.delphi import export_delphi, latent_name, sparse_model_folder
from saescope.sae.encode import encode_csr
from saescope.sae.model import SparseAutoencoder


def test_delphi_loads_saescope_sae(tiny_run, tmp_path):
    load = pytest.importorskip("delphi.sparse_coders.load_sparsify",
                               reason="eai-delphi not installed (pip install --no-deps eai-delphi)")
    hook = "layers.6"
    sparse_model_folder(tiny_run / "sae", tmp_path / "saes", hook)
    coders = load.load_sparsify_sparse_coders(str(tmp_path / "saes"), [hook], device="cpu")
    x = torch.randn(200, 16, generator=torch.Generator().manual_seed(0)) * 2
    dense = load.sae_dense_latents(x, coders[hook]).detach().numpy()
    ours = encode_csr(SparseAutoencoder.load(tiny_run / "sae"), x.numpy()).toarray()
    assert (ours > 0).sum() > 200
    np.testing.assert_array_equal(dense > 0, ours > 0)
    np.testing.assert_allclose(dense, ours, rtol=1e-5, atol=1e-6)


def test_explanations_in_delphi_files(tiny_run, tmp_path):
    out = tmp_path / "delphi"
    stats = export_delphi(tiny_run / "interpret", out, module="layers.6")
    df = pq.read_table(tiny_run / "interpret" / "latents.parquet").to_pandas()
    explained = df[df.explanation.notna()]
    assert stats["explanations"] == len(explained) > 0
    try:  # delphi reads them with orjson (`--explainer none`)
        import orjson
        loads = orjson.loads
    except ImportError:
        loads = json.loads
    for lat, text in zip(explained.latent, explained.explanation, strict=True):
        assert loads((out / "explanations" / f"{latent_name('layers.6', lat)}.txt").read_bytes()) == text
    rows = [json.loads(x) for x in (out / "saescope_scores.jsonl").read_text().splitlines()]
    assert [r["latent_idx"] for r in rows] == df.latent.tolist()
    r0 = next(r for r in rows if r["embedding"]["score"] is not None)
    src = df.set_index("latent").loc[r0["latent_idx"]]
    assert r0["embedding"]["score"] == pytest.approx(src["embedding"])
    assert r0["embedding"]["lo"] == pytest.approx(src["embedding_lo"])
    with pytest.raises(InputError, match="latents.parquet"):
        export_delphi(tmp_path, tmp_path / "x")


def test_sparsify_made_sae_loads_in_saescope(tmp_path):
    sparsify = pytest.importorskip("sparsify", reason="eai-sparsify not installed")
    torch.manual_seed(0)
    coder = sparsify.SparseCoder(16, sparsify.SparseCoderConfig(k=4, num_latents=40))
    with torch.no_grad():
        coder.encoder.bias.normal_(0, 0.3)
        coder.b_dec.normal_(0, 0.1)
    coder.save_to_disk(tmp_path / "sp")
    ours = SparseAutoencoder.load(tmp_path / "sp")
    x = torch.randn(300, 16)
    ref = coder.encode(x)
    dense = torch.zeros(300, 40).scatter_(-1, ref.top_indices, ref.top_acts).detach().numpy()
    np.testing.assert_allclose(encode_csr(ours, x.numpy()).toarray(), dense, rtol=1e-5, atol=1e-6)


def _dataclass_fields(source: Path, name: str) -> list[str]:
    """The annotated fields of class `name` in a Python source file, in order."""
    tree = ast.parse(source.read_text())
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)
    return [n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)]


def test_detection_scores_in_delphi_files_read_by_delphi(detection_run, tmp_path):
    ra = pytest.importorskip("delphi.log.result_analysis",
                             reason="eai-delphi (and its orjson, plotly, scikit-learn) not installed")
    out = tmp_path / "delphi"
    stats = export_delphi(detection_run / "interpret", out, module="layers.6")
    lat = pq.read_table(detection_run / "interpret" / "latents.parquet").to_pandas().set_index("latent")
    supported = lat[lat.low_support.eq(False) & lat.detection.notna()]
    assert len(supported) >= 5
    assert stats["score_files"]["detection"] >= len(supported)
    # delphi's own loader and metrics on the files
    df, counts = ra.load_data(out / "scores", ["layers.6"])
    assert counts is None and set(df.score_type) == {"detection", "detection_hard"}
    det = df[df.score_type == "detection"]
    accs, f1s = [], []
    for i, row in supported.iterrows():
        grp = det[det.latent_idx == i]
        m = ra.compute_classification_metrics(ra.compute_confusion(grp))
        assert m["accuracy"] == pytest.approx(row["detection"], abs=1e-12)
        assert m["f1_score"] == pytest.approx(row["detection_f1"], abs=1e-12)
        assert ra.compute_auc(grp) == pytest.approx(row["detection_auroc"], abs=1e-9)
        hard = df[(df.score_type == "detection_hard") & (df.latent_idx == i)]
        if len(hard):
            hm = ra.compute_classification_metrics(ra.compute_confusion(hard))
            assert hm["accuracy"] == pytest.approx(row["detection_hard"], abs=1e-12)
        accs.append(m["accuracy"])
        f1s.append(m["f1_score"])
    assert max(accs) < 1.0 and len(set(accs)) > 2  # the noisy scripted LLM is never perfect
    agg = ra.get_agg_metrics(df, None).set_index("score_type")
    assert agg.loc["detection", "total_examples"] == len(det)
    # the fields of delphi's ClassifierOutput, read from its source (importing it needs vLLM)
    fields = _dataclass_fields(Path(ra.__file__).parents[1] / "scorers" / "classifier" / "sample.py",
                               "ClassifierOutput")
    assert fields[:4] == ["str_tokens", "activations", "distance", "activating"]
    first = sorted((out / "scores" / "detection").glob("layers.6_latent*.txt"))[0]
    records = json.loads(first.read_text())
    for rec in records:
        assert list(rec) == fields
        assert isinstance(rec["str_tokens"], list) and isinstance(rec["activations"][0], float)
        assert rec["correct"] == (rec["prediction"] == rec["activating"])
        assert (rec["distance"] >= 0) if rec["activating"] else rec["distance"] == -1.0
    ex = pq.read_table(detection_run / "interpret" / "scored_examples.parquet").to_pandas()
    ours = ex[(ex.latent == int(first.stem.split("latent")[-1])) & (ex.kind != "hard_negative")]
    assert sorted("".join(r["str_tokens"]) for r in records) == sorted(ours.text)
    assert (ex[ex.activating]["quantile"] >= 0).all() and (ex[~ex.activating]["quantile"] == -1).all()
