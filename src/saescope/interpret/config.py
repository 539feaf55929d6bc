"""`InterpretConfig`: inputs, output folder and settings of one interpretation run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from saescope.errors import ConfigError
from saescope.interpret.examples import ExampleConfig
from saescope.interpret.keywords import KeywordsConfig
from saescope.interpret.scorers import LLM_SCORERS, ScorerConfig, parse_scorers

EXPLAINER_NAMES = ("keywords", "llm")


@dataclass
class ExplainPromptConfig:
    """What the LLM explainer is shown: an example budget small models can follow (as delphi's
    explainers cap their examples)."""

    n_positive: int = 10
    """Activating examples shown at most (strongest first: top examples, then quantile ones)."""
    n_negative: int = 0
    """Non-activating examples shown at most (0, as delphi's default explainer: small models
    mistake a contrast list for more examples)."""
    max_chars: int = 200
    """Characters of each example shown."""
    budget_chars: int = 2400
    """Characters of all quoted examples together (about 600 tokens); later examples are left out."""
    max_tokens: int = 40
    """Token budget of an explanation answer."""

    def __post_init__(self) -> None:
        if self.n_positive < 1 or self.n_negative < 0:
            raise ConfigError("ExplainPromptConfig: n_positive must be >= 1 and n_negative >= 0")
        if self.max_chars < 20 or self.budget_chars < self.max_chars or self.max_tokens < 4:
            raise ConfigError("ExplainPromptConfig: max_chars >= 20, budget_chars >= max_chars, max_tokens >= 4")


@dataclass
class InterpretConfig:
    """Settings of `saescope interpret` (and `run_interpret`)."""

    sae: str | None = None
    """SAE folder (cfg.json + sae.safetensors); inputs of `run_interpret(cfg)`."""
    data: str | None = None
    """Vectors the SAE was trained on (Parquet with id, embedding[, text]; .npy; .safetensors)."""
    texts: str | None = None
    """Corpus with the texts, joined with `data` on `id_field` (None: a text column of `data`)."""
    text_field: str = "text"
    """Text column or field."""
    id_field: str = "id"
    """Id column or field shared by `data` and `texts`."""
    column: str | None = None
    """Vector column of `data` (default: embedding or emb)."""
    out: str | None = None
    """Output folder (latents.parquet, examples.parquet, summary.json, manifest.json)."""
    explainer: str = "keywords"
    """`keywords` (offline, no model) or `llm`."""
    scorers: tuple[str, ...] = ("embedding",)
    """Scorers to run: embedding, detection, prediction, simulation, intruder."""
    latents: str = "all"
    """Which latents: `all`, `N` (N live latents drawn at random with `seed`) or a list `i,j,k`."""
    min_fires: int = 1
    """With `latents=N`, draw only among latents firing on at least this many rows."""
    examples: ExampleConfig = field(default_factory=ExampleConfig)
    """How many examples of each kind per latent."""
    keywords: KeywordsConfig = field(default_factory=KeywordsConfig)
    """Settings of the keywords explainer."""
    scoring: ScorerConfig = field(default_factory=ScorerConfig)
    """Settings shared by the scorers."""
    explain_prompt: ExplainPromptConfig = field(default_factory=ExplainPromptConfig)
    """What the LLM explainer is shown."""
    llm_model: str | None = None
    """LLM: the server's model name with `llm_base_url`, else a local model (`smollm2` default)."""
    llm_base_url: str | None = None
    """Root of an OpenAI-compatible server (ending in /v1); None = local transformers model."""
    concurrency: int = 8
    """LLM requests in flight at once."""
    llm_timeout: float = 120.0
    """Total seconds one LLM request may take (connect, send, the whole answer) before it is
    abandoned and retried."""
    llm_logprobs: bool = False
    """Ask the server for token logprobs (detection AUROC); the local backend always has them."""
    cache_path: str | None = None
    """LLM response cache (SQLite); None = `$SAESCOPE_CACHE_DIR` or the user cache folder."""
    embedder: str = "minilm"
    """Sentence model of the embedding scorer (`minilm` offline, a local folder or a hub name)."""
    device: str = "cpu"
    """Device of local models (cpu, cuda, auto)."""
    chunk_latents: int = 64
    """Latents per unit of work (resume granularity)."""
    family_min_weight: float = 0.1
    """Smallest normalised co-occurrence kept as an edge of the family graph."""
    n_similar: int = 5
    """Similar latents (decoder cosine) listed per latent."""
    token_window_before: int = 12
    """Token-level runs (a per-token store): tokens of context shown before an example's token."""
    token_window_after: int = 4
    """Token-level runs: tokens of context shown after an example's token."""
    token_keyword_window: int = 2
    """Token-level runs: tokens either side of the firing token that the keywords explainer reads."""
    price_in_per_mtok: float = 0.0
    """Cost per million prompt tokens, for the manifest's cost estimate."""
    price_out_per_mtok: float = 0.0
    """Cost per million completion tokens."""
    seed: int = 0
    """The run's one seed: latent sampling, examples, shuffled baselines, scorers, bootstrap
    (it overrides `examples.seed` and `scoring.seed`)."""
    overwrite: bool = False
    """Replace a finished output folder (LLM answers still come from the cache)."""

    def __post_init__(self) -> None:
        if self.explainer not in EXPLAINER_NAMES:
            raise ConfigError(f"--explainer must be one of {', '.join(EXPLAINER_NAMES)}, got {self.explainer!r}")
        self.scorers = tuple(parse_scorers(self.scorers))
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.chunk_latents < 1:
            raise ConfigError(f"chunk_latents must be >= 1, got {self.chunk_latents}")
        if self.min_fires < 0:
            raise ConfigError(f"min_fires must be >= 0, got {self.min_fires}")
        for name in ("token_window_before", "token_window_after", "token_keyword_window"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        self.latents = str(self.latents).strip()
        self.examples.seed = self.seed
        self.scoring.seed = self.seed

    @property
    def needs_llm(self) -> bool:
        return self.explainer == "llm" or any(s in LLM_SCORERS for s in self.scorers)

    def fingerprint(self) -> str:
        """What determines the results (not overwrite/concurrency/paths), for resume checks."""
        self.examples.seed = self.scoring.seed = self.seed
        d = asdict(self)
        for k in ("overwrite", "concurrency", "chunk_latents", "cache_path", "llm_timeout", "out"):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def select_latents(spec: str, n_fires: np.ndarray, min_fires: int, seed: int) -> np.ndarray:
    """Latent indices from `all`, `N` or `i,j,k` (validated against the SAE's size)."""
    num_latents = len(n_fires)
    spec = spec.strip().lower()
    if spec == "all":
        return np.arange(num_latents)
    if "," not in spec and spec.isdigit():
        n = int(spec)
        live = np.flatnonzero(n_fires >= max(1, min_fires))
        if n < 1:
            raise ConfigError("--select/--latents N needs N >= 1")
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(live, size=min(n, len(live)), replace=False))
    try:
        ids = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--select/--latents must be 'all', a count N, or indices i,j,k (got {spec!r})") from None
    bad = [i for i in ids if not 0 <= i < num_latents]
    if bad:
        raise ConfigError(f"--select/--latents: index {bad[0]} out of range (the SAE has {num_latents} latents)")
    return np.array(sorted(set(ids)), dtype=np.int64)
