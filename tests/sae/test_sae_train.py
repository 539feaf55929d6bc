"""Training: resume equivalence, reproducibility, dead latents in samples, scaling, configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saescope.errors import ConfigError, InputError
from saescope.sae import SAEConfig, SparseAutoencoder, TrainConfig, train_sae
from saescope.sae.train import lr_factor


def small_cfg(**kw) -> TrainConfig:
    sae = kw.pop("sae", SAEConfig(k=3, num_latents=64))
    base = dict(sae=sae, batch_size=64, steps=24, lr=3e-3, log_every=1, checkpoint_every=5,
                device="cpu")
    base.update(kw)
    return TrainConfig(**base)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("sae_cfg,extra", [
    (SAEConfig(k=3, num_latents=64, options={"dead_samples": 128, "multi_topk": True}), {}),
    (SAEConfig(arch="batchtopk", k=3, num_latents=64, options={"dead_samples": 128}), {}),
    (SAEConfig(arch="reward", k=3, num_latents=64), {}),
    (SAEConfig(arch="jumprelu", k=3, num_latents=64), {"input_standardize": True}),
], ids=["topk-auxk-multi", "batchtopk", "reward", "jumprelu-standardize"])
def test_resume_matches_uninterrupted(tmp_path, sparse_X, sae_cfg, extra):
    X, _ = sparse_X
    X = X[:1200]
    cfg = small_cfg(sae=sae_cfg, **extra)
    full = train_sae(X, cfg, out_dir=tmp_path / "full", progress=False)

    def stop_at_13(step, line):
        if step == 13:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_sae(X, cfg, out_dir=tmp_path / "cut", progress=False, callback=stop_at_13)
    assert (tmp_path / "cut" / "checkpoint" / "state.json").is_file()
    assert not (tmp_path / "cut" / "cfg.json").exists()  # nothing looks complete
    resumed = train_sae(X, cfg, out_dir=tmp_path / "cut", resume=True, progress=False)
    for name, t in full.sae.state_dict().items():
        assert torch.allclose(t, resumed.sae.state_dict()[name], atol=1e-6, rtol=1e-5), name
    assert resumed.metrics["fvu"] == pytest.approx(full.metrics["fvu"], rel=1e-5)
    assert resumed.metrics["steps"] == 24 and resumed.metrics["samples"] == 24 * 64
    log_full = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    log_cut = [json.loads(x) for x in (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log_cut] == list(range(1, 25))
    assert [x["loss"] for x in log_cut] == pytest.approx([x["loss"] for x in log_full], rel=1e-5)
    assert not (tmp_path / "cut" / "checkpoint").exists()


def test_seeded_and_reproducible(gaussian_X):
    cfg = small_cfg(steps=6)
    a = train_sae(gaussian_X, cfg, progress=False)
    b = train_sae(gaussian_X, cfg, progress=False)
    c = train_sae(gaussian_X, cfg.replace(seed=1), progress=False)
    assert torch.equal(a.sae.W_dec, b.sae.W_dec)
    assert not torch.allclose(a.sae.W_dec, c.sae.W_dec)


def test_dead_latents_are_counted_in_samples(tmp_path, gaussian_X):
    # 64-row batches, dead after 192 samples = 3 steps; k=1 of 256 latents: most never fire.
    cfg = small_cfg(sae=SAEConfig(k=1, num_latents=256, options={"dead_samples": 192}), steps=4)
    train_sae(gaussian_X, cfg, out_dir=tmp_path, progress=False)
    log = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert log[1]["dead_fraction"] == 0.0  # 128 samples: nobody is dead yet
    assert log[2]["dead_fraction"] > 0.5  # 192 samples without firing
    assert {"step", "samples", "loss", "fvu", "l0", "dead_fraction", "lr"} <= set(log[0])
    assert log[2]["samples"] == 192


def test_input_scale_is_folded_into_saved_weights(tmp_path, sparse_X):
    """Training on 1000*X gives the same SAE as on X, scaled; the saved one takes raw inputs."""
    X, _ = sparse_X
    cfg = small_cfg(steps=30)
    small = train_sae(X, cfg, progress=False)
    big = train_sae(X * 1000, cfg, out_dir=tmp_path, progress=False)
    assert big.metrics["input_scale"] == pytest.approx(small.metrics["input_scale"] / 1000, rel=1e-5)
    assert big.metrics["fvu"] == pytest.approx(small.metrics["fvu"], rel=1e-3)
    assert torch.allclose(big.sae.W_dec, small.sae.W_dec, atol=1e-4)
    assert torch.allclose(big.sae.b_dec, small.sae.b_dec * 1000, rtol=1e-3, atol=1e-2)
    loaded = SparseAutoencoder.load(tmp_path)
    rows = np.random.default_rng([0, 7]).permutation(len(X))[:300]  # the held-out split
    fvu_raw = loaded(torch.as_tensor(X[np.sort(rows)] * 1000)).fvu.item()
    assert fvu_raw == pytest.approx(big.metrics["fvu"], rel=1e-3)
    assert big.metrics["fvu"] < 0.6


def test_outputs_and_validation_metrics(tmp_path, sparse_X):
    import pyarrow.parquet as pq

    X, _ = sparse_X
    result = train_sae(X, small_cfg(steps=10, val_fraction=0.2), out_dir=tmp_path, progress=False)
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".saescope-"))
    assert files == ["cfg.json", "latent_stats.parquet", "metrics.json", "sae.safetensors",
                     "train_log.jsonl"]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert {"fvu", "l0", "dead_fraction", "steps", "samples", "seconds"} <= set(m)
    assert m["split"] == "validation" and m["n_samples"] == 600 and m["l0"] == 3
    stats = pq.read_table(tmp_path / "latent_stats.parquet")
    assert stats.column_names == ["latent", "frequency", "mean_activation"]
    assert stats.num_rows == 64
    freq = stats["frequency"].to_numpy()
    assert freq.sum() == pytest.approx(3.0)  # k=3 latents per row
    assert m["dead_fraction"] == pytest.approx((freq == 0).mean())
    assert result.metrics["fvu"] == m["fvu"]


def test_given_validation_data_and_stream_source(sparse_X):
    X, _ = sparse_X
    batches = [X[i:i + 100] for i in range(0, 2000, 100)]
    r = train_sae(batches, small_cfg(steps=8), val_data=X[2000:], progress=False)
    assert r.metrics["split"] == "validation" and r.metrics["n_samples"] == 1000
    r2 = train_sae(lambda: iter(batches), small_cfg(steps=8), progress=False)
    assert r2.metrics["split"] == "train"
    with pytest.raises(InputError, match="columns"):
        train_sae(X, small_cfg(steps=2), val_data=X[:10, :5], progress=False)
    bad = X[:200].copy()
    bad[[5, 150], 0] = np.nan
    with pytest.raises(InputError, match="training data: 2 rows contain NaN or Inf \\(first at row 5"):
        train_sae(bad, small_cfg(steps=2), progress=False)


def test_stream_sample_is_uniform_not_the_head():
    """`StreamSource.sample` draws from the whole stream (the same rows as an array source of
    the same data and seed), in one pass, in chunks of bounded size."""
    from saescope.sae.sources import ArraySource, StreamSource

    X = np.repeat(np.arange(1000, dtype=np.float32)[:, None], 4, axis=1)
    stream = StreamSource([X[i:i + 70] for i in range(0, 1000, 70)], 64, seed=3)
    rows = stream.sample(100)[:, 0]
    assert len(rows) == 100 and len(set(rows)) == 100
    assert rows.max() > 800 and rows.min() < 200  # spread over the stream, not rows 0..99
    assert np.array_equal(rows, ArraySource(X, 64, seed=3).sample(100)[:, 0])
    chunks = list(stream.sample_chunks(100, chunk=30))
    assert np.array_equal(np.concatenate(chunks)[:, 0], rows) and len(chunks) > 1
    assert np.array_equal(stream.sample(5000)[:, 0], X[:, 0])  # more than N: every row


def test_dead_count_uses_the_log_window_on_a_stream(sparse_X):
    """metrics.json's dead count is over as many training rows as the training log's window."""
    X, _ = sparse_X
    sae = SAEConfig(k=3, num_latents=64, options={"dead_samples": 640})
    r = train_sae([X[i:i + 100] for i in range(0, 2000, 100)], small_cfg(sae=sae, steps=8),
                  val_data=X[2000:], progress=False)
    assert r.metrics["dead_window"] == 640


def test_parquet_shards_stream(tmp_path, sparse_X):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saescope.sae.sources import parquet_batches

    X, _ = sparse_X
    for i, part in enumerate((X[:700], X[700:1000])):
        emb = pa.FixedSizeListArray.from_arrays(pa.array(part.reshape(-1)), 16)
        pq.write_table(pa.table({"embedding": emb}), tmp_path / f"part-{i}.parquet",
                       row_group_size=128)
    stream = parquet_batches(tmp_path)
    assert sum(len(b) for b in stream()) == 1000
    r = train_sae(stream, small_cfg(epochs=2, steps=None), val_data=X[1000:1500],
                  progress=False)
    assert r.metrics["steps"] == 2 * (1000 // 64) and r.metrics["samples"] == 2 * 15 * 64


def test_reward_l0_falls_as_lambda_rises(sparse_X):
    X, _ = sparse_X
    out = {}
    for lam in (0.003, 0.1, 0.5):
        cfg = small_cfg(sae=SAEConfig(arch="reward", k=6, num_latents=64,
                                      options={"reward_lambda": lam}),
                        steps=150, lr=1e-2, batch_size=128, log_every=50)
        out[lam] = train_sae(X, cfg, progress=False).metrics
    l0 = [out[lam]["l0"] for lam in (0.003, 0.1, 0.5)]
    assert l0[0] > l0[1] > l0[2], l0
    assert all(out[lam]["fvu"] < 0.9 for lam in out), out
    assert out[0.003]["fvu"] < 0.5


def test_relu_l1_makes_codes_sparse(sparse_X):
    X, _ = sparse_X
    l0 = []
    for coef in (0.0, 1.0):
        cfg = small_cfg(sae=SAEConfig(arch="relu", k=1, num_latents=64,
                                      options={"l1_coef": coef}), steps=100, lr=1e-2)
        l0.append(train_sae(X, cfg, progress=False).metrics["l0"])
    assert l0[1] < 0.5 * l0[0], l0


def test_lr_schedule():
    assert lr_factor(0, 100, 10, 0.2) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, 0.2) == pytest.approx(1.0)
    assert lr_factor(50, 100, 10, 0.2) == pytest.approx(1.0)
    assert lr_factor(80, 100, 10, 0.2) == pytest.approx(1.0)
    assert lr_factor(90, 100, 10, 0.2) == pytest.approx(0.5)
    assert lr_factor(99, 100, 10, 0.2) == pytest.approx(0.05)


def test_config_round_trip_and_files(tmp_path):
    cfg = TrainConfig(sae=SAEConfig(arch="relu", k=4, options={"l1_coef": 0.7}), lr=1e-3)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    (tmp_path / "c.yaml").write_text(
        "sae:\n  arch: topk\n  k: 16\n  multi_topk: true\nbatch_size: 256\nepochs: 3\n")
    loaded = TrainConfig.load(tmp_path / "c.yaml")
    assert loaded.sae.k == 16 and loaded.sae.options["multi_topk"] is True
    assert loaded.batch_size == 256 and loaded.epochs == 3
    (tmp_path / "c.json").write_text(json.dumps({"k": 8, "lr": 0.01}))  # flat form
    assert TrainConfig.load(tmp_path / "c.json").sae.k == 8
    (tmp_path / "bad.yaml").write_text("sae:\n  arch: topk\n  l1_coef: 1\n")
    with pytest.raises(ConfigError, match="bad.yaml.*l1_coef"):
        TrainConfig.load(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="k \\(40\\) is larger than the number of latents \\(32\\)"):
        train_sae(np.ones((10, 4), np.float32), TrainConfig(sae=SAEConfig(k=40, num_latents=32)),
                  progress=False)


def test_tensorboard_logging(tmp_path, gaussian_X):
    pytest.importorskip("tensorboard")
    train_sae(gaussian_X, small_cfg(steps=3, tensorboard=str(tmp_path / "tb")), progress=False)
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100


def test_wandb_missing_is_a_config_error(gaussian_X):
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="wandb"):
            train_sae(gaussian_X, small_cfg(steps=1, wandb_project="p"), progress=False)
    else:
        pytest.skip("wandb is installed")


def test_early_stopping_keeps_the_best_weights_and_resumes_exactly(tmp_path, sparse_X):
    X, _ = sparse_X
    X = X[:1500]
    cfg = TrainConfig(sae=SAEConfig(k=3, num_latents=48), batch_size=64, eval_every=5,
                      patience=2, min_delta=0.05, checkpoint_every=5, log_every=1, device="cpu")
    full = train_sae(X, cfg, out_dir=tmp_path / "full", progress=False)
    m = full.metrics
    assert m["stop_reason"] == "early_stopping" and m["steps"] < 1000 * (1350 // 64)
    assert m["best_step"] <= m["steps"]
    # The saved SAE is the best validation pass (all validation rows are evaluated).
    assert m["fvu"] == pytest.approx(m["best_val_fvu"], rel=1e-4)
    log = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["lr"] < log[len(log) // 3]["lr"]  # the final decay ran
    assert min(x["val_fvu"] for x in log if "val_fvu" in x) == pytest.approx(m["best_val_fvu"])

    def stop(step, line):
        if step == m["steps"] - 7:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_sae(X, cfg, out_dir=tmp_path / "cut", progress=False, callback=stop)
    resumed = train_sae(X, cfg, out_dir=tmp_path / "cut", resume=True, progress=False)
    assert resumed.metrics["steps"] == m["steps"] and resumed.metrics["best_step"] == m["best_step"]
    for name, t in full.sae.state_dict().items():
        assert torch.allclose(t, resumed.sae.state_dict()[name], atol=1e-6, rtol=1e-5), name


def test_batch_size_and_budget_follow_the_data_size():
    from saescope.sae.budget import auto_batch_size, plan_run

    assert [auto_batch_size(n) for n in (300, 1_500, 12_640, 27_000, 10_000_000)] == \
        [64, 64, 128, 256, 1024]
    big = plan_run(TrainConfig(), 10_000_000, 10_000_000 // 1024, 1024, True)
    assert big.early_stopping and big.max_steps == 100_000_000 // 1024  # budget in samples
    assert big.dead_window == 10_000_000 and big.eval_every == 977  # every ~1M samples
    small = plan_run(TrainConfig(), 1_350, 21, 64, True)
    assert small.max_steps == 1000 * 21 and small.eval_every == 21  # budget in epochs
    fixed = plan_run(TrainConfig(epochs=3), 1_350, 21, 64, True)
    assert not fixed.early_stopping and fixed.max_steps == 63


def test_one_device_rule_for_every_stage():
    from saescope.data.models import resolve_device as data_resolve
    from saescope.device import resolve_device

    assert data_resolve is resolve_device  # one resolver, re-exported by the data layer
    assert resolve_device("cpu") == "cpu"
    assert TrainConfig(device="cuda:1").device == "cuda:1"  # cuda:N is a valid name everywhere
    for bad in ("gpu", "cuda:x"):
        with pytest.raises(ConfigError, match="cuda:N"):
            TrainConfig(device=bad)
        with pytest.raises(ConfigError, match="cuda:N"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda:0")


def test_overfitting_warning_names_both_fvus():
    from saescope.sae.train import overfit_warning

    msg = overfit_warning({"split": "validation", "fvu": 0.325, "train_fvu": 0.195})
    assert "0.325" in msg and "0.195" in msg and "overfitting" in msg
    assert overfit_warning({"split": "validation", "fvu": 0.30, "train_fvu": 0.28}) is None
    assert overfit_warning({"split": "train", "fvu": 0.3, "train_fvu": 0.1}) is None


def test_progress_shows_epochs_and_patience_under_early_stopping(sparse_X):
    """The bar has no step total under early stopping (the budget is rarely reached); it shows
    the epoch, training and validation FVU and the patience used."""
    from saescope.sae.train import Trainer

    X, _ = sparse_X
    cfg = TrainConfig(sae=SAEConfig(k=3, num_latents=64), batch_size=64, device="cpu",
                      max_epochs=2, log_every=5)
    t = Trainer(X[:1000], cfg, val_data=X[1000:1200], progress=False)
    t.fit()
    assert t.bar.total is None
    fields = t._progress_fields({"fvu": 0.5, "l0": 3.0})
    assert {"epoch", "fvu", "val_fvu", "l0", "patience"} <= set(fields)
    fixed = Trainer(X[:1000], cfg.replace(steps=10), val_data=X[1000:1200], progress=False)
    fixed.fit()
    assert fixed.bar.total == 10 and "patience" not in fixed._progress_fields({"fvu": 0.5, "l0": 3.0})


def test_input_standardize_folds_the_statistics_and_reports_standardised_fvu(tmp_path, sparse_X):
    """input_standardize: the saved SAE takes raw rows (statistics folded into the weights and
    written to input_stats.safetensors), and metrics.json's FVU is on (x - mean) / std."""
    from safetensors.numpy import load_file

    X, _ = sparse_X
    X = X.copy()
    X[:, 0] = X[:, 0] * 300 + 50  # one massive dimension (Sun et al. 2024)
    r = train_sae(X[:2000], small_cfg(steps=40, input_standardize=True), val_data=X[2000:],
                  out_dir=tmp_path / "o", progress=False)
    stats = load_file(str(tmp_path / "o" / "input_stats.safetensors"))
    assert np.allclose(stats["mean"], X[:2000].mean(0), rtol=1e-4, atol=1e-3)
    assert np.allclose(stats["std"], X[:2000].std(0), rtol=1e-4)
    sae = SparseAutoencoder.load(tmp_path / "o")
    x = torch.as_tensor(X[2000:])
    out = sae.encode(x)
    x_hat = sae.decode(out.top_acts, out.top_indices)
    z, z_hat = ((t - torch.as_tensor(stats["mean"])) / torch.as_tensor(stats["std"])
                for t in (x, x_hat))
    fvu = float((z - z_hat).pow(2).sum() / (z - z.mean(0)).pow(2).sum())
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["input_standardize"] and m["fvu"] == pytest.approx(fvu, rel=1e-4)
    assert m["fvu"] < 0.9  # the SAE learned the other 15 dimensions, not only the massive one
    assert r.metrics["fvu"] == pytest.approx(m["fvu"])


@pytest.mark.parametrize("arch", ["topk", "relu", "jumprelu"])
def test_encoder_starts_as_a_scaled_copy_of_the_decoder(sparse_X, arch):
    """init_encoder_scale s: W_enc = s W_dec^T before the first step (1, the tied start of
    Gao et al., by default; 0.01 is SAELens's effective start, docs/results/sae.md)."""
    from saescope.sae.train import Trainer

    X, _ = sparse_X
    sae = Trainer(X, small_cfg(sae=SAEConfig(arch=arch, k=3, num_latents=64))).sae
    assert torch.allclose(sae.encoder.weight, sae.W_dec, atol=1e-7)
    small = Trainer(X, small_cfg(sae=SAEConfig(arch=arch, k=3, num_latents=64,
                                               init_encoder_scale=0.01))).sae
    assert torch.allclose(small.encoder.weight, 0.01 * small.W_dec, atol=1e-9)
    with pytest.raises(ConfigError, match="init_encoder_scale"):
        SAEConfig(init_encoder_scale=0.0)
