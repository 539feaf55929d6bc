"""Resumable training checkpoints: weights, Adam state, counters, RNG state, best weights.

A checkpoint is a folder `checkpoint/` with `state.safetensors` (tensors) and `state.json`
(step, samples, scale, early-stopping state, the config), written atomically, so a resumed
run continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from saescope.errors import InputError
from saescope.io import atomic_dir

CHECKPOINT = "checkpoint"


def save_checkpoint(folder: Path, sae: torch.nn.Module, opt: torch.optim.Optimizer,
                    dead: torch.Tensor, state: dict[str, Any],
                    best: dict[str, torch.Tensor] | None = None) -> None:
    """Write the checkpoint folder (replacing an older one atomically)."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        for key, value in opt.state.get(p, {}).items():
            tensors[f"optim.{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for k, v in (best or {}).items():
        tensors[f"best.{k}"] = v.detach().cpu().contiguous()
    tensors["dead_counter"] = dead.cpu()
    tensors["torch_rng"] = torch.get_rng_state()
    device = next(sae.parameters()).device
    if torch.cuda.is_available() and device.type == "cuda":
        tensors["cuda_rng"] = torch.cuda.get_rng_state(device)
    with atomic_dir(folder, overwrite=True, owned=True) as tmp:
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps(state, indent=2))


def load_checkpoint(folder: Path, sae: torch.nn.Module, opt: torch.optim.Optimizer,
                    dead: torch.Tensor) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Restore what `save_checkpoint` wrote; (state.json, best weights or None)."""
    from safetensors.torch import load_file

    try:
        state = json.loads((folder / "state.json").read_text())
        tensors = load_file(str(folder / "state.safetensors"))
    except Exception as exc:
        raise InputError(f"{folder}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
    sae.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    device = next(sae.parameters()).device
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
    if "cuda_rng" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["cuda_rng"], device)
    best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    return state, best or None
