"""`train_sae` and its `Trainer`: train an SAE on any source of float vectors, resumably.

One step (`Stepper`): scale the batch, the architecture's loss, backward, (data-parallel: sum
gradients over processes), remove the decoder-gradient component parallel to each decoder
row, clip, Adam, renormalise decoder rows, update dead-latent counters (in samples).

How long (`saescope.sae.budget`): with `steps` or `epochs` the run is fixed (warm-up, constant,
linear decay over the last `lr_decay_fraction`); otherwise the validation FVU is measured every
`eval_every` steps and, when it has not improved by `min_delta` (relative) for `patience`
passes or the budget (`max_samples`, `max_epochs`) is nearly spent, the learning rate decays
linearly to 0 over `lr_decay_fraction` of the steps done so far (warmup-stable-decay, Hu et al.
2024, "MiniCPM", arXiv:2404.06395) and the run stops; the weights of the best validation pass
are kept. Checkpoints hold weights, Adam state, step, RNG state, counters and the
early-stopping state, so a resumed run matches an uninterrupted one.

"Dead" has one meaning everywhere: a latent that fired on none of `dead_window` training
samples (one epoch of training rows, at most 10M samples; an architecture's `dead_samples`
option overrides it). The training log counts it with per-latent counters over the last window
of training steps; AuxK acts on latents silent for `auxk_window` samples (at most the dead
window, at most a tenth of the run: `saescope.sae.budget`); metrics.json (`dead_fraction`, `dead_window`),
latent_stats.parquet and the report count it with the saved encoder over a uniform sample of
that many training rows (all of them when the window is an epoch), streamed in chunks.

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
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from saescope.device import resolve_device as _resolve_device_name
from saescope.errors import ConfigError, InputError
from saescope.io import (
    OutputJob,
    atomic_path,
    open_output,
    read_jsonl,
    recover_dir,
    remove_leftovers,
    write_json,
)
from saescope.sae.archs.base import StepContext, StepOutput
from saescope.sae.budget import RunPlan, auto_batch_size, plan_run, short_run_warning
from saescope.sae.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from saescope.sae.config import TrainConfig
from saescope.sae.dist import Dist, init_dist
from saescope.sae.init import (
    fold_standardization,
    geometric_median,
    init_from_sample,
    input_moments,
    input_scale,
)
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

__all__ = ["CHECKPOINT", "Stepper", "TrainResult", "Trainer", "default_lr", "geometric_median",
           "input_scale", "lr_factor", "resolve_device", "train_sae"]

MAX_AUTO_STREAM_BATCH = 1024
"""Batch used to count a stream's rows before the data-sized batch is known."""


@dataclass
class TrainResult:
    """What `train_sae` returns."""

    sae: SparseAutoencoder
    """The trained SAE (raw-input weights, on the training device, requires_grad False)."""
    metrics: dict[str, Any]
    """fvu, l0, explained_variance, cosine, n_samples on the validation rows (the training rows
    when none were held out); dead_fraction, dense_fraction on `dead_window` training rows;
    steps, samples, seconds, best_step, stop_reason, batch_size, lr, ..."""
    latent_stats: dict[str, np.ndarray]
    """Per-latent `frequency` and `mean_activation` on the training rows of the dead count."""
    out_dir: Path | None
    """Where the outputs were written, if anywhere."""


def resolve_device(name: str) -> torch.device:
    """`saescope.device.resolve_device` as a torch.device."""
    return torch.device(_resolve_device_name(name))


LR_SCALE = 1.2e-3
"""Default learning rate at M = 2**14 latents."""
LR_MAX = 1e-2
"""Cap of the default: the 1/sqrt(M) law was fit on large dictionaries, and extrapolated to a
few dozen latents it gives rates at which Adam's first steps scramble the decoder."""


