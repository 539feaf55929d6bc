"""The real EleutherAI sparsify reads saescope checkpoints and saescope reads sparsify's.

Uses `eai-sparsify` when it is installed (it is in the `test` extra); installs nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

sparsify = pytest.importorskip(
    "sparsify", reason="eai-sparsify is not installed (pip install 'saescope[test]')")

from saescope.sae import SAEConfig, SparseAutoencoder, TrainConfig, train_sae  # noqa: E402


def _same_sets(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.sort(-1).values, b.sort(-1).values)


def test_sparsify_loads_a_trained_saescope_checkpoint(tmp_path, sparse_X):
    X, _ = sparse_X
    cfg = TrainConfig(sae=SAEConfig(k=3, num_latents=48), batch_size=64, steps=40, device="cpu")
    with pytest.warns(UserWarning, match="optimiser steps"):
        ours = train_sae(X[:2000], cfg, out_dir=tmp_path, progress=False).sae
    theirs = sparsify.SparseCoder.load_from_disk(tmp_path, device="cpu")
    assert theirs.num_latents == 48 and theirs.cfg.k == 3
    x = torch.as_tensor(X[2000:2200])
    a, b = ours.encode(x), theirs.encode(x)
    assert _same_sets(a.top_indices, b.top_indices)
    assert torch.allclose(ours.decode(a.top_acts, a.top_indices),
                          theirs.decode(b.top_acts, b.top_indices), atol=1e-5)


def test_saescope_loads_a_sparsify_checkpoint(tmp_path):
    torch.manual_seed(0)
    sc = sparsify.SparseCoder(12, sparsify.SparseCoderConfig(k=4, num_latents=40), device="cpu")
    with torch.no_grad():
        sc.encoder.bias.normal_(0, 0.2)
        sc.b_dec.normal_()
    sc.save_to_disk(tmp_path)
    ours = SparseAutoencoder.load(tmp_path)
    assert ours.cfg.arch == "topk" and ours.num_latents == 40 and ours.cfg.k == 4
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((64, 12)), dtype=torch.float32)
    a, b = ours.encode(x), sc.encode(x)
    assert _same_sets(a.top_indices, b.top_indices)
    assert torch.allclose(a.top_acts.sort(-1).values, b.top_acts.detach().sort(-1).values,
                          atol=1e-5)
