"""SAELens folders both ways, checked against the real `sae-lens` package's loader and encoders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saescope.errors import InputError
from saescope.interop.saelens import export_saelens, load_saelens
from saescope.sae.config import SAEConfig
from saescope.sae.encode import encode_csr
from saescope.sae.model import SparseAutoencoder

D, M, N = 16, 48, 300


def _x(seed: int = 1) -> torch.Tensor:
    return torch.randn(N, D, generator=torch.Generator().manual_seed(seed))


def _dense(sae: SparseAutoencoder, x: torch.Tensor) -> np.ndarray:
    return encode_csr(sae, x.numpy()).toarray()


def _random_sae(arch: str, **options) -> SparseAutoencoder:
    g = torch.Generator().manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(arch=arch, k=6, num_latents=M, options=options), d_in=D,
                            generator=g)
    with torch.no_grad():
        sae.encoder.weight.copy_(torch.randn(M, D, generator=g) * 0.5)
        sae.encoder.bias.copy_(torch.randn(M, generator=g) * 0.3)
        sae.W_dec.mul_(torch.rand(M, 1, generator=g) + 0.5)  # decoder norms not 1
        sae.b_dec.copy_(torch.randn(D, generator=g) * 0.1)
        if arch in ("batchtopk", "matryoshka"):
            sae.threshold.fill_(0.4)
        if arch == "jumprelu":
            sae.log_threshold.copy_(torch.log(torch.rand(M, generator=g) * 0.6 + 0.05))
        if arch == "reward":
            sae.gate_log_scale.copy_(torch.randn(M, generator=g) * 0.3)
            sae.gate_bias.copy_(torch.randn(M, generator=g))
    return sae.requires_grad_(False)


@pytest.mark.parametrize("arch,expected", [("topk", "topk"), ("batchtopk", "jumprelu"),
                                           ("relu", "standard"), ("reward", "jumprelu"),
                                           ("jumprelu", "jumprelu"), ("matryoshka", "jumprelu")])
def test_export_reads_in_saelens_with_same_codes(tmp_path, arch, expected):
    sae_lens = pytest.importorskip("sae_lens", reason="sae-lens not installed (pip install sae-lens)")
    from saescope.sae.archs import names

    if arch not in names():
        pytest.skip(f"saescope has no {arch!r} architecture in this version")
    sae = _random_sae(arch)
    x = _x()
    out = export_saelens(sae, tmp_path / "sl", metadata={"hook_name": "embedding"})
    cfg = json.loads((out / "cfg.json").read_text())
    assert cfg["architecture"] == expected and cfg["d_sae"] == M and cfg["d_in"] == D
    sl = sae_lens.SAE.load_from_disk(str(out))
    assert sl.cfg.architecture() == expected
    ours = _dense(sae, x)
    theirs = sl.encode(x).detach().numpy()
    assert (ours > 0).sum() > N  # the comparison is not between two all-zero matrices
    np.testing.assert_array_equal(ours > 0, theirs > 0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    # and back: saescope reads the exported folder (detected by SparseAutoencoder.load)
    back = SparseAutoencoder.load(out)
    np.testing.assert_allclose(_dense(back, x), ours, rtol=1e-5, atol=1e-6)


def test_trained_saescope_sae_loads_in_saelens(tmp_path):
    sae_lens = pytest.importorskip("sae_lens", reason="sae-lens not installed (pip install sae-lens)")
    from saescope.sae.config import TrainConfig
    from saescope.sae.train import train_sae

    X = np.random.default_rng(0).standard_normal((2000, D)).astype(np.float32) * 3 + 1
    cfg = TrainConfig(sae=SAEConfig(arch="topk", k=4, num_latents=M), steps=30, batch_size=256,
                      device="cpu", log_every=10)
    res = train_sae(X, cfg, out_dir=tmp_path / "sae", progress=False)
    export_saelens(SparseAutoencoder.load(tmp_path / "sae"), tmp_path / "sl")
    sl = sae_lens.SAE.load_from_disk(str(tmp_path / "sl"))
    x = torch.as_tensor(X[:500])
    np.testing.assert_allclose(sl.encode(x).detach().numpy(), _dense(res.sae, x), rtol=1e-5, atol=1e-5)
    # the reconstruction agrees too (same decoder, same bias)
    x_hat = sl.decode(sl.encode(x)).detach().numpy()
    np.testing.assert_allclose(x_hat, res.sae(x).x_hat.numpy(), rtol=1e-4, atol=1e-4)


def _train_saelens(sae, steps: int = 20) -> None:
    """A few optimiser steps with SAELens's own training forward pass."""
    from sae_lens.saes.sae import TrainStepInput

    opt = torch.optim.Adam(sae.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(3)
    for step in range(steps):
        x = torch.randn(256, D, generator=g) * 2 + 0.5
        out = sae.training_forward_pass(TrainStepInput(
            sae_in=x, coefficients={"l1": 1e-3, "l0": 1e-3}, dead_neuron_mask=None,
            n_training_steps=step, is_logging_step=False))
        opt.zero_grad()
        out.loss.backward()
        opt.step()


@pytest.mark.parametrize("kind", ["topk", "batchtopk", "standard", "jumprelu"])
def test_saelens_trained_sae_loads_in_saescope(tmp_path, kind):
    sae_lens = pytest.importorskip("sae_lens", reason="sae-lens not installed (pip install sae-lens)")
    torch.manual_seed(0)
    common = {"d_in": D, "d_sae": M}
    if kind == "topk":  # rescale_acts_by_decoder_norm (SAELens's default) folded on save
        sl = sae_lens.TopKTrainingSAE(sae_lens.TopKTrainingSAEConfig(k=5, **common))
    elif kind == "batchtopk":  # saved as jumprelu with one repeated threshold
        sl = sae_lens.BatchTopKTrainingSAE(sae_lens.BatchTopKTrainingSAEConfig(k=5, **common))
    elif kind == "standard":
        sl = sae_lens.StandardTrainingSAE(sae_lens.StandardTrainingSAEConfig(**common))
    else:
        sl = sae_lens.JumpReLUTrainingSAE(sae_lens.JumpReLUTrainingSAEConfig(**common))
    _train_saelens(sl)
    if kind == "jumprelu":  # per-latent thresholds that differ
        with torch.no_grad():
            sl.threshold.copy_(torch.rand(M) * 0.5 + 0.05)
    sl.save_inference_model(tmp_path / "sl")
    ref = sae_lens.SAE.load_from_disk(str(tmp_path / "sl"))
    ours = SparseAutoencoder.load(tmp_path / "sl")
    from saescope.sae.archs import names

    expect_arch = {"topk": "topk", "batchtopk": "batchtopk", "standard": "relu",
                   "jumprelu": "jumprelu" if "jumprelu" in names() else "reward"}[kind]
    assert ours.cfg.arch == expect_arch
    x = _x(5) * 2 + 0.5
    theirs = ref.encode(x).detach().numpy()
    mine = _dense(ours, x)
    assert (theirs > 0).sum() > N
    np.testing.assert_array_equal(mine > 0, theirs > 0)
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    recon = ref.decode(ref.encode(x)).detach().numpy()
    out = ours.encode(x)
    np.testing.assert_allclose(ours.decode(out.top_acts, out.top_indices).numpy(), recon,
                               rtol=1e-4, atol=1e-4)


def test_apply_b_dec_to_input_false_is_folded(tmp_path):
    sae_lens = pytest.importorskip("sae_lens", reason="sae-lens not installed (pip install sae-lens)")
    torch.manual_seed(1)
    sl = sae_lens.StandardSAE(sae_lens.StandardSAEConfig(d_in=D, d_sae=M, apply_b_dec_to_input=False))
    with torch.no_grad():
        for p in sl.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    sl.save_model(tmp_path / "sl")
    ours = load_saelens(tmp_path / "sl")
    x = _x(2)
    np.testing.assert_allclose(_dense(ours, x), sl.encode(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_runtime_normalisation_refused(tmp_path):
    sae = _random_sae("topk")
    out = export_saelens(sae, tmp_path / "sl")
    cfg = json.loads((out / "cfg.json").read_text())
    cfg["normalize_activations"] = "layer_norm"
    (out / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="layer_norm"):
        SparseAutoencoder.load(out)
    cfg["normalize_activations"], cfg["architecture"] = "none", "gated"
    (out / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="gated"):
        SparseAutoencoder.load(out)


def test_nonlinear_decoder_not_exported(tmp_path):
    sae = _random_sae("relu", decoder_activation="tanh")
    with pytest.raises(InputError, match="tanh"):
        export_saelens(sae, tmp_path / "sl")
