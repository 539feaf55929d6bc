"""Each architecture against tensors computed by hand on tiny inputs, and gradient checks."""

from __future__ import annotations

import math

import pytest
import torch

from saescope.errors import ConfigError
from saescope.sae import SAEConfig, SparseAutoencoder
from saescope.sae.archs import get_arch, names
from saescope.sae.archs.base import StepContext

W_ENC = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]
B_ENC = [0.0, 0.5, 0.0]
W_DEC = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]
B_DEC = [1.0, 1.0]
# x = [3, 2]: x - b_dec = [2, 1], pre = ReLU([2, 1.5, -2]) = [2, 1.5, 0]
# x = [1, 1]: x - b_dec = [0, 0], pre = [0, 0.5, 0]
X = torch.tensor([[3.0, 2.0], [1.0, 1.0]])


def tiny(arch: str, k: int = 1, dtype=torch.float32, **options) -> SparseAutoencoder:
    sae = SparseAutoencoder(SAEConfig(arch=arch, k=k, num_latents=3, options=options), d_in=2,
                            dtype=dtype)
    with torch.no_grad():
        sae.encoder.weight.copy_(torch.tensor(W_ENC))
        sae.encoder.bias.copy_(torch.tensor(B_ENC))
        sae.W_dec.copy_(torch.tensor(W_DEC))
        sae.b_dec.copy_(torch.tensor(B_DEC))
    return sae


def ctx_for(x, step=0, total=10, **kw) -> StepContext:
    return StepContext(step=step, total_steps=total, total_variance=(x - x.mean(0)).pow(2).sum(),
                       global_batch=x.shape[0], **kw)


def dense(out, m=3):
    return torch.zeros(out.top_acts.shape[0], m).scatter(-1, out.top_indices, out.top_acts)


def test_registry_lists_the_four_architectures():
    assert {"topk", "batchtopk", "relu", "reward"} <= set(names())
    with pytest.raises(ConfigError, match="unknown arch 'nope'"):
        get_arch("nope")
    with pytest.raises(ConfigError, match="l1_coef"):
        SAEConfig(arch="topk", options={"l1_coef": 1.0})


def test_topk_hand_computed():
    sae = tiny("topk", k=1)
    out = sae.encode(X[:1])
    assert out.top_indices.tolist() == [[0]] and out.top_acts.tolist() == [[2.0]]
    assert sae.decode(out.top_acts, out.top_indices).tolist() == [[3.0, 1.0]]
    sae2 = tiny("topk", k=2)
    out2 = sae2.encode(X[:1])
    assert torch.allclose(dense(out2), torch.tensor([[2.0, 1.5, 0.0]]))
    fwd = sae2(X[:1])
    assert torch.allclose(fwd.x_hat, torch.tensor([[3.0, 2.5]]))


def test_topk_training_loss_is_fvu():
    sae = tiny("topk", k=1, auxk_alpha=0.0)
    out = sae.arch.training_step(sae, X, ctx_for(X))
    # x_hat = [[3, 1], [1, 1]] (row 2: top-1 is latent 1 with 0.5 -> [1, 1.5]).
    x_hat = torch.tensor([[3.0, 1.0], [1.0, 1.5]])
    expected = (X - x_hat).pow(2).sum() / (X - X.mean(0)).pow(2).sum()
    assert torch.allclose(out.loss, expected)
    assert out.fired.tolist() == [True, True, False]
    assert out.l0_sum.item() == 2


def test_batchtopk_hand_computed():
    sae = tiny("batchtopk", k=1)
    out = sae.arch.training_step(sae, X, ctx_for(X))
    # top k*B = 2 of [[2, 1.5, 0], [0, 0.5, 0]] over the batch: both from row 1.
    assert out.l0_sum.item() == 2
    assert out.fired.tolist() == [True, True, False]
    assert sae.threshold.item() == pytest.approx(1.5)  # smallest kept activation
    # Inference is a JumpReLU at the threshold: row 1 keeps only 2 (> 1.5), row 2 nothing.
    enc = sae.encode(X)
    assert torch.allclose(dense(enc), torch.tensor([[2.0, 0, 0], [0, 0, 0]]))
    # One row's code does not depend on its batch.
    assert torch.allclose(dense(sae.encode(X[:1])), dense(enc)[:1])
    # Running average: a second batch with a smaller minimum moves it by the momentum.
    sae.arch.training_step(sae, X[1:], ctx_for(X[1:]))
    assert sae.threshold.item() == pytest.approx(0.99 * 1.5 + 0.01 * 0.5)


def test_relu_hand_computed_and_schedule():
    sae = tiny("relu", l1_coef=0.5, l1_start_fraction=0.5, l1_warmup_fraction=0.25)
    assert sae.cfg.normalize_decoder is False
    enc = sae.encode(X)
    assert torch.allclose(dense(enc), torch.tensor([[2.0, 1.5, 0.0], [0.0, 0.5, 0.0]]))
    assert sae.arch.l1_weight(49, 100) == 0.0
    assert sae.arch.l1_weight(50, 100) == pytest.approx(0.5 / 25)
    assert sae.arch.l1_weight(74, 100) == pytest.approx(0.5)
    out = sae.arch.training_step(sae, X, ctx_for(X, step=99, total=100))
    # L1 weighted by decoder norms (all 1 here) / (B * sqrt(d)) = (2 + 1.5 + 0.5) / (2 sqrt 2)
    assert out.extras["l1"].item() == pytest.approx(4.0 / (2 * math.sqrt(2)))
    x_hat = torch.tensor([[3.0, 2.5], [1.0, 1.5]])
    fvu = (X - x_hat).pow(2).sum() / (X - X.mean(0)).pow(2).sum()
    assert out.loss.item() == pytest.approx(fvu.item() + 0.5 * out.extras["l1"].item())
    th = tiny("relu", decoder_activation="tanh")
    assert torch.allclose(th(X[:1]).x_hat, torch.tanh(torch.tensor([[3.0, 2.5]])))


