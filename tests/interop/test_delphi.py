"""delphi: its own SAE loader reads saescope SAEs; saescope's explanations in delphi's files."""

from __future__ import annotations

import json

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
