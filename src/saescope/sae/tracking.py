"""Optional experiment tracking: TensorBoard event files and Weights & Biases.

Both packages are imported only when asked for. The W&B API key is read by `wandb` itself from
the environment (`WANDB_API_KEY`) or its own login; saescope never stores it.
"""

from __future__ import annotations

from typing import Any

from saescope.errors import ConfigError


class Tracker:
    """Sends the training log lines to the trackers that are configured (possibly none)."""

    def __init__(self, tensorboard: str | None = None, wandb_project: str | None = None,
                 config: dict[str, Any] | None = None, resume_step: int = 0) -> None:
        self._tb = None
        self._wandb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError(
                    "--tensorboard needs the tensorboard package (pip install tensorboard)"
                ) from None
            # purge_step drops events past the checkpoint when a run resumes.
            self._tb = SummaryWriter(log_dir=tensorboard, purge_step=resume_step or None)
        if wandb_project:
            try:
                import wandb
            except ImportError:
                raise ConfigError("--wandb needs the wandb package (pip install wandb)") from None
            self._wandb = wandb.init(project=wandb_project, config=config or {})

    @property
    def active(self) -> bool:
        return self._tb is not None or self._wandb is not None

    def log(self, step: int, values: dict[str, Any]) -> None:
        scalars = {k: float(v) for k, v in values.items()
                   if k != "step" and isinstance(v, (int, float))}
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(f"train/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log({f"train/{k}": v for k, v in scalars.items()}, step=step)

    def summary(self, metrics: dict[str, Any]) -> None:
        """Final validation metrics."""
        scalars = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if self._tb is not None:
            step = int(metrics.get("steps", 0))
            for key, value in scalars.items():
                self._tb.add_scalar(f"val/{key}", value, step)
        if self._wandb is not None:
            self._wandb.summary.update({f"val/{k}": v for k, v in scalars.items()})

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
