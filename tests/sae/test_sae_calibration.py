"""Inference thresholds of BatchTopK, Matryoshka and JumpReLU calibrated on held-out rows."""

import math

import numpy as np
import pytest
import torch

from saescope.sae import SAEConfig, SparseAutoencoder, TrainConfig, train_sae
from saescope.sae.archs.base import level_for_mean_count
from saescope.sae.metrics import evaluate


def test_level_for_mean_count_hand_computed():
    scores = torch.tensor([[3.0, 0.5, -1.0], [2.0, 1.0, 0.2]])
    # k = 1 over 2 rows: the 2nd and 3rd largest positive scores are 2.0 and 1.0.
    assert level_for_mean_count(lambda r: r, scores, 1) == pytest.approx(1.5)
    # k = 2, in chunks of one row: the 4th and 5th largest are 0.5 and 0.2.
    assert level_for_mean_count(lambda r: r, scores, 2, chunk=1) == pytest.approx(0.35)
    # Fewer positive scores than k N: half the smallest, so that every one of them counts.
    assert level_for_mean_count(lambda r: r, scores, 3) == pytest.approx(0.1)


def test_batchtopk_threshold_is_set_from_held_out_rows():
    sae = SparseAutoencoder(SAEConfig(arch="batchtopk", k=1, num_latents=3), d_in=3)
    with torch.no_grad():
        sae.encoder.weight.copy_(torch.eye(3))
        sae.encoder.bias.zero_()
        sae.b_dec.zero_()
        sae.threshold.fill_(5.0)
    held = np.array([[3.0, 0.5, 0.0], [2.0, 1.0, 0.2]], dtype=np.float32)
    sae.arch.after_training(sae, torch.as_tensor(held), held_out=held)
    assert sae.threshold.item() == pytest.approx(1.5)
    sae.arch.after_training(sae, torch.as_tensor(held), held_out=None)  # nothing held out
    assert sae.threshold.item() == pytest.approx(1.5)


def test_jumprelu_thresholds_scale_by_one_factor():
    sae = SparseAutoencoder(SAEConfig(arch="jumprelu", k=1, num_latents=2), d_in=2)
    with torch.no_grad():
        sae.encoder.weight.copy_(torch.eye(2))
        sae.encoder.bias.zero_()
        sae.b_dec.zero_()
        sae.log_threshold.copy_(torch.log(torch.tensor([1.0, 2.0])))
    held = np.array([[3.0, 2.0], [0.5, 6.0]], dtype=np.float32)  # z / theta: 3, 1, 0.5, 3
    sae.arch.after_training(sae, torch.as_tensor(held), held_out=held)
    # Ratios sorted: 3, 3, 1, 0.5; k N = 2, so the factor is (3 + 1) / 2 = 2 on both thresholds.
    assert sae.log_threshold.exp().tolist() == pytest.approx([2.0, 4.0])
    assert float((sae.encode(torch.as_tensor(held)).top_acts > 0).sum()) == 2


@pytest.fixture(scope="module")
def overfit_split():
    """300 training rows for 256 latents (an SAE that fits its rows better than new ones),
    400 validation rows for the trainer and 400 independent rows to measure on."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((16, 16)) / 4
    X = (rng.standard_normal((1100, 16)) @ A + 3.0).astype(np.float32)
    return X[:300], X[300:700], X[700:]


@pytest.mark.parametrize("arch", ["batchtopk", "jumprelu"])
def test_new_rows_have_mean_l0_k(overfit_split, arch):
    """Before calibration the thresholds came from training batches, and new rows had L0
    4.9 (batchtopk) and 6.1 (jumprelu) for k 4; now within 5% of k on rows that neither
    the optimiser nor the calibration saw."""
    train, val, test = overfit_split
    cfg = TrainConfig(sae=SAEConfig(arch=arch, k=4, num_latents=256), device="cpu", steps=400)
    with pytest.warns(UserWarning):  # a fixed run this short warns; so does overfitting
        res = train_sae(train, cfg, val_data=val, progress=False)
    assert res.metrics["l0"] == pytest.approx(4, rel=1e-6)  # the calibration rows themselves
    assert evaluate(res.sae, test).result()["l0"] == pytest.approx(4, rel=0.05)
    assert math.isfinite(res.metrics["fvu"])