def default_lr(num_latents: int) -> float:
    """1.2e-3 / sqrt(M / 2**14): Gao et al. 2024's 1/sqrt(M) scaling (sparsify's default) at 6x
    its constant 2e-4.

    Their constant suits runs of many steps on LLM activations; embedding corpora give runs of
    hundreds to a few thousand steps, where it leaves the SAE far from converged. On an inner
    90/10 split of the MMLU training rows (never the rows the benchmark reports), 980 steps at
    batch 256, 3,072 latents, k 32: validation FVU 0.408 at 1x, 0.357 at 3x, 0.338 at 6x.
    At most LR_MAX (reached below about 240 latents).

    The rate does not follow the batch size: with AuxK on pre-activations (so that dead
    latents revive), lowering it with the batch lost validation FVU under early stopping and
    gained nothing on dead latents. Inner split of the demo's SAE training rows (8,058 train /
    895 validation of its 8,953; the demo's own validation rows never used), 1,536 latents,
    k 32, auto batch 64, early stopping: lr x (64/256)^p gave validation FVU 0.341 / 0.362 /
    0.375 and dead 0.13% / 0% / 0% for p = 0 / 0.5 / 1 (docs/results/sae.md).
    """
    return min(LR_MAX, LR_SCALE / math.sqrt(num_latents / 2**14))


def lr_factor(step: int, total: int, warmup: int, decay_fraction: float) -> float:
    """Fixed runs: linear warm-up over `warmup` steps, then linear decay to 0 over the last fraction."""
    f = min(1.0, (step + 1) / max(warmup, 1))
    decay_len = int(total * decay_fraction)
    if decay_len > 0 and step >= total - decay_len:
        f *= (total - step) / decay_len
    return f


@dataclass
class StopState:
    """Early stopping and the decay phase it triggers (saved in checkpoints)."""

    best_fvu: float = math.inf
    """Lowest validation FVU so far."""
    best_step: int = 0
    """Step of that validation pass (its weights are kept)."""
    ref_fvu: float = math.inf
    """Validation FVU of the last pass that counted as progress (by `min_delta`)."""
    stale_evals: int = 0
    """Validation passes since the last progress."""
    decay_start: int | None = None
    """Step the final decay began (None: not yet)."""
    decay_len: int = 0
    """Length of the final decay, in steps."""
    last_fvu: float | None = None
    """The latest validation FVU."""
    reason: str = "budget"
    """Why the run stopped: budget | early_stopping | fixed."""

    def record(self, step: int, fvu: float, min_delta: float) -> bool:
        """Take one validation pass into account; True when it is the best so far."""
        self.last_fvu = fvu
        if fvu < self.ref_fvu * (1 - min_delta):
            self.ref_fvu, self.stale_evals = fvu, 0
        else:
            self.stale_evals += 1
        if fvu < self.best_fvu:
            self.best_fvu, self.best_step = fvu, step
            return True
        return False

    def lr_factor(self, step: int, warmup: int) -> float:
        f = min(1.0, (step + 1) / max(warmup, 1))
        if self.decay_start is not None:
            f *= max(0.0, 1 - (step - self.decay_start) / max(self.decay_len, 1))
        return f


