"""Where a stage that can run on Ray runs (`embed`, `encode`): the one executor config they share.

`saescope.cli.options.ray_options` builds `--executor`, `--ray-address`, `--actors` and
`--gpus-per-actor` from these fields; `saescope.ray_exec.RayConfig` is what the Ray job reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from saescope.errors import ConfigError

EXECUTORS = ("local", "ray")


@dataclass
class ExecutorChoice:
    """Where a stage runs: this machine or a Ray cluster (the fields every Ray-capable stage has:
    `ExecutorConfig` for embed/encode, `saescope.curate.config.ExecutionConfig` for curate)."""

    executor: str = "local"
    """`local` (this machine) or `ray` (Ray Data; needs `pip install 'saescope[ray]'`)."""
    ray_address: str | None = None
    """Ray: `ray.init(address=...)`, e.g. auto; None starts (or joins) a local Ray."""

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor: unknown {self.executor!r} (choose from {', '.join(EXECUTORS)})")


@dataclass
class ExecutorConfig(ExecutorChoice):
    """This machine, or a Ray cluster through Ray Data (one output part per input file)."""

    actors: int | None = None
    """Ray: actor pool size (model copies); None = one per free GPU, or per 2 free CPUs."""
    gpus_per_actor: float = 0.0
    """Ray: GPUs per actor (1 = one GPU per model copy; the model then runs on CUDA)."""

    def ray_config(self, **extra: object):  # noqa: ANN201 (ray_exec is imported on demand)
        """The `saescope.ray_exec.RayConfig` of these settings (`extra`: its other fields)."""
        from saescope.ray_exec import RayConfig

        return RayConfig(address=self.ray_address, actors=self.actors,
                         gpus_per_actor=self.gpus_per_actor, **extra)  # type: ignore[arg-type]
