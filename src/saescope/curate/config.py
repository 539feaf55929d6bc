"""Configuration of a curation run (`saescope curate`), in four groups.

`CurateConfig` holds an `InputsConfig` (what is read), a `SelectionConfig` (how rows are
scored and chosen), an `ExecutionConfig` (where and in what pieces the work runs) and an
`OutputConfig` (what is written). Field names are unique across the groups, so a run can also
be given flat (`CurateConfig(seeds=..., pool=..., out=..., budget=...)`), and `to_dict()` /
`manifest.json["config"]` is that flat view. The CLI builds its options from these dataclasses
(`cli/curate.py`), so every default lives here once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from saescope.config_docs import field_default as field_default  # re-exported
from saescope.config_docs import field_docs as field_docs  # re-exported
from saescope.curate.spaces.enrich import EnrichConfig
from saescope.curate.spaces.graph import GraphConfig
from saescope.curate.spaces.pu import PUConfig
from saescope.curate.text import TEXT_MAX_TERMS
from saescope.errors import ConfigError
from saescope.execution import EXECUTORS as EXECUTORS  # re-exported
from saescope.execution import ExecutorChoice

SPACES = ("embedding-graph", "sae-pu", "sae", "sae-idf", "sae-centered", "sae-enrich", "embedding",
          "embedding-centered", "embedding-pu", "random")
"""Selection spaces; `features` is chosen by `features`/`feature_query`, not by name."""
SAE_SPACES = ("sae-pu", "sae", "sae-idf", "sae-centered", "sae-enrich")
DEFAULT_SPACE = "embedding-graph"
"""The space that wins `benchmarks/curate_mmlu.py` (see the README's Curation section)."""
AGGREGATES = ("centroid", "max")
QUOTAS = ("equal", "seeds")
DEVICES = ("auto", "cpu", "cuda")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: unknown {value!r} (choose from {', '.join(allowed)})")


@dataclass
class InputsConfig:
    """What a curation reads: seeds, pool, SAE, labels, and how text inputs become vectors."""

    seeds: str | None = None
    """Seed set: vector file (Parquet with `id`, `embedding`; .npy; .safetensors) or a text corpus."""
    pool: str = ""
    """Pool: vector Parquet file or folder of shards, or a text corpus (embedded on the fly)."""
    sae: str | None = None
    """SAE folder (cfg.json + sae.safetensors); required by the sae spaces and by features."""
    interpretation: str | None = None
    """An interpret output folder (latents.parquet): explanations of the latents behind each
    selection, and the latents `feature_query` searches."""
    label_field: str | None = None
    """Pool (and seed) column holding a label, for the label distribution and precision/recall."""
    target: list[str] | None = None
    """Label value(s) counted as on-target for precision/recall/F1 (needs `label_field`)."""
    text_field: str = "text"
    """Text column: of text-corpus inputs, and of vector inputs for excluding pool rows whose
    text is exactly a seed's."""
    embedder: str = "minilm"
    """Sentence model for text inputs: `minilm`, a local folder or a hub name."""
    activations_model: str | None = None
    """Embed text inputs as LLM hidden states of this model instead (`smollm2`, path, hub name)."""
    layer: int | None = None
    """Layer of `activations_model` (required with it)."""
    drop_nonfinite: bool = False
    """Leave out seed and pool rows holding NaN or Inf (default: refuse them, naming the row)."""

    def __post_init__(self) -> None:
        if not self.pool:
            raise ConfigError("pool is required")
        if self.target is not None and self.label_field is None:
            raise ConfigError("target needs label_field")
        if self.activations_model is not None and self.layer is None:
            raise ConfigError("activations_model needs a layer")


@dataclass
class SelectionConfig:
    """How pool rows are scored and chosen."""

    budget: int | None = None
    """Number of pool rows to select (after the threshold); None selects all above the threshold."""
    space: str = DEFAULT_SPACE
    """Space: embedding-graph | sae-pu | sae | sae-idf | sae-centered | sae-enrich | embedding |
    embedding-centered | embedding-pu | random (see `curate/spaces/`). `embedding-graph` needs no SAE;
    given one, it says which latents each selected row shares with the seeds."""
    aggregate: str = "centroid"
    """Score of a pool row in the cosine spaces: cosine to the seed centroid (`centroid`) or to its
    nearest seed (`max`)."""
    features: list[int] | None = None
    """Select by these latents: score = sum of their activations (rows where none fires are not
    selected)."""
    feature_query: str | None = None
    """Select by the latents whose explanation contains this text (needs `interpretation`)."""
    use_text: bool = True
    """`embedding-graph`: add the texts' word n-grams (lexical graph channel and a self-trained
    classifier) when the seeds and the pool both have the text column; off: embeddings only."""
    text_max_terms: int = TEXT_MAX_TERMS
    """`embedding-graph` with texts: keep each text's this many highest-weighted (tf-idf) word
    n-grams; bounds the cost of the word products on long texts (0: all n-grams)."""
    clusters: int = 0
    """k-means clusters for per-cluster quotas (0: no clustering)."""
    quota: str = "equal"
    """Per-cluster quotas: `equal` (round robin) or `seeds` (in proportion to the seeds' clusters)."""
    threshold: float | None = None
    """Keep only pool rows with score >= threshold (applied before the budget)."""
    dedup: float | None = None
    """Drop a row whose input-space cosine to a better-ranked selected row is >= this value."""
    explain_latents: int = 5
    """Latents listed per selected row (`top_latents`, largest contribution to its score first)."""
    seed: int = 0
    """Random seed (samples, k-means, random space, tie-breaks)."""
    graph: GraphConfig = field(default_factory=GraphConfig)
    """Parameters of `embedding-graph` (neighbours, propagation, nodes, lexical channel)."""
    pu: PUConfig = field(default_factory=PUConfig)
    """Parameters of the PU classifier (`sae-pu`, `embedding-pu`)."""
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    """Parameters of `sae-enrich`."""

    def __post_init__(self) -> None:
        for name, cls in NESTED.items():  # dicts from JSON (a manifest's config) or `asdict`
            if isinstance(getattr(self, name), dict):
                setattr(self, name, cls(**getattr(self, name)))
        _choice("space", self.space, SPACES)
        _choice("aggregate", self.aggregate, AGGREGATES)
        _choice("quota", self.quota, QUOTAS)
        if self.budget is not None and self.budget < 1:
            raise ConfigError(f"budget must be >= 1, got {self.budget}")
        if self.budget is None and self.threshold is None:
            raise ConfigError("give a budget, a threshold, or both")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ConfigError(f"--threshold must be a finite number, got {self.threshold!r} "
                              "(no row's score is >= nan)")
        if self.clusters < 0:
            raise ConfigError(f"clusters must be >= 0, got {self.clusters}")
        if self.text_max_terms < 0:
            raise ConfigError(f"text_max_terms must be >= 0 (0: all n-grams), got {self.text_max_terms}")
        if self.explain_latents < 0:
            raise ConfigError(f"explain_latents must be >= 0, got {self.explain_latents}")
        if self.dedup is not None and not -1.0 < self.dedup <= 1.0:
            raise ConfigError(f"dedup must be a cosine in (-1, 1], got {self.dedup}")
        if self.features is not None and self.feature_query is not None:
            raise ConfigError("give features or feature_query, not both")
        if self.features is not None and len(self.features) == 0:
            raise ConfigError("features: empty list")
        if self.features is not None and any(f < 0 for f in self.features):
            raise ConfigError(f"features: negative latent index in {self.features}")

    @property
    def by_features(self) -> bool:
        """Selection by chosen latents rather than by similarity to the seeds."""
        return self.features is not None or self.feature_query is not None


NESTED: dict[str, type] = {"graph": GraphConfig, "pu": PUConfig, "enrich": EnrichConfig}
"""`SelectionConfig`'s nested family configs (field -> dataclass)."""


@dataclass
class ExecutionConfig(ExecutorChoice):
    """Where the scoring runs and in what pieces (changes speed and memory, not the result);
    `executor` and `ray_address` are `saescope.execution.ExecutorChoice`'s."""

    workers: int = 1
    """Local executor: processes scoring shards in parallel (1: in this process)."""
    chunk_size: int = 8192
    """Pool rows per matrix product (bounds memory: chunk x (seeds + clusters) floats)."""
    shard_rows: int = 262_144
    """Rows per scoring shard (whole Parquet row groups; each file is at least one shard)."""
    fit_sample: int = 50_000
    """Pool rows sampled to estimate pool statistics (mean, latent frequencies, the PU
    classifier's unlabelled rows) and fit k-means."""
    device: str = "auto"
    """`auto` (CUDA when available), `cpu` or `cuda`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _choice("device", self.device, DEVICES)
        for name in ("chunk_size", "shard_rows", "fit_sample", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class OutputConfig:
    """What a curation writes (and which extra spaces it evaluates for the manifest)."""

    out: str = ""
    """Output folder (selected.parquet, manifest.json, scores/, projection.parquet)."""
    baselines: list[str] = field(default_factory=list)
    """Extra spaces evaluated with the same seeds, budget and quotas (metrics only)."""
    projection_sample: int = 5000
    """Pool rows sampled for projection.parquet (0: none)."""
    write_jsonl: bool = False
    """Also write selected.jsonl."""
    overwrite: bool = False
    """Replace a finished output folder (a partial one is always resumed)."""

    def __post_init__(self) -> None:
        if not self.out:
            raise ConfigError("out is required")
        if self.projection_sample < 0:
            raise ConfigError(f"projection_sample must be >= 0, got {self.projection_sample}")
        for b in self.baselines:
            _choice("baselines", b, SPACES)


GROUPS: dict[str, type] = {"inputs": InputsConfig, "selection": SelectionConfig,
                           "execution": ExecutionConfig, "output": OutputConfig}
"""Group name -> dataclass, in the order of `CurateConfig`."""
FIELD_GROUP: dict[str, str] = {f.name: g for g, cls in GROUPS.items() for f in fields(cls)}
"""Flat field name -> its group."""


class CurateConfig:
    """Everything that determines a curation run; its flat view is `manifest.json["config"]`.

    Give the groups (`inputs=InputsConfig(...)`, ...) or flat fields (`pool=..., budget=...`),
    which are routed to their group; a flat field overrides the same field of a given group.
    """

    inputs: InputsConfig
    selection: SelectionConfig
    execution: ExecutionConfig
    output: OutputConfig

    def __init__(self, inputs: InputsConfig | None = None, selection: SelectionConfig | None = None,
                 execution: ExecutionConfig | None = None, output: OutputConfig | None = None,
                 **flat: Any) -> None:
        given = {"inputs": inputs, "selection": selection, "execution": execution, "output": output}
        per_group: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
        for name, value in flat.items():
            if name not in FIELD_GROUP:
                raise ConfigError(f"curate: unknown option {name!r}")
            per_group[FIELD_GROUP[name]][name] = value
        for g, cls in GROUPS.items():
            base = asdict(given[g]) if given[g] is not None else {}
            setattr(self, g, cls(**{**base, **per_group[g]}))
        self._check()

    def _check(self) -> None:
        sel, inp = self.selection, self.inputs
        if sel.feature_query is not None and inp.interpretation is None:
            raise ConfigError("feature_query needs an interpretation folder (latents.parquet)")
        if self.uses_sae and inp.sae is None:
            what = f"space {sel.space!r}" if sel.space in SAE_SPACES else "feature selection"
            raise ConfigError(f"{what} needs an SAE folder (--sae)")
        if inp.seeds is None and not sel.by_features:
            raise ConfigError("seeds are required (only feature selection runs without seeds)")
        for b in self.output.baselines:
            if b in SAE_SPACES and inp.sae is None:
                raise ConfigError(f"baseline {b!r} needs an SAE folder (--sae)")

    @property
    def by_features(self) -> bool:
        return self.selection.by_features

    @property
    def uses_sae(self) -> bool:
        """The SAE is required (an SAE space or feature selection)."""
        return self.selection.space in SAE_SPACES or self.selection.by_features

    @property
    def loads_sae(self) -> bool:
        """The SAE is loaded: required, used by a baseline, or given to explain the rows."""
        return (self.uses_sae or self.inputs.sae is not None
                or any(b in SAE_SPACES for b in self.output.baselines))

    @property
    def out_path(self) -> Path:
        return Path(self.output.out)

    def replace(self, **flat: Any) -> CurateConfig:
        """A copy with some flat fields changed."""
        return CurateConfig(**{**self.to_dict(), **flat})

    def to_dict(self) -> dict[str, Any]:
        """The flat view: every field of every group under its own name."""
        out: dict[str, Any] = {}
        for g in GROUPS:
            out.update(asdict(getattr(self, g)))
        return out

    def to_nested(self) -> dict[str, dict[str, Any]]:
        return {g: asdict(getattr(self, g)) for g in GROUPS}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> CurateConfig:
        """Inverse of `to_dict` (also takes the nested form of `to_nested`)."""
        if set(d) <= set(GROUPS):
            return CurateConfig(**{g: GROUPS[g](**v) for g, v in d.items()})
        return CurateConfig(**d)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CurateConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return "CurateConfig(" + ", ".join(f"{g}={getattr(self, g)!r}" for g in GROUPS) + ")"

    def scoring_key(self) -> dict[str, Any]:
        """The fields that determine the per-shard scores (a resume with other values rescores)."""
        keys = ("space", "aggregate", "sae", "features", "feature_query", "interpretation",
                "use_text", "text_max_terms", "text_field", "clusters", "embedder", "activations_model", "layer", "fit_sample", "seed",
                "shard_rows", "graph", "pu", "enrich")  # fmt: skip
        flat = self.to_dict()
        return {k: flat[k] for k in keys}
