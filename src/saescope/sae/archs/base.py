"""The interface every architecture implements, and helpers several of them share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from saescope.errors import ConfigError
from saescope.sae.outputs import EncoderOutput

if TYPE_CHECKING:
    from saescope.sae.config import SAEConfig
    from saescope.sae.model import SparseAutoencoder

ARCHITECTURES: dict[str, type[Architecture]] = {}


def register(cls: type[Architecture]) -> type[Architecture]:
    """Class decorator: make an architecture available under `cls.name`."""
    ARCHITECTURES[cls.name] = cls
    return cls


@dataclass
class NoOptions:
    """An architecture without options of its own."""


@dataclass
class StepContext:
    """What one training step needs to know beyond the batch.

    Losses are sums over this process's rows divided by global normalisers, so that under
    data-parallel training the gradients summed over processes equal the single-process
    gradients of the global batch.
    """

    step: int
    """0-based optimiser step."""
    total_steps: int
    """Steps in the whole run (for schedules)."""
    total_variance: torch.Tensor
    """sum ||x - mean(x)||^2 over the global batch (the FVU denominator)."""
    global_batch: int
    """Rows in the global batch."""
    dead_mask: torch.Tensor | None = None
    """[M] bool, latents that have not fired for `dead_samples` training samples."""
    fast: bool = False
    """Use the sparse TopK kernels (`saescope.sae.kernels`)."""
    all_reduce_mean: Any = None
    """Callable averaging a tensor over processes in place (None: single process)."""
    generator: torch.Generator | None = None
    """Random numbers of this step (seeded from seed, step and rank, so resumable)."""
    world_size: int = 1
    """Data-parallel processes sharing the global batch."""


class StepOutput(NamedTuple):
    """Result of one training forward pass."""

    loss: torch.Tensor
    """What to backpropagate (this process's share of the global loss)."""
    fvu: torch.Tensor
    """This process's share of the global batch FVU (detached)."""
    l0_sum: torch.Tensor
    """Active latents summed over this process's rows (detached)."""
    fired: torch.Tensor
    """[M] bool, latents active on at least one row of the batch."""
    extras: dict[str, torch.Tensor]
    """Further detached scalars to log (auxk_loss, l1, ...), this process's share."""


class Architecture:
    """One SAE variant: its options, extra tensors, inference encoder and training loss.

    Every architecture shares the sparsify tensor layout (`encoder.weight` [M, D],
    `encoder.bias` [M], `W_dec` [M, D], `b_dec` [D]) and may add tensors of its own.
    """

    name: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    normalize_decoder_default: ClassVar[bool] = True
    sparsity_option: ClassVar[str | None] = None
    """The option holding a sparsity coefficient (penalty architectures); None: L0 is set by k."""
    sparsity_range: ClassVar[tuple[float, float] | None] = None
    """Log-uniform search range of that coefficient (what `saescope tune` samples)."""

    def __init__(self, cfg: SAEConfig) -> None:
        self.cfg = cfg
        self.opts = self.parse_options(cfg.options)

    @classmethod
    def parse_options(cls, options: dict[str, Any]) -> Any:
        """Validate the architecture options (ConfigError naming a bad field)."""
        known = {f.name for f in dataclasses.fields(cls.Options)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)} for arch {cls.name!r} "
                f"(options: {', '.join(sorted(known)) or 'none'})"
            )
        from saescope.sae.config import check_field_types

        check_field_types(cls.Options, options)
        try:
            return cls.Options(**options)
        except TypeError as exc:
            raise ConfigError(f"arch {cls.name!r}: {exc}") from None

    # -- tensors -------------------------------------------------------------------------
    def add_tensors(self, sae: SparseAutoencoder) -> None:
        """Register extra parameters or buffers on `sae` (saved beside the standard four)."""

    def init_from_data(self, sae: SparseAutoencoder, x: torch.Tensor) -> None:
        """Data-dependent initialisation after the standard one (x: scaled sample)."""

    def supports_input_scaling(self) -> bool:
        """Whether an input scale can be folded into the weights (see `fold_input_scale`)."""
        return True

    def fold_input_scale(self, sae: SparseAutoencoder, s: float) -> None:
        """Rewrite weights trained on `s * x` so the SAE takes raw `x`.

        With pre' = W(s x - b_dec') + b_enc', dividing `b_dec` and `b_enc` by s gives
        pre = pre' / s; ReLU and top-k commute with a positive scale, so the activations are
        the trained ones divided by s, and W_dec a + b_dec / s = x_hat' / s: unit-norm
        decoder rows are kept. Architectures with further tensors extend this.
        """
        with torch.no_grad():
            sae.encoder.bias.div_(s)
            sae.b_dec.div_(s)

    # -- inference -----------------------------------------------------------------------
    def encode(self, sae: SparseAutoencoder, x: torch.Tensor) -> EncoderOutput:
        raise NotImplementedError

    def output(self, y: torch.Tensor) -> torch.Tensor:
        """Decoder output activation applied to W_dec a + b_dec (identity by default)."""
        return y

    # -- training ------------------------------------------------------------------------
    def training_step(
        self, sae: SparseAutoencoder, x: torch.Tensor, ctx: StepContext
    ) -> StepOutput:
        raise NotImplementedError

    def after_step(self, sae: SparseAutoencoder, ctx: StepContext) -> None:
        """Hook after the optimiser step (e.g. running statistics)."""

    def after_training(self, sae: SparseAutoencoder, x: torch.Tensor,
                       held_out: np.ndarray | None = None) -> None:
        """Hook on the saved SAE (raw-input weights) with a sample x of raw training rows and
        the raw rows the optimiser never saw (the trainer's validation rows; None: none)."""

    # -- early stopping ------------------------------------------------------------------
    early_stopping: ClassVar[bool] = True
    """Whether the validation objective is stationary, so that the trainer may stop on it;
    architectures whose penalty follows a schedule of the run's length say False and get a
    fixed budget by default."""

    def validation_objective(self, sae: SparseAutoencoder, metrics: dict[str, float]) -> float:
        """What early stopping minimises on validation rows (default: FVU)."""
        return metrics["fvu"]