# -- one step ---------------------------------------------------------------------------------
class Stepper:
    """One full training step: loss, backward, gradient all-reduce, decoder-gradient projection,
    clipping, Adam, decoder renormalisation, dead-latent counters (in samples).

    `Trainer` calls it once per batch; `saescope.sae.bench.make_step` times it alone.
    """

    def __init__(self, sae: SparseAutoencoder, opt: torch.optim.Optimizer, dist: Dist | None = None,
                 *, global_batch: int, grad_clip: float = 1.0, autocast: bool = False,
                 fast: bool = False, seed: int = 0, dead_window: int = 10_000_000,
                 auxk_window: int = 0) -> None:
        self.sae, self.opt, self.dist = sae, opt, dist or Dist()
        self.global_batch = global_batch
        self.grad_clip = grad_clip
        self.autocast = autocast
        self.fast = fast
        self.params = list(sae.parameters())
        self.dead = torch.zeros(sae.num_latents, dtype=torch.long, device=sae.device)
        """Training samples since each latent last fired."""
        self.dead_samples = getattr(sae.arch.opts, "dead_samples", None) or dead_window
        """A latent is dead after this many samples without firing (the arch option wins)."""
        self.auxk_samples = getattr(sae.arch.opts, "dead_samples", None) or auxk_window or dead_window
        """AuxK acts on latents silent for this many samples (`RunPlan.auxk_window`)."""
        self.seed = seed
        self.generator = torch.Generator(device=sae.device)

    def total_variance(self, x: torch.Tensor) -> torch.Tensor:
        """sum ||x - mean(x)||^2 over the global batch, from sums (the same at any world size)."""
        stats = torch.cat([x.double().sum(0), x.double().pow(2).sum().reshape(1)])
        self.dist.all_reduce_sum(stats)
        n = self.global_batch
        return (stats[-1] - stats[:-1].pow(2).sum() / n).float().clamp_min(1e-12)

    def dead_fraction(self) -> float:
        return float((self.dead >= self.dead_samples).float().mean())

    def __call__(self, x: torch.Tensor, step: int, total: int, lr: float) -> StepOutput:
        sae, dist = self.sae, self.dist
        ctx = StepContext(step=step, total_steps=total, total_variance=self.total_variance(x),
                          global_batch=self.global_batch,
                          dead_mask=(self.dead >= self.auxk_samples) if step else None,
                          fast=self.fast,
                          all_reduce_mean=dist.all_reduce_mean if dist.world > 1 else None,
                          generator=self.generator, world_size=dist.world)
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
class Trainer:
    """Trains one SAE: built from the config and the data, run by `fit` (see the module doc).

    Shaped like SAELens's `SAETrainer`: `fit` loops over batches and calls `_train_step`,
    `_maybe_evaluate`, `_log_step`, `_maybe_checkpoint`; `_finish` folds the input scale into
    the weights, measures the saved encoder and writes the outputs.
    """

    def __init__(self, data: Any, cfg: TrainConfig | None = None, val_data: Any = None,
                 out_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
                 overwrite: bool = False,
                 callback: Callable[[int, dict[str, Any]], None] | None = None,
                 manifest: dict[str, Any] | None = None) -> None:
        self.cfg = cfg = copy.deepcopy(cfg or TrainConfig())
        self.t_start = time.perf_counter()
        self.dist, self.device = init_dist(resolve_device(cfg.device))
        self.source, self.val = _sources(data, val_data, cfg)
        if self.source.batch_size % self.dist.world:
            raise ConfigError(f"batch_size {self.source.batch_size} is not divisible by the "
                              f"{self.dist.world} processes")
        from saescope.sae.archs import get_arch

        self.plan: RunPlan = plan_run(cfg, self.source.n, self.source.steps_per_epoch,
                                      self.source.batch_size, self.val is not None and len(self.val) > 0,
                                      get_arch(cfg.sae.arch).early_stopping)
        self.progress, self.callback = progress, callback
        self.manifest = manifest  # written as manifest.json with the outputs (see `train_sae`)
        self.out = Path(out_dir) if out_dir is not None else None
        self.ckpt_dir = self.out / CHECKPOINT if self.out is not None else None
        self.job: OutputJob | None = None
        if self.out is not None:
            self.job, resume = _prepare_out_dir(self.out, resume, overwrite, self.dist)
        self.final_out = self.out
        if self.job is not None:  # rank 0 writes where the job says (beside the old output)
            self.out, self.ckpt_dir = self.job.work, self.job.work / CHECKPOINT
        try:
            self._init_state(resume)
        except BaseException:
            self._abort()
            raise

    def _init_state(self, resume: bool) -> None:
        cfg = self.cfg
        self._build_model()
        self.step, self.samples, self.seconds_before = 0, 0, 0.0
        self.stop = StopState(reason="budget" if self.plan.early_stopping else "fixed")
        self.best: dict[str, torch.Tensor] | None = None
        self.line: dict[str, Any] = {}
        if resume:
            self._resume()
        warning = short_run_warning(self.plan, cfg)
        if warning and self.dist.main and self.step == 0:
            warnings.warn(warning, UserWarning, stacklevel=4)

    # -- construction ----------------------------------------------------------------------
    def _build_model(self) -> None:
        cfg, dist = self.cfg, self.dist
        sae_cfg = copy.deepcopy(cfg.sae)
        sae_cfg.d_in = self.source.d
        sae_cfg.num_latents = sae_cfg.latents_for(self.source.d, self.source.n)
        sae_cfg.check_sizes()
        gen = torch.Generator().manual_seed(cfg.seed)
        self.sae = sae = SparseAutoencoder(sae_cfg, device=self.device, generator=gen)
        sample = self.source.sample(cfg.init_sample)
        self._set_input_transform(sample)
        init_from_sample(sae, self._prep(torch.as_tensor(sample, device=self.device)))
        for t in sae.state_dict().values():  # identical start on every process
            dist.broadcast(t)
        self.lr = cfg.lr if cfg.lr is not None else default_lr(sae.num_latents)
        self.opt = torch.optim.Adam(sae.parameters(), lr=self.lr, fused=self.device.type == "cuda")
        fast = cfg.fast_topk in ("on", "auto")
        self.stepper = Stepper(sae, self.opt, dist, global_batch=self.source.batch_size,
                               grad_clip=cfg.grad_clip, fast=fast, seed=cfg.seed,
                               autocast=cfg.autocast and self.device.type == "cuda",
                               dead_window=self.plan.dead_window, auxk_window=self.plan.auxk_window)
        torch.manual_seed(cfg.seed + 1000 * dist.rank)
        self.val_eval = None
        if self.val is not None and len(self.val):
            self.val_eval = self._prep(torch.as_tensor(
                np.asarray(self.val[:cfg.eval_max_rows], dtype=np.float32))).numpy()

    def _set_input_transform(self, sample: np.ndarray,
                             moments: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """How raw rows become training inputs (`_prep`): a global scale (`normalize_input`)
        or a per-dimension standardisation (`input_standardize`, from `moments` on resume)."""
        cfg, arch = self.cfg, self.sae.arch
        self.scale, self.moments = 1.0, None
        if cfg.input_standardize:
            if not arch.supports_input_scaling():
                raise ConfigError(f"input_standardize: arch {cfg.sae.arch!r} with these options "
                                  "cannot fold the statistics into its weights")
            self.moments = moments or input_moments(sample)
            self._mean_t, self._std_t = (torch.as_tensor(m, device=self.device)
                                         for m in self.moments)
        elif cfg.normalize_input and arch.supports_input_scaling():
            self.scale = input_scale(sample)

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        """Raw rows -> the inputs the SAE trains on (see `_set_input_transform`)."""
        if self.moments is not None:
            return (x - self._mean_t.to(x.device)) / self._std_t.to(x.device)
        return x * self.scale

    def _resume(self) -> None:
        state, self.best = load_checkpoint(self.ckpt_dir, self.sae, self.opt, self.stepper.dead)
        saved, now = state["cfg"], self.cfg.to_dict()
        for key in ("batch_size", "seed", "normalize_input", "input_standardize", "epochs",
                    "steps"):
            if saved.get(key) != now.get(key):
                raise ConfigError(f"--resume: {key} differs from the checkpoint "
                                  f"({saved.get(key)!r} vs {now.get(key)!r})")
        if {**saved["sae"], "d_in": 0} != {**now["sae"], "d_in": 0}:
            raise ConfigError("--resume: the SAE config differs from the checkpoint's")
        if state["d_in"] != self.source.d:
            raise InputError(f"--resume: data has {self.source.d} columns, the checkpoint "
                             f"{state['d_in']}")
        self.step, self.samples = state["step"], state["samples"]
        self.scale, self.seconds_before = state["scale"], state["seconds"]
        if state.get("moments") is not None:
            self._set_input_transform(None, tuple(np.asarray(m, dtype=np.float32)
                                                  for m in state["moments"]))
        self.stop = StopState(**state.get("stop", {}))

    # -- the loop --------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train until the plan says stop; the measured, saved SAE."""
        try:
            return self._fit()
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        """Release the output folder (a new output built beside the old one is dropped)."""
        if self.job is not None:
            self.job.abort()

    def _fit(self) -> TrainResult:
        self._open_logs()
        try:
            while not self._done():
                epoch, skip = divmod(self.step, self.source.steps_per_epoch)
                for batch in self.source.epoch(epoch, skip):
                    res = self._train_step(batch)
                    self._maybe_evaluate()
                    self._log_step(res)
                    self._maybe_checkpoint()
                    if self.callback is not None:
                        self.callback(self.step, self.line)
                    if self._done():
                        break
        finally:
            self._close_logs()
        return self._finish()

    def _done(self) -> bool:
        if self.step >= self.plan.max_steps:
            return True
        st = self.stop
        return st.decay_start is not None and self.step >= st.decay_start + st.decay_len

    def _current_lr(self) -> float:
        if self.plan.early_stopping:
            return self.lr * self.stop.lr_factor(self.step, self.plan.warmup)
        return self.lr * lr_factor(self.step, self.plan.max_steps, self.plan.warmup,
                                   self.cfg.lr_decay_fraction)

    def _train_step(self, batch: np.ndarray) -> StepOutput:
        local_b = self.source.batch_size // self.dist.world
        x_np = batch[self.dist.rank * local_b:(self.dist.rank + 1) * local_b]
        if not x_np.flags.writeable:  # Arrow-backed batches are read-only
            x_np = x_np.copy()
        x = self._prep(torch.as_tensor(x_np, device=self.device))
        self.cur_lr = self._current_lr()
        res = self.stepper(x, self.step, self.plan.max_steps, self.cur_lr)
        self.step += 1
        self.samples += self.source.batch_size
        self.bar.update(1)
        return res

    def _log_step(self, res: StepOutput) -> None:
        self.line = {}
        if self.step % self.cfg.log_every and not self._done():
            return
        extra_keys = sorted(res.extras)
        vec = torch.stack([res.loss.detach().float(), res.fvu.float(), res.l0_sum.float()]
                          + [res.extras[k].float() for k in extra_keys])
        vals = self.dist.all_reduce_sum(vec).tolist()
        line = {"step": self.step, "samples": self.samples, "loss": vals[0], "fvu": vals[1],
                "l0": vals[2] / self.source.batch_size,
                "dead_fraction": self.stepper.dead_fraction(), "lr": self.cur_lr}
        line.update(zip(extra_keys, vals[3:], strict=True))
        if self.stop.last_fvu is not None:
            line["val_fvu"] = self.stop.last_fvu
        if self.log_file is not None:
            self.log_file.write(json.dumps(line) + "\n")
            self.log_file.flush()
        self.tracker.log(self.step, line)
        self.bar.set_postfix(self._progress_fields(line), refresh=False)
        self.line = line

    def _progress_fields(self, line: dict[str, Any]) -> dict[str, str]:
        """What the progress bar shows: epoch, training and validation FVU, L0, and under early
        stopping the patience used (the step budget is rarely reached, so it is no total)."""
        fields = {"epoch": f"{self.step / self.source.steps_per_epoch:.1f}",
                  "fvu": f"{line['fvu']:.4f}"}
        if self.stop.last_fvu is not None:
            fields["val_fvu"] = f"{self.stop.last_fvu:.4f}"
        fields["l0"] = f"{line['l0']:.1f}"
        if self.plan.early_stopping:
            fields["patience"] = ("decay" if self.stop.decay_start is not None
                                  else f"{self.stop.stale_evals}/{self.cfg.patience}")
        return fields

    def _maybe_evaluate(self) -> None:
        """A validation pass every `eval_every` steps and at the end; early-stopping bookkeeping."""
        if self.val_eval is None or (self.step % self.plan.eval_every and not self._done()):
            return
        self.sae.eval()
        metrics = evaluate(self.sae, self.val_eval, self.cfg.eval_batch_size).result()
        fvu = self.sae.arch.validation_objective(self.sae, metrics)
        self.sae.train()
        if self.stop.record(self.step, fvu, self.cfg.min_delta) and self.plan.early_stopping:
            self.best = {k: v.detach().clone() for k, v in self.sae.state_dict().items()}
        st, plan = self.stop, self.plan
        if not plan.early_stopping or st.decay_start is not None:
            return
        left = plan.max_steps - self.step
        want = max(plan.eval_every, round(self.cfg.lr_decay_fraction * self.step))
        if st.stale_evals >= self.cfg.patience or left <= want:
            st.decay_start, st.decay_len = self.step, max(1, min(want, left))
            st.reason = "early_stopping" if st.stale_evals >= self.cfg.patience else "budget"

    def _maybe_checkpoint(self) -> None:
        every = self.cfg.checkpoint_every
        if (self.ckpt_dir is None or not every or self.step % every or self._done()
                or not self.dist.main):
            return
        save_checkpoint(self.ckpt_dir, self.sae, self.opt, self.stepper.dead, {
            "step": self.step, "samples": self.samples, "scale": self.scale,
            "moments": None if self.moments is None else [m.tolist() for m in self.moments],
            "d_in": self.source.d, "seconds": self._seconds(), "cfg": self.cfg.to_dict(),
            "stop": asdict(self.stop),
        }, self.best)

    # -- logs ------------------------------------------------------------------------------
    def _open_logs(self) -> None:
        main = self.dist.main
        log_path = self.out / "train_log.jsonl" if self.out is not None else None
        if log_path is not None and main:
            if self.step:
                _truncate_log(log_path, self.step)
            elif log_path.exists():
                log_path.unlink()
        self.log_file = open(log_path, "a") if log_path is not None and main else None  # noqa: SIM115
        self.tracker = Tracker(self.cfg.tensorboard, self.cfg.wandb_project, self.cfg.to_dict(),
                               self.step) if main else Tracker()
        self.bar = tqdm(total=None if self.plan.early_stopping else self.plan.max_steps,
                        initial=self.step,
                        disable=not self.progress or not main,
                        desc=f"train {self.sae.cfg.arch}", unit="step", dynamic_ncols=True)

    def _close_logs(self) -> None:
        self.bar.close()
        if self.log_file is not None:
            self.log_file.close()

    def _seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.t_start

    # -- the end ---------------------------------------------------------------------------
    def _finish(self) -> TrainResult:
        final = copy.deepcopy(self.sae)
        if self.plan.early_stopping and self.best is not None:
            final.load_state_dict(self.best)
        if self.scale != 1.0:  # the saved SAE takes raw inputs
            final.arch.fold_input_scale(final, self.scale)
        if self.moments is not None:
            fold_standardization(final, self._mean_t, self._std_t)
        sample = self.source.sample(self.cfg.init_sample)
        # Held-out rows let threshold architectures calibrate their inference L0 (archs/base.py).
        final.arch.after_training(final, torch.as_tensor(sample, device=self.device),
                                  held_out=self.val)
        final.eval()
        final.requires_grad_(False)
        seconds = self._seconds()
        metrics, stats = self._measure(final)
        metrics.update({"steps": self.step, "samples": self.samples, "seconds": seconds})
        warning = overfit_warning(metrics)
        if warning and self.dist.main:
            warnings.warn(warning, UserWarning, stacklevel=3)
        if self.out is not None and self.dist.main:
            _write_outputs(self.out, final, metrics, stats, self.manifest, self.moments)
            if self.ckpt_dir is not None and self.ckpt_dir.exists():
                shutil.rmtree(self.ckpt_dir)
            if self.ckpt_dir is not None:
                remove_leftovers(self.ckpt_dir)  # weights and optimiser state of killed writes
            if self.job is not None:
                self.job.finish()
        self.tracker.summary(metrics)
        self.tracker.close()
        self.dist.barrier()
        self.dist.close()
        return TrainResult(final, metrics, stats, self.final_out)

    def _measure(self, final: SparseAutoencoder) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metrics of the saved encoder: quality on validation rows, dead/dense on a uniform
        sample of as many training rows as the dead window of the training log (streamed)."""
        std = None if self.moments is None else (self._mean_t, self._std_t)
        train_acc = MetricAccumulator(final.num_latents, final.d_in)
        for rows in self.source.sample_chunks(self.stepper.dead_samples):
            evaluate(final, rows, self.cfg.eval_batch_size, into=train_acc, standardize=std)
        if self.val is not None and len(self.val):
            acc = evaluate(final, self.val, self.cfg.eval_batch_size, standardize=std)
            split = "validation"
        else:
            acc, split = train_acc, "train"
        metrics: dict[str, Any] = acc.result()
        on_train = train_acc.result()
        metrics.update({
            "dead_fraction": on_train["dead_fraction"], "dense_fraction": on_train["dense_fraction"],
            "dead_window": train_acc.n, "train_fvu": on_train["fvu"], "train_l0": on_train["l0"],
            "split": split, "arch": final.cfg.arch, "k": final.cfg.k,
            "num_latents": final.num_latents, "d_in": final.d_in, "input_scale": self.scale,
            "input_standardize": self.moments is not None,
            "batch_size": self.source.batch_size, "lr": self.lr,
            "best_step": self.stop.best_step if self.plan.early_stopping else self.step,
            "best_val_fvu": None if math.isinf(self.stop.best_fvu) else self.stop.best_fvu,
            "stop_reason": self.stop.reason,
        })
        stats = {"frequency": train_acc.frequencies(),
                 "mean_activation": train_acc.mean_activations()}
        return metrics, stats


OVERFIT_RATIO = 1.25
"""Validation FVU above this multiple of the training FVU (and 0.05 above it) gets a warning."""


def overfit_warning(metrics: dict[str, Any]) -> str | None:
    """A warning when the saved SAE reconstructs its training rows much better than the
    validation rows (it has learned the rows rather than features), else None."""
    if metrics.get("split") != "validation":
        return None
    val, train = metrics["fvu"], metrics["train_fvu"]
    if not (val > OVERFIT_RATIO * train and val - train > 0.05):
        return None
    return (f"validation FVU {val:.3f} is {val / max(train, 1e-12):.2f}x the training FVU "
            f"{train:.3f}: the SAE fits its training rows much better than new rows "
            "(overfitting). More training rows help most; otherwise fewer latents "
            "(--expansion-factor) or a smaller --k")


def train_sae(
    data: Any,
    cfg: TrainConfig | None = None,
    val_data: Any = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    manifest: dict[str, Any] | None = None,
) -> TrainResult:
    """Train an SAE (see the module docstring for the schedule and `Trainer` for the parts).

    data: a [N, D] numpy array / memmap / tensor, a vector file path (see `read_vectors`), or
    an iterable (or a callable returning an iterator) of float [B, D] batches (Parquet shard
    readers, tensors...). val_data: [N_val, D] held-out vectors; if None and `data` is an
    array, `cfg.val_fraction` of it is held out. out_dir: folder for the outputs and
    checkpoints (refused if non-empty unless `resume` or `overwrite`). callback(step, log):
    called after each step with the step count and, on logged steps, the log line ({} else).
    manifest: with `out_dir`, written as `manifest.json` (plus `steps`, `samples`, `files` and
    `metrics`, `finished_manifest`)
    before `cfg.json`, the completion mark (`run_train` gives its config and inputs).
    """
    cfg = cfg or TrainConfig()
    with _torch_threads(cfg):
        return Trainer(data, cfg, val_data, out_dir, resume, progress, overwrite, callback,
                       manifest).fit()


class _torch_threads:
    """CPU runs: torch intra-op threads set to `cfg.threads` (default 1) for the run, then restored.

    On small SAE steps the intra-op pool costs more than it gives (see benchmarks/cpu_train.py).
    """

    def __init__(self, cfg: TrainConfig) -> None:
        self.want = 1 if cfg.threads is None else cfg.threads
        self.active = self.want > 0 and _resolve_device_name(cfg.device) == "cpu"

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        if self.active:
            torch.set_num_threads(self.want)

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            torch.set_num_threads(self.before)


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
            from saescope.data.splits import holdout_rows

            train_rows, val_rows = holdout_rows(len(X), cfg.val_fraction, cfg.seed)
            val_data = np.asarray(X[val_rows], dtype=np.float32)
        n_train = len(X) if train_rows is None else len(train_rows)
        batch = cfg.batch_size or auto_batch_size(n_train)
        source: ArraySource | StreamSource = ArraySource(X, batch, cfg.seed, rows=train_rows)
    else:
        source = make_source(data, cfg.batch_size or MAX_AUTO_STREAM_BATCH, cfg.seed)
        if cfg.batch_size is None:
            source.set_batch_size(auto_batch_size(source.n))
    if val_data is not None:
        val_data = as_numpy(val_data, "validation data")
        check_finite_rows(val_data, "validation data")
        if val_data.shape[1] != source.d:
            raise InputError(
                f"validation data has {val_data.shape[1]} columns, training data {source.d}")
    return source, val_data


def _prepare_out_dir(out: Path, resume: bool, overwrite: bool,
                     dist: Dist) -> tuple[OutputJob | None, bool]:
    """Open the output folder (`io.open_output`, rank 0 only); whether there is a checkpoint to
    resume from."""
    job = None
    if dist.main:
        recover_dir(out / CHECKPOINT)  # a kill inside a checkpoint swap (where it is two renames)
        has_ckpt = (out / CHECKPOINT / "state.json").is_file()
        if resume and not has_ckpt and out.exists() and any(out.iterdir()) and not overwrite:
            if not _killed_before_first_checkpoint(out):
                raise InputError(f"{out}: no checkpoint to resume from ({CHECKPOINT}/ missing)")
            overwrite = True  # a run killed before its first checkpoint: start it again
        # The checkpoint checks what it resumes (`_resume`), so no fingerprint to match here;
        # with a checkpoint, --resume wins over --overwrite.
        job = open_output(out, overwrite and not (resume and has_ckpt), resume=resume,
                          complete="cfg.json", what="training run")
    dist.barrier()
    return job, resume and (out / CHECKPOINT / "state.json").is_file()  # as rank 0 left it


def _killed_before_first_checkpoint(out: Path) -> bool:
    """`out` holds only what an unfinished run writes before a checkpoint (no cfg.json)."""
    own = {"train_log.jsonl", "latent_stats.parquet", "metrics.json", "manifest.json",
           "sae.safetensors", INPUT_STATS}
    kept = f".{CHECKPOINT}.old"  # a checkpoint kept by a cut swap: there was one to resume
    return all(p.name in own or (p.name.startswith(".") and p.name != kept) for p in out.iterdir())


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    keep = [row for row in read_jsonl(path) if row["step"] <= step]  # drops a torn last line
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in keep))


TRAIN_FILES = ("cfg.json", "sae.safetensors", "metrics.json", "train_log.jsonl", "latent_stats.parquet")
"""What a finished training folder holds besides manifest.json (listed in it as `files`)."""
INPUT_STATS = "input_stats.safetensors"
"""Per-dimension `mean` and `std` of an `input_standardize` run (already folded into the weights)."""


def _write_outputs(out: Path, sae: SparseAutoencoder, metrics: dict[str, Any],
                   stats: dict[str, np.ndarray], manifest: dict[str, Any] | None = None,
                   moments: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """latent_stats.parquet, input_stats.safetensors (`input_standardize`), metrics.json,
    manifest.json (when given), then the SAE (cfg.json last: the completion mark)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from safetensors.numpy import save_file

    if moments is not None:
        with atomic_path(out / INPUT_STATS) as tmp:
            save_file({"mean": moments[0], "std": moments[1]}, str(tmp))

    table = pa.table({
        "latent": pa.array(np.arange(sae.num_latents, dtype=np.int32)),
        "frequency": pa.array(stats["frequency"].astype(np.float64)),
        "mean_activation": pa.array(stats["mean_activation"].astype(np.float64)),
    })
    with atomic_path(out / "latent_stats.parquet") as tmp:
        pq.write_table(table, tmp)
    write_json(out / "metrics.json", metrics)
    if manifest is not None:
        write_json(out / "manifest.json", finished_manifest(manifest, out, metrics))
    sae.save(out)


def finished_manifest(manifest: dict[str, Any], out: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """manifest.json of a finished training folder: the run's `manifest`, `steps`, `samples`,
    the `files` it holds and the validation `metrics`."""
    files = [f for f in (*TRAIN_FILES, INPUT_STATS)
             if f not in ("train_log.jsonl", INPUT_STATS) or (out / f).is_file()]
    return {**manifest, "steps": metrics["steps"], "samples": metrics["samples"], "files": files,
            "metrics": metrics}
