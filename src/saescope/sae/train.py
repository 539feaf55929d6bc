"""`train_sae`: train an SAE on any source of float vectors, resumably, on one or many processes.

One step: scale the batch, the architecture's loss, backward, (data-parallel: sum gradients
over processes), remove the decoder-gradient component parallel to each decoder row, clip,
Adam with warm-up then linear decay, renormalise decoder rows, update dead-latent counters
(in samples). Checkpoints hold weights, Adam state, step, RNG state and counters, so a
resumed run matches an uninterrupted one.

Data parallel: launch with `torchrun --nproc_per_node N` (any command that calls `train_sae`,
e.g. `torchrun --nproc_per_node 2 -m saescope.cli.main train X.npy --out DIR`). Every process
builds the same global batch of `batch_size` rows and keeps its slice; losses are sums over the
slice divided by global normalisers and gradients are summed over processes, so the result
equals one process at the same global batch up to floating-point summation order (topk, relu,
reward). Caveats: batchtopk selects the top k*B per process slice, and the reward baseline is
the leave-one-out mean over the slice.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from saescope.errors import ConfigError, InputError
from saescope.io import (
    atomic_dir,
    atomic_path,
    check_output_dir,
    read_jsonl,
    recover_dir,
    remove_leftovers,
    write_json,
)
from saescope.sae.archs.base import StepContext, StepOutput
from saescope.sae.config import TrainConfig
from saescope.sae.metrics import MetricAccumulator, evaluate
from saescope.sae.model import SparseAutoencoder
from saescope.sae.sources import (
    ArraySource,
    StreamSource,
    as_numpy,
    check_finite_rows,
    make_source,
)
from saescope.sae.tracking import Tracker

CHECKPOINT = "checkpoint"
DEFAULT_DEAD_SAMPLES = 100_000


@dataclass
class TrainResult:
    """What `train_sae` returns."""

    sae: SparseAutoencoder
    """The trained SAE (raw-input weights, on the training device, requires_grad False)."""
    metrics: dict[str, Any]
    """Validation metrics: fvu, l0, dead_fraction, dense_fraction, explained_variance, cosine,
    steps, samples, seconds, split (validation, or train when no held-out data existed)."""
    latent_stats: dict[str, np.ndarray]
    """Per-latent `frequency` and `mean_activation` on the evaluated split."""
    out_dir: Path | None
    """Where the outputs were written, if anywhere."""


# -- distributed helpers --------------------------------------------------------------------
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    owns_group: bool = False
    """True when train_sae created the process group (and so destroys it)."""

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t)
        return t

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t)
            t.div_(self.world)
        return t

    def all_reduce_max(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def _init_dist(device: torch.device) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), device
    import torch.distributed as dist

    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return _Dist(rank, dist.get_world_size(), owns), device


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; cuda without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available")
    return torch.device(name)


# -- initialisation -------------------------------------------------------------------------
def geometric_median(x: torch.Tensor, iters: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """Point minimising the sum of Euclidean distances to the rows (Weiszfeld's algorithm)."""
    x = x.double()
    y = x.mean(0)
    for _ in range(iters):
        w = 1 / (x - y).norm(dim=-1).clamp_min(1e-8)
        y_new = (w[:, None] * x).sum(0) / w.sum()
        if (y_new - y).norm() <= tol * max(float(y.norm()), 1.0):
            y = y_new
            break
        y = y_new
    return y.float()


def input_scale(sample: np.ndarray) -> float:
    """s such that the mean norm of s * x is sqrt(d_in) (Gao et al. 2024 normalise similarly)."""
    norms = np.linalg.norm(sample.astype(np.float64), axis=1)
    mean = float(norms.mean())
    if not mean > 0:
        raise InputError("training data: all sampled rows are zero vectors")
    return math.sqrt(sample.shape[1]) / mean


def default_lr(num_latents: int) -> float:
    """2e-4 / sqrt(M / 2**14): the learning-rate scaling of Gao et al. 2024 (sparsify's default)."""
    return 2e-4 / math.sqrt(num_latents / 2**14)


def lr_factor(step: int, total: int, warmup: int, decay_fraction: float) -> float:
    """Linear warm-up over `warmup` steps, then linear decay to 0 over the last fraction."""
    f = min(1.0, (step + 1) / max(warmup, 1))
    decay_len = int(total * decay_fraction)
    if decay_len > 0 and step >= total - decay_len:
        f *= (total - step) / decay_len
    return f


# -- checkpoints ------------------------------------------------------------------------------
def _save_checkpoint(folder: Path, sae: SparseAutoencoder, opt: torch.optim.Optimizer,
                     dead: torch.Tensor, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        st = opt.state.get(p, {})
        for key, value in st.items():
            tensors[f"optim.{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["dead_counter"] = dead.cpu()
    tensors["torch_rng"] = torch.get_rng_state()
    if torch.cuda.is_available() and sae.device.type == "cuda":
        tensors["cuda_rng"] = torch.cuda.get_rng_state(sae.device)
    with atomic_dir(folder, overwrite=True) as tmp:
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps(state, indent=2))


def _load_checkpoint(folder: Path, sae: SparseAutoencoder, opt: torch.optim.Optimizer,
                     dead: torch.Tensor) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        state = json.loads((folder / "state.json").read_text())
        tensors = load_file(str(folder / "state.safetensors"))
    except Exception as exc:
        raise InputError(f"{folder}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
    sae.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        st = {k.split(".", 2)[2]: v.to(p.device) for k, v in tensors.items()
              if k.startswith(f"optim.{i}.")}
        if "step" in st:
            st["step"] = st["step"].cpu()  # Adam keeps `step` on the CPU unless fused/capturable
        if st:
            opt.state[p] = st
    dead.copy_(tensors["dead_counter"].to(dead.device))
    torch.set_rng_state(tensors["torch_rng"])
    if "cuda_rng" in tensors and sae.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["cuda_rng"], sae.device)
    return state


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    keep = [row for row in read_jsonl(path) if row["step"] <= step]  # drops a torn last line
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in keep))


