"""Small result types of the SAE (NamedTuples with documented fields)."""

from __future__ import annotations

from typing import NamedTuple

import torch


class EncoderOutput(NamedTuple):
    """Sparse codes of a batch: the active latents of each row."""

    top_acts: torch.Tensor
    """[B, K] activations; slots holding 0 are inactive (padding for variable-L0 archs)."""
    top_indices: torch.Tensor
    """[B, K] int64 latent indices of `top_acts`."""


class ForwardOutput(NamedTuple):
    """Inference pass of `SparseAutoencoder.forward`."""

    x_hat: torch.Tensor
    """[B, D] reconstruction in the input space."""
    top_acts: torch.Tensor
    """[B, K] activations (0 = inactive slot)."""
    top_indices: torch.Tensor
    """[B, K] latent indices."""
    fvu: torch.Tensor
    """Scalar fraction of variance unexplained over the batch (see `metrics.fvu`)."""
