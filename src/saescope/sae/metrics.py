"""SAE quality metrics, each with the definition it follows.

Batch functions take torch tensors; `MetricAccumulator` streams them over a data set in float64
so that the reported FVU is the ratio of sums over the whole evaluated set, not a mean of
per-batch ratios.
"""

from __future__ import annotations

import numpy as np
import torch

DENSE_THRESHOLD = 0.1
"""A latent is dense when it fires on more than this fraction of samples."""


def fvu(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of variance unexplained, sum ||x - x_hat||^2 / sum ||x - mean(x)||^2.

    The normalised MSE of Gao et al. 2024 ("Scaling and evaluating sparse autoencoders",
    arXiv:2406.04093, sec. 2.1) and EleutherAI sparsify's `fvu`; mean(x) is over the rows.
    """
    x, x_hat = x.float(), x_hat.float()
    total = (x - x.mean(0)).pow(2).sum()
    return (x - x_hat).pow(2).sum() / total.clamp_min(torch.finfo(torch.float32).tiny)


def l0(top_acts: torch.Tensor) -> torch.Tensor:
    """Mean number of active (non-zero) latents per row: E_x ||z(x)||_0 (Gao et al. 2024)."""
    return (top_acts != 0).sum(-1).float().mean()


def explained_variance(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """1 - sum_j Var(x_j - x_hat_j) / sum_j Var(x_j).

    scikit-learn's `explained_variance_score` with `multioutput="variance_weighted"`; unlike
    1 - FVU it ignores a constant offset of the residual.
    """
    x, x_hat = x.float(), x_hat.float()
    r = x - x_hat
    return 1 - (r - r.mean(0)).pow(2).sum() / (x - x.mean(0)).pow(2).sum()


def cosine(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity between each input and its reconstruction."""
    return torch.nn.functional.cosine_similarity(x.float(), x_hat.float(), dim=-1).mean()


def firing_frequencies(top_acts: torch.Tensor, top_indices: torch.Tensor, num_latents: int
                       ) -> torch.Tensor:
    """[M] fraction of rows on which each latent is active (Gao et al. 2024, sec. 3.1)."""
    counts = torch.zeros(num_latents, dtype=torch.float64, device=top_acts.device)
    active = top_acts != 0
    counts.index_add_(0, top_indices[active], torch.ones_like(top_acts[active], dtype=torch.float64))
    return counts / max(top_acts.shape[0], 1)


def dead_fraction(frequencies: torch.Tensor | np.ndarray) -> float:
    """Fraction of latents that never fire on the evaluated samples."""
    f = np.asarray(frequencies)
    return float((f == 0).mean()) if f.size else 0.0


def dense_fraction(frequencies: torch.Tensor | np.ndarray, threshold: float = DENSE_THRESHOLD
                   ) -> float:
    """Fraction of latents firing on more than `threshold` (10%) of samples.

    Gao et al. 2024 and Rajamanoharan et al. 2024 (JumpReLU, "dense latents") flag such
    latents; they are usually uninterpretable.
    """
    f = np.asarray(frequencies)
    return float((f > threshold).mean()) if f.size else 0.0


class MetricAccumulator:
    """Streams FVU, L0, explained variance, cosine and per-latent statistics over batches."""

    def __init__(self, num_latents: int, d_in: int) -> None:
        self.m = num_latents
        self.n = 0
        self.sq_err = 0.0
        self.sum_x = np.zeros(d_in, dtype=np.float64)
        self.sum_x2 = 0.0
        self.sum_r = np.zeros(d_in, dtype=np.float64)
        self.sum_r2 = 0.0
        self.cos_sum = 0.0
        self.l0_sum = 0.0
        self.fire_counts = np.zeros(num_latents, dtype=np.float64)
        self.act_sums = np.zeros(num_latents, dtype=np.float64)

    def update(self, x: torch.Tensor, x_hat: torch.Tensor, top_acts: torch.Tensor,
               top_indices: torch.Tensor) -> None:
        x64, r64 = x.double(), (x.double() - x_hat.double())
        self.n += x.shape[0]
        self.sq_err += float(r64.pow(2).sum())
        self.sum_x += x64.sum(0).cpu().numpy()
        self.sum_x2 += float(x64.pow(2).sum())
        self.sum_r += r64.sum(0).cpu().numpy()
        self.sum_r2 += float(r64.pow(2).sum())
        self.cos_sum += float(torch.nn.functional.cosine_similarity(x.float(), x_hat.float(),
                                                                    dim=-1).sum())
        active = top_acts != 0
        self.l0_sum += float(active.sum())
        idx = top_indices[active].cpu().numpy()
        vals = top_acts[active].double().cpu().numpy()
        self.fire_counts += np.bincount(idx, minlength=self.m)
        self.act_sums += np.bincount(idx, weights=vals, minlength=self.m)

    def result(self) -> dict[str, float]:
        """fvu, l0, dead_fraction, dense_fraction, explained_variance, cosine, n_samples."""
        n = max(self.n, 1)
        total_var = self.sum_x2 - float((self.sum_x**2).sum()) / n
        resid_var = self.sum_r2 - float((self.sum_r**2).sum()) / n
        total_var = max(total_var, np.finfo(np.float64).tiny)
        freq = self.frequencies()
        return {
            "fvu": self.sq_err / total_var,
            "l0": self.l0_sum / n,
            "dead_fraction": dead_fraction(freq),
            "dense_fraction": dense_fraction(freq),
            "explained_variance": 1 - resid_var / total_var,
            "cosine": self.cos_sum / n,
            "n_samples": self.n,
        }

    def frequencies(self) -> np.ndarray:
        """[M] firing frequency of each latent."""
        return self.fire_counts / max(self.n, 1)

    def mean_activations(self) -> np.ndarray:
        """[M] mean activation of each latent over the samples where it fires."""
        return np.divide(self.act_sums, self.fire_counts, out=np.zeros(self.m),
                         where=self.fire_counts > 0)


@torch.no_grad()
def evaluate(sae, X: np.ndarray, batch_size: int = 4096,
             into: MetricAccumulator | None = None,
             standardize: tuple[torch.Tensor, torch.Tensor] | None = None) -> MetricAccumulator:
    """Run `sae` over X (raw inputs) and accumulate every metric (into `into`, if given, so
    that a set read in chunks is measured as a whole). `standardize` = (mean, std): the
    reconstruction metrics are taken on (x - mean) / std and (x_hat - mean) / std, the space an
    SAE trained with `input_standardize` was fit in."""
    acc = into if into is not None else MetricAccumulator(sae.num_latents, sae.d_in)
    for start in range(0, len(X), batch_size):
        x = torch.as_tensor(np.array(X[start:start + batch_size], dtype=np.float32),
                            device=sae.device)
        out = sae.encode(x)
        x_hat = sae.decode(out.top_acts, out.top_indices)
        if standardize is not None:
            mean, std = (t.to(x) for t in standardize)
            x, x_hat = (x - mean) / std, (x_hat - mean) / std
        acc.update(x, x_hat, out.top_acts, out.top_indices)
    return acc