# -- one step ---------------------------------------------------------------------------------
class Stepper:
    """One full training step: loss, backward, gradient all-reduce, decoder-gradient projection,
    clipping, Adam, decoder renormalisation, dead-latent counters (in samples).

    `train_sae` calls it once per batch; `saescope.sae.bench.make_step` times it alone.
    """

    def __init__(self, sae: SparseAutoencoder, opt: torch.optim.Optimizer, dist: _Dist | None = None,
                 *, global_batch: int, grad_clip: float = 1.0, autocast: bool = False,
                 fast: bool = False, seed: int = 0) -> None:
        self.sae, self.opt, self.dist = sae, opt, dist or _Dist()
        self.global_batch = global_batch
        self.grad_clip = grad_clip
        self.autocast = autocast
        self.fast = fast
        self.params = list(sae.parameters())
        self.dead = torch.zeros(sae.num_latents, dtype=torch.long, device=sae.device)
        """Training samples since each latent last fired."""
        self.dead_samples = getattr(sae.arch.opts, "dead_samples", DEFAULT_DEAD_SAMPLES)
        self.seed = seed
        self.generator = torch.Generator(device=sae.device)

    def total_variance(self, x: torch.Tensor) -> torch.Tensor:
        """sum ||x - mean(x)||^2 over the global batch, from sums (the same at any world size)."""
        stats = torch.cat([x.double().sum(0), x.double().pow(2).sum().reshape(1)])
        self.dist.all_reduce_sum(stats)
        n = self.global_batch
        return (stats[-1] - stats[:-1].pow(2).sum() / n).float().clamp_min(1e-12)

    def __call__(self, x: torch.Tensor, step: int, total: int, lr: float) -> StepOutput:
        sae, dist = self.sae, self.dist
        ctx = StepContext(step=step, total_steps=total, total_variance=self.total_variance(x),
                          global_batch=self.global_batch,
                          dead_mask=(self.dead >= self.dead_samples) if step else None,
                          fast=self.fast,
                          all_reduce_mean=dist.all_reduce_mean if dist.world > 1 else None,
                          generator=self.generator)
        # Per-step seeding: a resumed or data-parallel run draws the same numbers.
        self.generator.manual_seed((self.seed * 1_000_003 + step) * 1009 + dist.rank)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            res = sae.arch.training_step(sae, x, ctx)
        res.loss.backward()
        if dist.world > 1:
            for p in self.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce_sum(p.grad)
        if sae.cfg.normalize_decoder:
            sae.remove_gradient_parallel_to_decoder_directions()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        if sae.cfg.normalize_decoder:
            sae.set_decoder_norm_to_unit_norm()
        sae.arch.after_step(sae, ctx)
        fired = dist.all_reduce_max(res.fired.to(torch.uint8)).bool()
        self.dead += self.global_batch
        self.dead[fired] = 0
        return res


