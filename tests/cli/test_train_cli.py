"""`saescope train`: the planted-dictionary acceptance run, input formats, and bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from saescope.cli.main import run


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads cost more than they give
    yield
    torch.set_num_threads(before)



@pytest.fixture(scope="module")
def small_npy(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 12)).astype(np.float32)
    path = tmp_path_factory.mktemp("train") / "x.npy"
    np.save(path, X)
    return path, X


def test_planted_dictionary_through_the_cli(tmp_path):
    """256 unit directions in 64-d, 5 non-negative per sample + noise (issue 2's acceptance run).

    With k = 5 the recovered dictionary is near perfect; validation FVU levels off near 0.12
    on this data whatever the training length or k (5 to 8), because a linear encoder
    cannot always pick the right 5 of 256 coherent directions (the amortisation gap of
    O'Neill et al. 2024, arXiv:2411.13117); see the report for the measurements.
    """
    from saescope.data.synthetic import planted_dictionary

    X, atoms = planted_dictionary(20000, d=64, num_atoms=256, k=5, noise=0.01, seed=0)
    np.save(tmp_path / "planted.npy", X)
    t = time.perf_counter()
    code = run(["train", tmp_path / "planted.npy", "--out", tmp_path / "sae", "--k", "5",
                "--latents", "512", "--epochs", "10", "--batch-size", "256", "--lr", "5e-3",
                "--device", "cpu", "--quiet"])
    seconds = time.perf_counter() - t
    assert code == 0
    assert seconds < 60
    metrics = json.loads((tmp_path / "sae" / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["l0"] == 5
    assert metrics["fvu"] < 0.15
    from saescope.sae import SparseAutoencoder

    W = SparseAutoencoder.load(tmp_path / "sae").W_dec.detach().numpy()
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    recovered = ((atoms @ W.T).max(axis=1) > 0.9).mean()
    assert recovered >= 0.9


def test_parquet_input_with_emb_column_and_config(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 8)
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(300)], "emb": emb,
                             "text": ["t"] * 300}), tmp_path / "cohere.parquet")
    (tmp_path / "cfg.yaml").write_text("sae:\n  arch: batchtopk\n  k: 3\n  num_latents: 24\n"
                                       "batch_size: 50\nsteps: 5\nseed: 3\n")
    assert run(["train", tmp_path / "cohere.parquet", "--out", tmp_path / "o", "--config",
                tmp_path / "cfg.yaml", "--k", "2", "--val-fraction", "0.2", "--quiet"]) == 0
    cfg = json.loads((tmp_path / "o" / "cfg.json").read_text())
    assert cfg["arch"] == "batchtopk" and cfg["k"] == 2 and cfg["num_latents"] == 24
    assert cfg["d_in"] == 8
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["steps"] == 5 and m["n_samples"] == 60


def test_nonfinite_rows(tmp_path, capsys, small_npy):
    _, X = small_npy
    X = X.copy()
    X[[7, 30, 31], 2] = [np.nan, np.inf, -np.inf]
    np.save(tmp_path / "bad.npy", X)
    code = run(["train", tmp_path / "bad.npy", "--out", tmp_path / "o", "--k", "2",
                "--latents", "16", "--steps", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.npy" in err and "3 rows" in err and "row 7" in err
    assert not (tmp_path / "o").exists()
    code = run(["train", tmp_path / "bad.npy", "--out", tmp_path / "o", "--k", "2",
                "--latents", "16", "--steps", "2", "--drop-nonfinite", "--quiet"])
    assert code == 0 and (tmp_path / "o" / "cfg.json").is_file()
    assert "dropped 3 rows" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["empty", "truncated", "k_too_large", "both_sizes", "arch"])
def test_bad_input_exit_2_and_no_output(tmp_path, capsys, small_npy, case):
    path, _ = small_npy
    args = ["--k", "2", "--latents", "16", "--steps", "2", "--quiet"]
    if case == "empty":
        np.save(tmp_path / "e.npy", np.zeros((0, 12), np.float32))
        path, expect = tmp_path / "e.npy", "e.npy"
    elif case == "truncated":
        data = path.read_bytes()
        (tmp_path / "t.npy").write_bytes(data[: len(data) // 2])
        path, expect = tmp_path / "t.npy", "t.npy"
    elif case == "k_too_large":
        args, expect = ["--k", "40", "--latents", "32", "--steps", "2", "--quiet"], "k (40)"
    elif case == "both_sizes":
        args, expect = ["--expansion", "2", "--latents", "32", "--quiet"], "--expansion"
    else:
        args, expect = ["--arch", "sigmoid", "--quiet"], "unknown arch 'sigmoid'"
    code = run(["train", path, "--out", tmp_path / "o", *args])
    assert code == 2
    assert expect in capsys.readouterr().err
    assert not (tmp_path / "o" / "cfg.json").exists()
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_existing_output_needs_overwrite_and_resume(tmp_path, capsys, small_npy):
    path, _ = small_npy
    args = ["--k", "2", "--latents", "16", "--steps", "3", "--batch-size", "32", "--quiet"]
    assert run(["train", path, "--out", tmp_path / "o", *args]) == 0
    before = (tmp_path / "o" / "sae.safetensors").read_bytes()
    assert run(["train", path, "--out", tmp_path / "o", *args]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "o" / "sae.safetensors").read_bytes() == before
    assert run(["train", path, "--out", tmp_path / "o", *args, "--seed", "4",
                "--overwrite"]) == 0
    assert (tmp_path / "o" / "sae.safetensors").read_bytes() != before
    # A finished run has no checkpoint left to resume from.
    assert run(["train", path, "--out", tmp_path / "o", *args, "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_planted_dictionary_with_defaults(tmp_path):
    """Issue 16's acceptance run: `saescope train x.npy --k 5 --latents 512`, no other flags.

    30,000 x 64, 256 unit atoms, 5 active, coefficients 0.5-1.5: early stopping on the
    validation FVU at the data-sized batch (256) and default learning rate recovers the atoms
    (measured: 99.2% recovered, validation FVU 0.120, 2,646 steps).
    """
    from saescope.data.synthetic import planted_dictionary
    from saescope.sae import SparseAutoencoder

    X, atoms = planted_dictionary(30000, d=64, num_atoms=256, k=5, noise=0.01, seed=0)
    np.save(tmp_path / "x.npy", X)
    assert run(["train", tmp_path / "x.npy", "--out", tmp_path / "sae", "--k", "5",
                "--latents", "512"]) == 0
    metrics = json.loads((tmp_path / "sae" / "metrics.json").read_text())
    assert metrics["stop_reason"] == "early_stopping" and metrics["batch_size"] == 256
    assert metrics["fvu"] <= 0.15 and metrics["l0"] == 5
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["num_latents"] == 512  # the resolved M, not 0
    W = SparseAutoencoder.load(tmp_path / "sae").W_dec.numpy()
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    assert ((atoms @ W.T).max(axis=1) > 0.9).mean() >= 0.95


def test_split_column_decides_the_validation_rows(tmp_path, capsys):
    """Rows marked `val` by `saescope embed --val-fraction` are held out, none trained on."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 8)).astype(np.float32)
    split = np.where(np.arange(500) % 5 == 0, "val", "train")  # 100 val rows
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 8)
    pq.write_table(pa.table({"id": np.arange(500), "embedding": emb, "split": split}),
                   tmp_path / "v.parquet")
    assert run(["train", tmp_path / "v.parquet", "--out", tmp_path / "o", "--k", "2",
                "--latents", "16", "--steps", "5", "--quiet"]) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["split"] == "validation" and m["n_samples"] == 100
    assert m["dead_window"] == 400  # dead latents are counted over the 400 training rows
    assert "warning: training for only 5 optimiser steps" in capsys.readouterr().err
    bad = split.copy()
    bad[3] = "test"
    pq.write_table(pa.table({"embedding": emb, "split": bad}), tmp_path / "bad.parquet")
    assert run(["train", tmp_path / "bad.parquet", "--out", tmp_path / "o2", "--quiet"]) == 2
    assert "split column has 'test' at row 3" in capsys.readouterr().err
