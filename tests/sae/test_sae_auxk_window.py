"""AuxK's window: at most a tenth of a fixed run, so short runs hand silent latents to AuxK early."""

from __future__ import annotations

import torch

from saescope.sae import SAEConfig, SparseAutoencoder, TrainConfig
from saescope.sae.archs.base import StepContext
from saescope.sae.budget import plan_run
from saescope.sae.train import Stepper


def test_short_fixed_runs_get_a_shorter_auxk_window():
    # 155,673 training rows, 1,000 steps of 256 (the token benchmark): the dead window is the
    # epoch, AuxK's a tenth of the 256,000 samples.
    fixed = plan_run(TrainConfig(steps=1000, batch_size=256), 155_673, 609, 256, True)
    assert fixed.dead_window == 155_673 and fixed.auxk_window == 25_600
    # a long fixed run and early stopping keep the epoch
    long = plan_run(TrainConfig(epochs=20), 1_350, 21, 64, True)
    assert long.auxk_window == long.dead_window == 1_350
    early = plan_run(TrainConfig(), 1_350, 21, 64, True)
    assert early.early_stopping and early.auxk_window == early.dead_window


def test_auxk_sees_latents_silent_for_its_window_while_dead_keeps_the_epoch(monkeypatch):
    sae = SparseAutoencoder(SAEConfig(arch="topk", k=2, num_latents=8), d_in=4)
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    stepper = Stepper(sae, opt, global_batch=16, dead_window=1_000, auxk_window=100)
    stepper.dead[:4] = 500  # silent for 500 samples: past AuxK's window, not the dead window
    seen: list[StepContext] = []
    step = sae.arch.training_step
    monkeypatch.setattr(sae.arch, "training_step",
                        lambda s, x, ctx: seen.append(ctx) or step(s, x, ctx))
    stepper(torch.randn(16, 4), step=1, total=10, lr=1e-3)
    assert seen[0].dead_mask[:4].all() and not seen[0].dead_mask[4:].any()
    assert stepper.dead_fraction() == 0.0  # the dead metric still counts over the epoch
