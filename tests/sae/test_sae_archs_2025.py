"""Matryoshka BatchTopK and JumpReLU: hand-computed pieces, checkpoints, planted dictionaries."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from saescope.sae import SAEConfig, SparseAutoencoder, TrainConfig, train_sae
from saescope.sae.archs.base import StepContext
from saescope.sae.archs.jumprelu import JumpReLUFn, StepFn
from saescope.sae.archs.matryoshka import prefix_reconstructions, prefix_sizes


def test_prefix_sizes_are_nested_and_end_at_m():
    assert prefix_sizes([1 / 16, 1 / 8, 1 / 4, 1 / 2], 64) == [4, 8, 16, 32, 64]
    assert prefix_sizes([0.3], 4) == [1, 4]
    assert prefix_sizes([0.01, 0.02], 10) == [1, 10]  # both round to 1: one prefix


def test_prefix_reconstructions_by_hand():
    acts = torch.tensor([[1.0, 0.0, 2.0, 0.0]])
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    b = torch.tensor([0.5, -0.5])
    r1, r2, r4 = prefix_reconstructions(acts, W, b, [1, 2, 4])
    assert r1.tolist() == [[1.5, -0.5]]  # b + 1 * W_0
    assert r2.tolist() == [[1.5, -0.5]]  # latent 1 is off
    assert r4.tolist() == [[3.5, 1.5]]  # + 2 * W_2


@pytest.mark.parametrize("beta", [0.25, 2.0])
def test_matryoshka_loss_is_full_fvu_plus_beta_mean_inner_fvu(beta):
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(arch="matryoshka", k=2, num_latents=8, options={
        "prefix_fractions": [0.25, 0.5], "inner_weight": beta}), d_in=4)
    x = torch.randn(6, 4)
    tv = (x - x.mean(0)).pow(2).sum()
    ctx = StepContext(step=0, total_steps=1, total_variance=tv, global_batch=6)
    out = sae.arch.training_step(sae, x, ctx)
    pre = torch.relu(sae.encoder(x - sae.b_dec))
    keep = pre.flatten().topk(12).indices
    acts = torch.zeros(48).scatter(0, keep, pre.flatten()[keep]).view(6, 8)
    fvus = [((x - (acts[:, :m] @ sae.W_dec[:m] + sae.b_dec)) ** 2).sum() / tv for m in (2, 4, 8)]
    # beta = G - 1 = 2 is the paper's mean over all prefixes (times G).
    want = fvus[-1].item() + beta * (fvus[0].item() + fvus[1].item()) / 2
    assert out.loss.item() == pytest.approx(want, rel=1e-5)
    assert out.fvu.item() == pytest.approx(fvus[-1].item(), rel=1e-5)
    assert out.l0_sum.item() == 12  # k * B over the batch


def test_jumprelu_straight_through_gradients_by_hand():
    # theta = 0.1, eps = 0.02: (z - theta) / eps = 20, 0.25, -1, so only latent 1 is in the kernel.
    z = torch.tensor([[0.5, 0.105, 0.08]], requires_grad=True)
    log_theta = torch.full((3,), math.log(0.1), requires_grad=True)
    acts = JumpReLUFn.apply(z, log_theta, 0.02)
    assert acts[0].tolist() == pytest.approx([0.5, 0.105, 0.0])
    acts.sum().backward()
    assert z.grad.tolist() == [[1.0, 1.0, 0.0]]  # H(z - theta)
    # d/dlog theta = theta * (-(theta / eps) K) = 0.1 * -5 on latent 1
    assert log_theta.grad.tolist() == pytest.approx([0.0, -0.5, 0.0])
    z2 = z.detach().clone().requires_grad_(True)
    log_theta2 = log_theta.detach().clone().requires_grad_(True)
    l0 = StepFn.apply(z2, log_theta2, 0.02)
    assert l0.tolist() == [[1.0, 1.0, 0.0]]
    l0.sum().backward()
    assert z2.grad is None  # the L0 term reaches only the thresholds
    assert log_theta2.grad.tolist() == pytest.approx([0.0, -5.0, 0.0])  # 0.1 * -(1 / eps)


def test_jumprelu_target_l0_penalty_by_hand():
    """Default JumpReLU (no l0_coef): loss = FVU + c (L0 - k)^2 / k on the batch-mean L0, so the
    thresholds rise while L0 > k and fall while L0 < k."""
    sae = SparseAutoencoder(SAEConfig(arch="jumprelu", k=1, num_latents=3), d_in=2)
    assert sae.arch.target_mode and float(sae.l0_coef) == pytest.approx(sae.arch.opts.target_coef)
    with torch.no_grad():
        sae.encoder.weight.copy_(torch.eye(3, 2))
        sae.encoder.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
        sae.W_dec.copy_(torch.eye(3, 2))
        sae.b_dec.zero_()
        sae.log_threshold.fill_(math.log(0.1))
    x = torch.tensor([[1.0, 2.0], [3.0, 0.12]])  # z = [1, 2, .5], [3, .12, .5]: L0 3 and 3
    tv = (x - x.mean(0)).pow(2).sum()
    ctx = StepContext(step=0, total_steps=1, total_variance=tv, global_batch=2)
    out = sae.arch.training_step(sae, x, ctx)
    c = float(sae.l0_coef)
    assert out.loss.item() == pytest.approx(out.fvu.item() + c * (3 - 1) ** 2 / 1, rel=1e-5)
    out.loss.backward()
    # only latent 1 on row 2 (z = .12) is inside the kernel (bandwidth .05): d/dlog theta of
    # the penalty = 2c (L0 - k) / k * (1/B) * theta * -(1 / eps); FVU adds theta * -(theta/eps) * g
    assert sae.log_threshold.grad[1] < 0 and sae.log_threshold.grad[0] == 0
    assert sae.arch.validation_objective(sae, {"fvu": 0.2, "l0": 1.5}) == pytest.approx(
        0.2 + c * 0.25)
    fixed = SparseAutoencoder(SAEConfig(arch="jumprelu", k=1, num_latents=3,
                                        options={"l0_coef": 0.01}), d_in=2)
    assert fixed.arch.validation_objective(fixed, {"fvu": 0.2, "l0": 1.5}) == pytest.approx(0.215)


def test_jumprelu_input_scale_folds_into_thresholds():
    torch.manual_seed(1)
    sae = SparseAutoencoder(SAEConfig(arch="jumprelu", k=2, num_latents=16), d_in=4)
    with torch.no_grad():
        sae.log_threshold.uniform_(-3, 0)
        sae.encoder.bias.normal_(0, 0.5)
    x = torch.randn(20, 4)
    s = 7.0
    before = sae.arch.encode(sae, s * x)
    sae.arch.fold_input_scale(sae, s)
    after = sae.arch.encode(sae, x)
    dense = lambda out: torch.zeros(20, 16).scatter(1, out.top_indices, out.top_acts)  # noqa: E731
    assert torch.allclose(dense(after) * s, dense(before), atol=1e-5)


@pytest.mark.parametrize("arch,extra", [("matryoshka", {"threshold"}),
                                        ("jumprelu", {"log_threshold", "l0_coef"})])
def test_checkpoint_is_sparsify_layout_plus_extra_tensors(tmp_path, sparse_X, arch, extra):
    X, _ = sparse_X
    cfg = TrainConfig(sae=SAEConfig(arch=arch, k=3, num_latents=32), batch_size=64, steps=20,
                      device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = train_sae(X[:1000], cfg, out_dir=tmp_path, progress=False)
    tensors = load_file(str(tmp_path / "sae.safetensors"))
    assert set(tensors) == {"encoder.weight", "encoder.bias", "W_dec", "b_dec"} | extra
    assert json.loads((tmp_path / "cfg.json").read_text())["arch"] == arch
    back = SparseAutoencoder.load(tmp_path)
    x = torch.as_tensor(X[1000:1100])
    a, b = res.sae.encode(x), back.encode(x)
    assert torch.equal(a.top_indices, b.top_indices) and torch.allclose(a.top_acts, b.top_acts)


def _recovered(sae, atoms: np.ndarray) -> float:
    W = sae.W_dec.numpy()
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    return float(((atoms @ W.T).max(axis=1) > 0.9).mean())


@pytest.mark.parametrize("arch,opts,m,share,seed", [
    # No flags: the target-L0 penalty keeps L0 at k (with l0_coef 0.003, the old default,
    # L0 was 12 and no atom was recovered).
    ("jumprelu", {}, 64, 0.95, 0),
    # With AuxK at 1/32, two atoms stayed merged in pairs with seed 1 (93.8% each).
    ("jumprelu", {}, 64, 0.95, 1),
    ("batchtopk", {}, 64, 0.95, 1),
    # Default prefixes 1/16 .. 1/2: with the paper's weighting (the mean of all prefix FVUs)
    # and AuxK at 1/32, 50% of the atoms were recovered here (the inner prefixes learn blends).
    ("matryoshka", {}, 64, 0.9, 0),
], ids=["jumprelu", "jumprelu-seed1", "batchtopk-seed1", "matryoshka"])
def test_planted_dictionary_is_recovered(sparse_X, arch, opts, m, share, seed):
    """32 unit atoms in 16-d, 3 active per row: default training recovers them."""
    X, atoms = sparse_X
    res = train_sae(X, TrainConfig(sae=SAEConfig(arch=arch, k=3, num_latents=m, options=opts),
                                   device="cpu", seed=seed), progress=False)
    assert res.metrics["stop_reason"] == "early_stopping"
    assert _recovered(res.sae, atoms) >= share
    assert res.metrics["fvu"] < 0.2 and res.metrics["l0"] == pytest.approx(3, abs=0.5)
    if arch != "matryoshka":  # the L0 follows k
        assert res.metrics["l0"] == pytest.approx(3, rel=0.05)
