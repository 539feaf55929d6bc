"""Configuration of a curation run (`saescope curate`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from saescope.errors import ConfigError

SPACES = ("sae", "sae-idf", "sae-centered", "sae-enrich", "embedding", "embedding-centered",
          "random")
"""Similarity spaces; `features` is chosen by `features`/`feature_query`, not by name."""
SAE_SPACES = ("sae", "sae-idf", "sae-centered", "sae-enrich")
AGGREGATES = ("centroid", "max")
QUOTAS = ("equal", "seeds")
EXECUTORS = ("local", "ray")


@dataclass
class CurateConfig:
    """Everything that determines a curation run; stored in `manifest.json` under `config`."""

    seeds: str | None
    """Seed set: vector file (Parquet with `id`, `embedding`; .npy; .safetensors) or a text corpus."""
    pool: str
    """Pool: vector Parquet file or folder of shards, or a text corpus (embedded on the fly)."""
    out: str
    """Output folder (selected.parquet, manifest.json, scores/, projection.parquet)."""
    budget: int | None = None
    """Number of pool rows to select (after the threshold); None selects all above the threshold."""
    space: str = "sae"
    """Space: sae | sae-idf | sae-centered | sae-enrich | embedding | embedding-centered | random."""
    aggregate: str = "centroid"
    """Score of a pool row: cosine to the seed centroid (`centroid`) or to its nearest seed (`max`)."""
    sae: str | None = None
    """SAE folder (cfg.json + sae.safetensors); required by the sae spaces and by features."""
    features: list[int] | None = None
    """Select by these latents: score = sum of their activations (the SAE code, unweighted)."""
    feature_query: str | None = None
    """Select by the latents whose explanation contains this text (needs `interpretation`)."""
    interpretation: str | None = None
    """An interpret output folder (latents.parquet) for `feature_query`."""
    clusters: int = 0
    """k-means clusters for per-cluster quotas (0: no clustering)."""
    quota: str = "equal"
    """Per-cluster quotas: `equal` (round robin) or `seeds` (in proportion to the seeds' clusters)."""
    threshold: float | None = None
    """Keep only pool rows with score >= threshold (applied before the budget)."""
    dedup: float | None = None
    """Drop a row whose input-space cosine to a better-ranked selected row is >= this value."""
    label_field: str | None = None
    """Pool (and seed) column holding a label, for the label distribution and precision/recall."""
    target: list[str] | None = None
    """Label value(s) counted as on-target for precision/recall/F1 (needs `label_field`)."""
    embedder: str = "minilm"
    """Sentence model for text inputs: `minilm`, a local folder or a hub name."""
    activations_model: str | None = None
    """Embed text inputs as LLM hidden states of this model instead (`smollm2`, path, hub name)."""
    layer: int | None = None
    """Layer of `activations_model` (required with it)."""
    text_field: str = "text"
    """Text column of text-corpus inputs."""
    executor: str = "local"
    """`local` (this machine) or `ray` (Ray Data; needs `saescope[ray]`)."""
    workers: int = 1
    """Local executor: processes scoring shards in parallel (1: in this process)."""
    ray_address: str | None = None
    """Ray executor: cluster address for `ray.init(address=...)`; None starts or joins a local one."""
    chunk_size: int = 8192
    """Pool rows per matrix product (bounds memory: chunk x (seeds + clusters) floats)."""
    shard_rows: int = 262_144
    """Rows per scoring shard (whole Parquet row groups; each file is at least one shard)."""
    fit_sample: int = 50_000
    """Pool rows sampled to estimate pool statistics (mean, latent frequencies) and fit k-means."""
    projection_sample: int = 5000
    """Pool rows sampled for projection.parquet."""
    device: str = "auto"
    """`auto` (CUDA when available), `cpu` or `cuda`."""
    seed: int = 0
    """Random seed (samples, k-means, random space)."""
    baselines: list[str] = field(default_factory=list)
    """Extra spaces evaluated with the same seeds, budget and quotas (metrics only)."""
    drop_nonfinite: bool = False
    """Leave out seed and pool rows holding NaN or Inf (default: refuse them, naming the row)."""
    write_jsonl: bool = False
    """Also write selected.jsonl."""
    overwrite: bool = False
    """Replace a finished output folder (a partial one is always resumed)."""

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ConfigError(f"space: unknown {self.space!r} (choose from {', '.join(SPACES)})")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate: unknown {self.aggregate!r} (centroid or max)")
        if self.quota not in QUOTAS:
            raise ConfigError(f"quota: unknown {self.quota!r} (equal or seeds)")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor: unknown {self.executor!r} (local or ray)")
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"budget must be >= 1, got {self.budget}")
        if self.budget is None and self.threshold is None:
            raise ConfigError("give a budget, a threshold, or both")
        if self.clusters < 0:
            raise ConfigError(f"clusters must be >= 0, got {self.clusters}")
        if self.dedup is not None and not -1.0 < self.dedup <= 1.0:
            raise ConfigError(f"dedup must be a cosine in (-1, 1], got {self.dedup}")
        if self.features is not None and self.feature_query is not None:
            raise ConfigError("give features or feature_query, not both")
        if self.features is not None and len(self.features) == 0:
            raise ConfigError("features: empty list")
        if self.features is not None and any(f < 0 for f in self.features):
            raise ConfigError(f"features: negative latent index in {self.features}")
        if self.feature_query is not None and self.interpretation is None:
            raise ConfigError("feature_query needs an interpretation folder (latents.parquet)")
        if self.uses_sae and self.sae is None:
            what = f"space {self.space!r}" if self.space in SAE_SPACES else "feature selection"
            raise ConfigError(f"{what} needs an SAE folder (--sae)")
        if self.seeds is None and not self.by_features:
            raise ConfigError("seeds are required (only feature selection runs without seeds)")
        if self.target is not None and self.label_field is None:
            raise ConfigError("target needs label_field")
        if self.activations_model is not None and self.layer is None:
            raise ConfigError("activations_model needs a layer")
        for name in ("chunk_size", "shard_rows", "fit_sample", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.projection_sample < 0:
            raise ConfigError(f"projection_sample must be >= 0, got {self.projection_sample}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device: unknown {self.device!r} (auto, cpu or cuda)")
        for b in self.baselines:
            if b not in SPACES:
                raise ConfigError(f"baselines: unknown space {b!r} (choose from {', '.join(SPACES)})")
            if b in SAE_SPACES and self.sae is None:
                raise ConfigError(f"baseline {b!r} needs an SAE folder (--sae)")

    @property
    def by_features(self) -> bool:
        """Selection by chosen latents rather than by similarity to the seeds."""
        return self.features is not None or self.feature_query is not None

    @property
    def uses_sae(self) -> bool:
        return self.space in SAE_SPACES or self.by_features

    @property
    def out_path(self) -> Path:
        return Path(self.out)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scoring_key(self) -> dict[str, Any]:
        """The fields that determine the per-shard scores (a resume with other values rescores)."""
        keys = ("space", "aggregate", "sae", "features", "feature_query", "interpretation",
                "clusters", "embedder", "activations_model", "layer", "fit_sample", "seed",
                "shard_rows")  # fmt: skip
        return {k: getattr(self, k) for k in keys}