def per_latent(sae: SparseAutoencoder, value: float) -> torch.Tensor:
    """A [M] tensor of `value` on the SAE's device and dtype (a per-latent parameter or buffer)."""
    return torch.full((sae.num_latents,), float(value), device=sae.device, dtype=sae.dtype)


def pack_dense(acts_BM: torch.Tensor) -> EncoderOutput:
    """Dense non-negative activations as EncoderOutput, K = the largest row L0 in the batch."""
    nnz = int((acts_BM > 0).sum(-1).max().item()) if acts_BM.numel() else 0
    k = max(nnz, 1)
    vals, idx = acts_BM.topk(k, dim=-1, sorted=False)
    return EncoderOutput(vals.clamp_min(0), idx)


def dense_decode(sae: SparseAutoencoder, acts_BM: torch.Tensor) -> torch.Tensor:
    """W_dec^T a + b_dec for dense activations (before the output activation)."""
    return acts_BM @ sae.W_dec + sae.b_dec


def at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 tensors as float32; float32/float64 unchanged."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def recon_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Summed squared error, in at least float32 whatever the compute dtype."""
    return (at_least_fp32(x_hat) - at_least_fp32(x)).pow(2).sum()


def auxk_loss(
    sae: SparseAutoencoder,
    x_centered: torch.Tensor,
    residual: torch.Tensor,
    dead_mask: torch.Tensor | None,
    total_variance: torch.Tensor,
) -> torch.Tensor | None:
    """AuxK loss of Gao et al. 2024 (arXiv:2406.04093, sec. A.2), normalised as sparsify does.

    The top k_aux = d_in / 2 pre-activations among dead latents reconstruct the detached
    residual e = x - x_hat, without b_dec: ||e - W_dec^T z_aux||^2 / sum ||x - mean(x)||^2,
    scaled by min(num_dead / k_aux, 1) when fewer latents are dead than k_aux. z_aux are the
    raw pre-activations, without the ReLU (as SAELens's TopK AuxK, `calculate_topk_aux_acts`):
    a latent whose pre-activation is negative on every row is dead exactly because of that,
    and after a ReLU it would get no gradient and could never be revived. Gao et al. write
    the unnormalised ||e - e_hat||^2 next to a normalised main loss; dividing by the same
    denominator as the FVU (as sparsify does) keeps alpha = 1/32 meaningful at any input scale.
    "Dead" is the run's window (`saescope.sae.budget`), so AuxK acts within short runs too.
    Only the dead rows of W_enc are multiplied, so the cost is proportional to num_dead.
    """
    if dead_mask is None:
        return None
    dead = torch.nonzero(dead_mask).squeeze(-1)
    num_dead = dead.numel()
    if num_dead == 0:
        return None
    k_aux_full = max(x_centered.shape[-1] // 2, 1)
    k_aux = min(k_aux_full, num_dead)
    scale = min(num_dead / k_aux_full, 1.0)
    pre = F.linear(x_centered, sae.encoder.weight[dead], sae.encoder.bias[dead])
    vals, local = pre.topk(k_aux, dim=-1, sorted=False)
    e_hat = F.embedding_bag(dead[local], sae.W_dec, per_sample_weights=vals.to(sae.W_dec.dtype),
                            mode="sum")
    return scale * (at_least_fp32(e_hat) - at_least_fp32(residual.detach())).pow(2).sum() / total_variance


def fired_mask(idx: torch.Tensor, vals: torch.Tensor, num_latents: int) -> torch.Tensor:
    """[M] bool of latents with a positive activation somewhere in the batch."""
    fired = torch.zeros(num_latents, dtype=torch.bool, device=idx.device)
    fired[idx[vals > 0]] = True
    return fired


CALIBRATION_ROWS = 16_384
"""At most this many held-out rows calibrate an inference threshold (a uniform sample)."""


def calibration_rows(held_out: np.ndarray | None, sae: SparseAutoencoder,
                     max_rows: int = CALIBRATION_ROWS) -> torch.Tensor | None:
    """A uniform sample (fixed seed) of at most `max_rows` held-out rows as a tensor, or None."""
    if held_out is None or len(held_out) == 0:
        return None
    n = len(held_out)
    rows = np.arange(n) if n <= max_rows else np.sort(
        np.random.default_rng(0).choice(n, max_rows, replace=False))
    return torch.as_tensor(np.asarray(held_out[rows], dtype=np.float32), device=sae.device)


@torch.no_grad()
def level_for_mean_count(score_fn: Any, x: torch.Tensor, k: int, chunk: int = 1024) -> float:
    """The level t at which the rows of `x` have on average k scores above t.

    `score_fn(rows)` gives [rows, M] scores (non-positive ones never count). t lies halfway
    between the (k N)-th and (k N + 1)-th largest positive score of the N rows, so that exactly
    k N scores exceed it (fewer when fewer are positive: then t is half the smallest). The top
    k N of all rows are among the union of each chunk's top k N, so memory is O(k N), not O(N M).
    """
    want = k * x.shape[0]
    kept = torch.empty(0, device=x.device)
    for start in range(0, x.shape[0], chunk):
        s = score_fn(x[start:start + chunk]).float().flatten()
        s = s[s > 0]
        both = torch.cat([kept, s])
        kept = both.topk(min(want + 1, both.numel()), sorted=False).values
    if kept.numel() == 0:
        return 0.0
    top = kept.sort(descending=True).values
    if top.numel() <= want:
        return float(top[-1]) / 2
    return float(top[want - 1] + top[want]) / 2
