"""Data-parallel training: two CPU processes (gloo, launched by torchrun) equal one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from saescope.sae import SAEConfig, TrainConfig, train_sae


@pytest.mark.timeout(300)
def test_two_gloo_processes_match_one(tmp_path, sparse_X):
    X, _ = sparse_X
    np.save(tmp_path / "x.npy", X[:1600])
    common = ["--k", "3", "--latents", "48", "--steps", "12", "--batch-size", "64",
              "--lr", "5e-3", "--seed", "2", "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "saescope.cli.main", "train", str(tmp_path / "x.npy"),
           "--out", str(tmp_path / "ddp"), *common]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The same run in this process (one process, the same global batch of 64).
    cfg = TrainConfig(sae=SAEConfig(k=3, num_latents=48), steps=12, batch_size=64, lr=5e-3,
                      seed=2, device="cpu")
    single = train_sae(X[:1600], cfg, out_dir=tmp_path / "one", progress=False)
    ddp = load_file(str(tmp_path / "ddp" / "sae.safetensors"))
    for name, t in single.sae.state_dict().items():
        assert torch.allclose(ddp[name], t, atol=1e-5, rtol=1e-4), name
    m_ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert m_ddp["fvu"] == pytest.approx(single.metrics["fvu"], rel=1e-4)
    assert m_ddp["samples"] == single.metrics["samples"] == 12 * 64
    log = [json.loads(x) for x in (tmp_path / "ddp" / "train_log.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in (tmp_path / "one" / "train_log.jsonl").read_text().splitlines()]
    assert [x["fvu"] for x in log] == pytest.approx([x["fvu"] for x in ref], rel=1e-4)
