"""A saescope training step on its own, for step-throughput benchmarks.

`PROJECT_SAE=saescope.sae.bench:make_step python benchmarks/gpu_sae_step.py` times it beside a
plain dense PyTorch loop; `benchmarks/cpu_train.py` does the same on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from saescope.sae.config import SAEConfig
from saescope.sae.model import SparseAutoencoder
from saescope.sae.train import Stepper, default_lr


def make_step(d_in: int, num_latents: int, k: int, device: str | torch.device = "cuda",
              fast: bool | None = None, arch: str = "topk"
              ) -> Callable[[torch.Tensor], None]:
    """step(x) runs one full training step of a fresh SAE on the batch x [B, d_in].

    The step is the one `train_sae` runs: the architecture's loss (topk: FVU + AuxK on dead
    latents), backward, decoder-gradient projection, gradient clipping, Adam (fused on CUDA),
    decoder renormalisation and dead-latent counters; bf16 autocast with fp32 master weights
    on CUDA. fast: the sparse TopK kernels (default: on CUDA only).
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    sae = SparseAutoencoder(SAEConfig(arch=arch, k=k, num_latents=num_latents), d_in=d_in,
                            device=device)
    lr = default_lr(num_latents)
    opt = torch.optim.Adam(sae.parameters(), lr=lr, fused=cuda)
    stepper = Stepper(sae, opt, global_batch=1, grad_clip=1.0, autocast=cuda,
                      fast=cuda if fast is None else fast)
    count = [0]

    def step(x: torch.Tensor) -> None:
        stepper.global_batch = x.shape[0]
        stepper(x, count[0], 1 << 30, lr)
        count[0] += 1

    step.sae = sae  # type: ignore[attr-defined]
    return step
