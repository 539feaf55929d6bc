"""The sparse TopK fast path against its plain PyTorch twin: same top-k sets, losses, gradients."""

from __future__ import annotations

import pytest
import torch

from saescope.sae import SAEConfig, SparseAutoencoder, kernels
from saescope.sae.archs.base import StepContext


def _run(encode, decode, x, W, b, W_dec, b_dec, k):
    params = [t.detach().clone().requires_grad_(True) for t in (x, W, b, W_dec, b_dec)]
    x_, W_, b_, Wd_, bd_ = params
    vals, idx = encode(x_ - bd_, W_, b_, k)
    x_hat = decode(vals, idx, Wd_) + bd_
    loss = (x_hat - x_).pow(2).sum() / (x_ - x_.mean(0)).pow(2).sum()
    loss.backward()
    return vals.detach(), idx, loss.detach(), [p.grad for p in params]


@pytest.mark.parametrize("ties", [False, True])
def test_sparse_path_matches_plain(ties):
    g = torch.Generator().manual_seed(0)
    B, D, M, k = 64, 12, 96, 7
    if ties:  # small integers: many equal pre-activations, including equal k-th values
        x = torch.randint(-2, 3, (B, D), generator=g).float()
        W = torch.randint(-1, 2, (M, D), generator=g).float()
        b = torch.zeros(M)
    else:
        x = torch.randn(B, D, generator=g)
        W = torch.randn(M, D, generator=g)
        b = torch.randn(M, generator=g) * 0.1
    W_dec = torch.randn(M, D, generator=g)
    b_dec = torch.randn(D, generator=g) * 0.1
    ref = _run(kernels.topk_encode_dense, kernels.decode_dense, x, W, b, W_dec, b_dec, k)
    fast = _run(kernels.topk_encode_sparse, kernels.decode_sparse, x, W, b, W_dec, b_dec, k)
    # Same top-k sets (as sets per row) and the same values.
    assert torch.equal(ref[1].sort(-1).values, fast[1].sort(-1).values)
    assert torch.allclose(ref[0].sort(-1).values, fast[0].sort(-1).values)
    assert torch.allclose(ref[2], fast[2], rtol=1e-5, atol=1e-6)
    for name, gr, gf in zip(["x", "W_enc", "b_enc", "W_dec", "b_dec"], ref[3], fast[3], strict=True):
        assert torch.allclose(gr, gf, rtol=1e-4, atol=1e-5), name
    # The encoder gradient is really sparse: rows of W_enc never selected get no gradient.
    selected = torch.zeros(M, dtype=torch.bool)
    selected[ref[1].flatten()] = True
    assert torch.all(fast[3][1][~selected] == 0)


@pytest.mark.parametrize("opts", [{}, {"multi_topk": True}])
def test_training_step_parity(opts):
    """A whole topk training step (with AuxK on dead latents, multi-TopK) agrees on both paths."""
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(k=4, num_latents=64, options=opts), d_in=10,
                            generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        sae.encoder.bias.normal_(0, 0.1)
    x = torch.randn(32, 10)
    dead = torch.zeros(64, dtype=torch.bool)
    dead[::3] = True
    results = []
    for fast in (False, True):
        sae.zero_grad()
        ctx = StepContext(step=5, total_steps=10, total_variance=(x - x.mean(0)).pow(2).sum(),
                          global_batch=32, dead_mask=dead, fast=fast)
        out = sae.arch.training_step(sae, x, ctx)
        out.loss.backward()
        results.append((out, {n: p.grad.clone() for n, p in sae.named_parameters()}))
    (ref, g_ref), (fast, g_fast) = results
    assert "auxk_loss" in ref.extras
    assert torch.allclose(ref.loss, fast.loss, rtol=1e-5)
    assert torch.equal(ref.fired, fast.fired)
    for name in g_ref:
        assert torch.allclose(g_ref[name], g_fast[name], rtol=1e-4, atol=1e-6), name


def test_trainer_fast_switch_same_result(sparse_X):
    from saescope.sae import TrainConfig, train_sae

    X, _ = sparse_X
    runs = [train_sae(X[:1000], TrainConfig(sae=SAEConfig(k=3, num_latents=48), steps=8,
                                            batch_size=100, lr=5e-3, device="cpu",
                                            fast_topk=mode), progress=False)
            for mode in ("off", "on")]
    for name, t in runs[0].sae.state_dict().items():
        assert torch.allclose(t, runs[1].sae.state_dict()[name], atol=1e-5, rtol=1e-4), name


@pytest.mark.parametrize("fast", [False, True])
def test_bench_make_step_trains(fast):
    from saescope.sae.bench import make_step

    step = make_step(8, 32, 4, "cpu", fast=fast)
    sae = step.sae
    before = sae.W_dec.detach().clone()
    x = torch.randn(64, 8)
    step(x)
    step(x)
    assert not torch.allclose(before, sae.W_dec)
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(32), atol=1e-5)
