"""`resolve_device`: the one rule every stage uses to turn a device name into a device."""

from __future__ import annotations

from saescope.errors import ConfigError


def resolve_device(device: str = "auto") -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; `cpu`, `mps`, `cuda`, `cuda:N` are
    checked (ConfigError naming the value) and returned as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        index = device[5:] if device.startswith("cuda:") else ""
        if device != "cuda" and not index.isdigit():
            raise ConfigError(f"unknown device {device!r} (expected auto, cpu, cuda or cuda:N)")
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but no CUDA GPU is visible")
        if index and int(index) >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s) visible")
        return device
    if device not in ("cpu", "mps"):
        raise ConfigError(f"unknown device {device!r} (expected auto, cpu, cuda or cuda:N)")
    return device


def check_device_name(device: str) -> None:
    """ConfigError for a name `resolve_device` would never accept (no hardware check)."""
    ok = device in ("auto", "cpu", "mps", "cuda") or (
        device.startswith("cuda:") and device[5:].isdigit())
    if not ok:
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