# -- the trainer ------------------------------------------------------------------------------
def train_sae(
    data: Any,
    cfg: TrainConfig | None = None,
    val_data: Any = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train an SAE.

    data: a [N, D] numpy array / memmap / tensor, a vector file path (see `read_vectors`), or
    an iterable (or a callable returning an iterator) of float [B, D] batches (Parquet shard
    readers, tensors...). val_data: [N_val, D] held-out vectors; if None and `data` is an
    array, `cfg.val_fraction` of it is held out. out_dir: folder for the outputs and
    checkpoints (refused if non-empty unless `resume` or `overwrite`). callback(step, log):
    called after each step with the step count and, on logged steps, the log line ({} else).
    """
    cfg = cfg or TrainConfig()
    cfg = copy.deepcopy(cfg)
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    dist, device = _init_dist(device)
    source, val_data = _sources(data, val_data, cfg)
    d_in = source.d
    if source.batch_size % dist.world:
        raise ConfigError(
            f"batch_size {source.batch_size} is not divisible by the {dist.world} processes"
        )
    local_b = source.batch_size // dist.world
    spe = source.steps_per_epoch
    total = cfg.steps if cfg.steps is not None else cfg.epochs * spe

    # Model and initialisation.
    sae_cfg = copy.deepcopy(cfg.sae)
    sae_cfg.d_in = d_in
    sae_cfg.check_sizes()
    out = Path(out_dir) if out_dir is not None else None
    ckpt_dir = out / CHECKPOINT if out is not None else None
    if out is not None:
        resume = _prepare_out_dir(out, resume, overwrite, dist)

    gen = torch.Generator().manual_seed(cfg.seed)
    sae = SparseAutoencoder(sae_cfg, device=device, generator=gen)
    scaling = cfg.normalize_input and sae.arch.supports_input_scaling()
    sample = source.sample(cfg.init_sample)
    scale = input_scale(sample) if scaling else 1.0
    xs = torch.as_tensor(sample * scale, device=device)
    with torch.no_grad():
        if sae_cfg.init_b_dec == "geometric_median":
            sae.b_dec.copy_(geometric_median(xs))
        elif sae_cfg.init_b_dec == "mean":
            sae.b_dec.copy_(xs.mean(0))
        sae.arch.init_from_data(sae, xs)
    del xs
    for t in sae.state_dict().values():  # identical start on every process
        if dist.world > 1:
            torch.distributed.broadcast(t, 0)

    lr = cfg.lr if cfg.lr is not None else default_lr(sae.num_latents)
    warmup = cfg.lr_warmup_steps if cfg.lr_warmup_steps is not None else min(1000, max(1, total // 20))
    fused = device.type == "cuda"
    opt = torch.optim.Adam(sae.parameters(), lr=lr, fused=fused)
    fast = cfg.fast_topk == "on" or (cfg.fast_topk == "auto" and device.type == "cuda")
    stepper = Stepper(sae, opt, dist, global_batch=source.batch_size, grad_clip=cfg.grad_clip,
                      autocast=cfg.autocast and device.type == "cuda", fast=fast,
                      seed=cfg.seed)
    dead, dead_samples, n_glob = stepper.dead, stepper.dead_samples, source.batch_size
    torch.manual_seed(cfg.seed + 1000 * dist.rank)

    start_step, samples, elapsed_before = 0, 0, 0.0
    if resume:
        state = _load_checkpoint(ckpt_dir, sae, opt, dead)
        saved_cfg, now_cfg = state["cfg"], cfg.to_dict()
        for key in ("batch_size", "seed", "normalize_input"):
            if saved_cfg.get(key) != now_cfg.get(key):
                raise ConfigError(f"--resume: {key} differs from the checkpoint "
                                  f"({saved_cfg.get(key)!r} vs {now_cfg.get(key)!r})")
        if {**saved_cfg["sae"], "d_in": 0} != {**now_cfg["sae"], "d_in": 0}:
            raise ConfigError("--resume: the SAE config differs from the checkpoint's")
        if state["d_in"] != d_in:
            raise InputError(f"--resume: data has {d_in} columns, the checkpoint {state['d_in']}")
        start_step, samples = state["step"], state["samples"]
        scale, elapsed_before = state["scale"], state["seconds"]
    log_path = out / "train_log.jsonl" if out is not None else None
    if log_path is not None and dist.main:
        if resume:
            _truncate_log(log_path, start_step)
        elif log_path.exists():
            log_path.unlink()

    tracker = Tracker(cfg.tensorboard, cfg.wandb_project, cfg.to_dict(), start_step) \
        if dist.main else Tracker()
    bar = tqdm(total=total, initial=start_step, disable=not progress or not dist.main,
               desc=f"train {sae_cfg.arch}", unit="step", dynamic_ncols=True)
    step = start_step
    log_file = open(log_path, "a") if log_path is not None and dist.main else None  # noqa: SIM115
    try:
        while step < total:
            epoch, skip = divmod(step, spe)
            for batch in source.epoch(epoch, skip):
                if step >= total:
                    break
                x_np = batch[dist.rank * local_b:(dist.rank + 1) * local_b]
                if not x_np.flags.writeable:  # Arrow-backed batches are read-only
                    x_np = x_np.copy()
                x = torch.as_tensor(x_np, device=device) * scale
                cur_lr = lr * lr_factor(step, total, warmup, cfg.lr_decay_fraction)
                res = stepper(x, step, total, cur_lr)
                step += 1
                samples += n_glob
                bar.update(1)
                line: dict[str, Any] = {}
                if step % cfg.log_every == 0 or step == total:
                    extra_keys = sorted(res.extras)
                    vec = torch.stack([res.loss.detach().float(), res.fvu.float(),
                                       res.l0_sum.float()] +
                                      [res.extras[k].float() for k in extra_keys])
                    dist.all_reduce_sum(vec)
                    vals = vec.tolist()
                    line = {"step": step, "samples": samples, "loss": vals[0], "fvu": vals[1],
                            "l0": vals[2] / n_glob,
                            "dead_fraction": float((dead >= dead_samples).float().mean()),
                            "lr": cur_lr}
                    line.update({k: v for k, v in zip(extra_keys, vals[3:], strict=True)})
                    if log_file is not None:
                        log_file.write(json.dumps(line) + "\n")
                        log_file.flush()
                    tracker.log(step, line)
                    bar.set_postfix(fvu=f"{line['fvu']:.4f}", l0=f"{line['l0']:.1f}")
                if (ckpt_dir is not None and cfg.checkpoint_every
                        and step % cfg.checkpoint_every == 0 and step < total and dist.main):
                    _save_checkpoint(ckpt_dir, sae, opt, dead, {
                        "step": step, "samples": samples, "scale": scale, "d_in": d_in,
                        "seconds": elapsed_before + time.perf_counter() - t_start,
                        "cfg": cfg.to_dict(),
                    })
                if callback is not None:
                    callback(step, line)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()

    # Fold the input scale into the weights: the saved SAE takes raw inputs.
    final = copy.deepcopy(sae)
    if scale != 1.0:
        final.arch.fold_input_scale(final, scale)
    final.eval()
    final.requires_grad_(False)
    seconds = elapsed_before + time.perf_counter() - t_start
    if val_data is not None and len(val_data):
        acc, split = evaluate(final, val_data, cfg.eval_batch_size), "validation"
    else:
        acc, split = _evaluate_stream(final, source, cfg.eval_batch_size), "train"
    metrics: dict[str, Any] = acc.result()
    metrics.update({"steps": step, "samples": samples, "seconds": seconds, "split": split,
                    "arch": sae_cfg.arch, "k": sae_cfg.k, "num_latents": final.num_latents,
                    "d_in": d_in, "input_scale": scale})
    stats = {"frequency": acc.frequencies(), "mean_activation": acc.mean_activations()}
    if out is not None and dist.main:
        _write_outputs(out, final, metrics, stats)
        if ckpt_dir is not None and ckpt_dir.exists():
            shutil.rmtree(ckpt_dir)
        if ckpt_dir is not None:
            remove_leftovers(ckpt_dir)  # weights and optimiser state of killed checkpoint writes
    tracker.summary(metrics)
    tracker.close()
    dist.barrier()
    if dist.owns_group:
        torch.distributed.destroy_process_group()
    return TrainResult(final, metrics, stats, out)


def _sources(data: Any, val_data: Any, cfg: TrainConfig
             ) -> tuple[ArraySource | StreamSource, np.ndarray | None]:
    """The training source and the validation matrix (held out of an array when not given)."""
    if isinstance(data, (str, Path, np.ndarray, torch.Tensor)):
        X = data
        if isinstance(data, (str, Path)):
            from saescope.data.vectors import read_vectors

            X = read_vectors(data).X
        X = as_numpy(X, "training data") if isinstance(X, torch.Tensor) else X
        if len(X.shape) != 2:
            raise InputError(f"training data: expected a 2-D array [N, D], got shape {X.shape}")
        if len(X) == 0:
            raise InputError("training data: no rows")
        check_finite_rows(X, "training data")
        train_rows = None
        if val_data is None and cfg.val_fraction > 0 and len(X) >= 2:
            perm = np.random.default_rng([cfg.seed, 7]).permutation(len(X))
            n_val = min(max(1, int(round(len(X) * cfg.val_fraction))), len(X) - 1)
            val_rows, train_rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
            val_data = np.asarray(X[val_rows], dtype=np.float32)
        source: ArraySource | StreamSource = ArraySource(X, cfg.batch_size, cfg.seed,
                                                         rows=train_rows)
    else:
        source = make_source(data, cfg.batch_size, cfg.seed)
    if val_data is not None:
        val_data = as_numpy(val_data, "validation data")
        check_finite_rows(val_data, "validation data")
        if val_data.shape[1] != source.d:
            raise InputError(
                f"validation data has {val_data.shape[1]} columns, training data {source.d}")
    return source, val_data


def _prepare_out_dir(out: Path, resume: bool, overwrite: bool, dist: _Dist) -> bool:
    """Refuse or clear an existing folder; whether there is a checkpoint to resume from."""
    if dist.main:
        recover_dir(out / CHECKPOINT)  # a kill inside a checkpoint swap (where it is two renames)
    has_ckpt = (out / CHECKPOINT / "state.json").is_file()
    if dist.main:
        if resume and not has_ckpt and out.exists() and any(out.iterdir()) and not overwrite:
            if not _killed_before_first_checkpoint(out):
                raise InputError(f"{out}: no checkpoint to resume from ({CHECKPOINT}/ missing)")
            shutil.rmtree(out)  # a run killed before its first checkpoint: start it again
        if not resume and out.exists() and any(out.iterdir()):
            check_output_dir(out, overwrite)
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    return resume and (out / CHECKPOINT / "state.json").is_file()  # as rank 0 left it


def _killed_before_first_checkpoint(out: Path) -> bool:
    """`out` holds only what an unfinished run writes before a checkpoint (no cfg.json)."""
    own = {"train_log.jsonl", "latent_stats.parquet", "metrics.json", "sae.safetensors"}
    kept = f".{CHECKPOINT}.old"  # a checkpoint kept by a cut swap: there was one to resume
    return all(p.name in own or (p.name.startswith(".") and p.name != kept) for p in out.iterdir())


def _evaluate_stream(sae: SparseAutoencoder, source: ArraySource | StreamSource,
                     batch_size: int, limit: int = 65536) -> MetricAccumulator:
    """Metrics on (up to `limit` rows of) the training data when nothing was held out."""
    return evaluate(sae, source.sample(limit), batch_size)


def _write_outputs(out: Path, sae: SparseAutoencoder, metrics: dict[str, Any],
                   stats: dict[str, np.ndarray]) -> None:
    """latent_stats.parquet, metrics.json, then the SAE (cfg.json last: the completion mark)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "latent": pa.array(np.arange(sae.num_latents, dtype=np.int32)),
        "frequency": pa.array(stats["frequency"].astype(np.float64)),
        "mean_activation": pa.array(stats["mean_activation"].astype(np.float64)),
    })
    with atomic_path(out / "latent_stats.parquet") as tmp:
        pq.write_table(table, tmp)
    write_json(out / "metrics.json", metrics)
    sae.save(out)