def test_reward_hand_computed_inference():
    sae = tiny("reward", k=1)
    with torch.no_grad():
        sae.gate_log_scale.zero_()
        sae.gate_bias.copy_(torch.tensor([-3.0, 0.5, 10.0]))
    # z = W_enc (x - b_dec) = [2, 1, -2]; logits = z + c = [-1, 1.5, 8]: gate 0 closed.
    # magnitudes ReLU(z + b_enc) = [2, 1.5, 0] -> codes [0, 1.5, 0].
    enc = sae.encode(X[:1])
    assert torch.allclose(dense(enc), torch.tensor([[0.0, 1.5, 0.0]]))


def test_reward_reinforce_gradient_follows_lambda():
    """The L0 cost reaches the gate parameters (the capstone's sparsity term had zero gradient)."""
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    grads = {}
    for lam in (0.0, 5.0):
        sae = SparseAutoencoder(SAEConfig(arch="reward", k=4, num_latents=16,
                                          options={"reward_lambda": lam}), d_in=8,
                                generator=torch.Generator().manual_seed(0))
        torch.manual_seed(1)  # the same gate samples for both lambdas
        out = sae.arch.training_step(sae, x, ctx_for(x))
        out.loss.backward()
        grads[lam] = sae.gate_bias.grad.clone()
    assert grads[5.0].abs().sum() > 0
    # A higher L0 price pushes every gate logit down: gradient descent lowers the bias.
    diff = grads[5.0] - grads[0.0]
    assert (diff > 0).float().mean() >= 0.9


class _LossOf(torch.nn.Module):
    """The training loss as a module, so `functional_call` can substitute the parameters."""

    def __init__(self, sae, ctx):
        super().__init__()
        self.sae, self.ctx = sae, ctx

    def forward(self, x):
        return self.sae.arch.training_step(self.sae, x, self.ctx).loss


def test_gradcheck_topk_and_relu():
    torch.manual_seed(0)
    x = torch.randn(6, 2, dtype=torch.float64) + 1
    for arch, opts in (("topk", {"auxk_alpha": 0.0}), ("relu", {"l1_coef": 0.3})):
        sae = tiny(arch, k=2, dtype=torch.float64, **opts)

        wrap = _LossOf(sae, ctx_for(x))

        def loss(W, b, W_dec, b_dec, wrap=wrap):
            params = {"sae.encoder.weight": W, "sae.encoder.bias": b, "sae.W_dec": W_dec,
                      "sae.b_dec": b_dec}
            return torch.func.functional_call(wrap, params, (x,))

        inputs = tuple(t.detach().clone().requires_grad_(True) for t in
                       (sae.encoder.weight, sae.encoder.bias, sae.W_dec, sae.b_dec))
        assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-5)


def test_fold_input_scale_gives_raw_input_sae():
    """Weights trained on s*x, folded, give the same codes / s and reconstructions / s."""
    for arch in ("topk", "batchtopk", "relu", "reward"):
        sae = SparseAutoencoder(SAEConfig(arch=arch, k=3, num_latents=12), d_in=4,
                                generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            sae.encoder.bias.normal_(0, 0.3)
            sae.b_dec.normal_(0, 1)
            if arch == "batchtopk":
                sae.threshold.fill_(0.2)
        x = torch.randn(20, 4) * 7
        s = 0.25
        scaled = sae(x * s)
        folded = SparseAutoencoder(SAEConfig.from_dict(sae.cfg.to_dict()))
        folded.load_state_dict(sae.state_dict())
        folded.arch.fold_input_scale(folded, s)
        raw = folded(x)
        assert torch.allclose(raw.x_hat, scaled.x_hat / s, atol=1e-4), arch
        assert torch.allclose(dense(raw, 12), dense(scaled, 12) / s, atol=1e-5), arch


@pytest.mark.parametrize("arch", ["topk", "batchtopk"])
def test_auxk_reaches_a_latent_negative_on_every_row(arch):
    """AuxK on pre-activations (Gao et al. 2024 A.2; SAELens's TopK AuxK): latent 2's
    pre-activation is -2 and -0 on the two rows (negative or zero everywhere), yet the AuxK loss
    must give its encoder row a gradient, or a latent dead that way can never be revived."""
    sae = tiny(arch, k=1)
    with torch.no_grad():
        sae.encoder.bias[2] = -0.5  # pre = [-2.5, -0.5]: negative on both rows
    dead = torch.tensor([False, False, True])
    x_c = X - sae.b_dec
    assert (torch.nn.functional.linear(x_c, sae.encoder.weight, sae.encoder.bias)[:, 2] < 0).all()
    from saescope.sae.archs.base import auxk_loss

    residual = torch.tensor([[1.0, -1.0], [0.5, 0.5]])
    aux = auxk_loss(sae, x_c, residual, dead, ctx_for(X).total_variance)
    aux.backward()
    assert sae.encoder.weight.grad[2].abs().sum() > 0
    assert sae.encoder.bias.grad[2] != 0
    assert sae.encoder.weight.grad[:2].abs().sum() == 0  # only dead latents take part
