"""Checkpoints: round trip, the sparsify layout in both directions, bad folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from saescope.errors import InputError
from saescope.sae import SAEConfig, SparseAutoencoder, encode_csr
from saescope.sae.encode import decode_csr


def _sparsify_forward(tensors: dict, k: int, x: torch.Tensor):
    """The sparsify TopK SAE written out from its formulas (not from our code)."""
    pre = torch.relu((x - tensors["b_dec"]) @ tensors["encoder.weight"].T + tensors["encoder.bias"])
    acts, idx = pre.topk(k, dim=-1)
    dense = torch.zeros_like(pre).scatter(-1, idx, acts)
    return acts, idx, dense @ tensors["W_dec"] + tensors["b_dec"]


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "relu", "reward"])
def test_save_load_round_trip(tmp_path, arch):
    sae = SparseAutoencoder(SAEConfig(arch=arch, k=3, num_latents=24), d_in=6,
                            generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sae.encoder.bias.normal_(0, 0.2)
        sae.b_dec.normal_()
        if arch == "batchtopk":
            sae.threshold.fill_(0.1)
    sae.save(tmp_path / "sae")
    back = SparseAutoencoder.load(tmp_path / "sae")
    assert back.cfg.to_dict() == sae.cfg.to_dict()
    for name, t in sae.state_dict().items():
        assert torch.equal(t, back.state_dict()[name]), name
    x = torch.randn(10, 6)
    assert torch.equal(sae(x).x_hat, back(x).x_hat)


def test_our_checkpoint_in_sparsify_layout(tmp_path):
    sae = SparseAutoencoder(SAEConfig(k=4, expansion_factor=4), d_in=8,
                            generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        sae.encoder.bias.normal_(0, 0.3)
        sae.b_dec.normal_()
    sae.save(tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    tensors = load_file(str(tmp_path / "sae.safetensors"))
    # What sparsify reads: d_in, k, expansion_factor, num_latents, and these four tensors.
    assert cfg["d_in"] == 8 and cfg["k"] == 4 and cfg["expansion_factor"] == 4
    assert cfg["num_latents"] == 0 and cfg["multi_topk"] is False
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {
        "encoder.weight": (32, 8), "encoder.bias": (32,), "W_dec": (32, 8), "b_dec": (8,)}
    x = torch.randn(16, 8)
    acts, idx, x_hat = _sparsify_forward(tensors, 4, x)
    ours = sae.encode(x)
    assert torch.equal(ours.top_indices.sort(-1).values, idx.sort(-1).values)
    assert torch.allclose(sae.decode(ours.top_acts, ours.top_indices), x_hat, atol=1e-5)


def test_load_a_sparsify_checkpoint(tmp_path):
    """A folder written the way sparsify writes one (its cfg keys, no `arch`) loads as topk."""
    g = torch.Generator().manual_seed(5)
    d, m, k = 10, 40, 5
    W = torch.randn(m, d, generator=g)
    tensors = {"encoder.weight": W, "encoder.bias": torch.randn(m, generator=g) * 0.1,
               "W_dec": W / W.norm(dim=1, keepdim=True), "b_dec": torch.randn(d, generator=g)}
    save_file(tensors, str(tmp_path / "sae.safetensors"))
    (tmp_path / "cfg.json").write_text(json.dumps({
        "expansion_factor": 4, "normalize_decoder": True, "num_latents": 0, "k": k,
        "multi_topk": False, "skip_connection": False, "transcode": False, "d_in": d}))
    sae = SparseAutoencoder.load(tmp_path)
    assert sae.cfg.arch == "topk" and sae.num_latents == m and sae.d_in == d
    x = torch.randn(7, d, generator=g)
    acts, idx, x_hat = _sparsify_forward(tensors, k, x)
    out = sae(x)
    assert torch.allclose(out.x_hat, x_hat, atol=1e-5)
    codes = encode_csr(sae, x.numpy())
    assert codes.shape == (7, m) and codes.nnz == 7 * k
    assert np.allclose(codes.toarray(), torch.zeros(7, m).scatter(-1, idx, acts).numpy(), atol=1e-6)
    assert np.allclose(decode_csr(sae, codes), x_hat.numpy(), atol=1e-5)


def test_refuses_unsupported_sparsify_features(tmp_path):
    SparseAutoencoder(SAEConfig(k=2, num_latents=8), d_in=4).save(tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg, "skip_connection": True}))
    with pytest.raises(InputError, match="skip_connection"):
        SparseAutoencoder.load(tmp_path)


def test_bad_checkpoint_folders(tmp_path):
    with pytest.raises(InputError, match="cfg.json missing"):
        SparseAutoencoder.load(tmp_path)
    SparseAutoencoder(SAEConfig(k=2, num_latents=8), d_in=4).save(tmp_path)
    data = (tmp_path / "sae.safetensors").read_bytes()
    (tmp_path / "sae.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="sae.safetensors"):
        SparseAutoencoder.load(tmp_path)


def test_dimension_mismatch_is_an_input_error():
    sae = SparseAutoencoder(SAEConfig(k=2, num_latents=8), d_in=4)
    with pytest.raises(InputError, match="expects \\[N, 4\\]"):
        sae.encode(torch.randn(3, 5))
    with pytest.raises(InputError, match="expects 4"):
        encode_csr(sae, np.zeros((3, 5), np.float32))


def test_encode_csr_matches_encode_and_batches():
    sae = SparseAutoencoder(SAEConfig(arch="relu", k=2, num_latents=16), d_in=4,
                            generator=torch.Generator().manual_seed(3))
    X = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    codes = encode_csr(sae, X, batch_size=7)
    dense = sae.pre_acts(torch.as_tensor(X)).detach().numpy()
    assert codes.dtype == np.float32 and codes.has_sorted_indices
    assert np.allclose(codes.toarray(), dense, atol=1e-6)
    assert codes.nnz == int((dense > 0).sum())


def test_the_model_names_no_interop_module():
    """SAELens folders are read through the reader registry: sae/ imports nothing from interop
    (not even inside a function), and importing the model loads no interop module."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import saescope.sae as sae_pkg

    for path in Path(sae_pkg.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "interop" not in (node.module or ""), path
            elif isinstance(node, ast.Import):
                assert not any("interop" in a.name for a in node.names), path
    probe = "import saescope.sae.model, sys; print([m for m in sys.modules if 'interop' in m])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_registered_reader_loads_its_layout(tmp_path, monkeypatch):
    from saescope.sae import model

    sae = SparseAutoencoder(SAEConfig(k=2, num_latents=8), d_in=4)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "weights.bin").write_text("x")
    monkeypatch.setattr(model, "READERS", dict(model.READERS))
    model.register_reader("mine", lambda f: (f / "weights.bin").is_file(), lambda f, device: sae)
    assert SparseAutoencoder.load(tmp_path / "mine") is sae
    assert "saelens" in model.READERS  # registered by saescope.interop.saelens when first needed
    with pytest.raises(InputError, match="not an SAE folder"):
        SparseAutoencoder.load(tmp_path)
