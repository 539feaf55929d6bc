"""Configs of the data stages: `embed` (`EmbedConfig`), `activations` (`ActivationsConfig`) and
the built-in data sets' export (`DatasetExportConfig`); `CorpusConfig` is how both stages read
a corpus. The CLI's options are generated from these fields (`saescope.cli.options`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from saescope.errors import ConfigError
from saescope.execution import ExecutorConfig


@dataclass
class CorpusConfig:
    """How `embed` and `activations` read a corpus (`saescope.data.run.load_corpus`)."""

    text_field: str = "text"
    """Field holding the text."""
    id_field: str = "id"
    """Field holding the id ('' = hash of the text)."""
    on_error: str = "raise"
    """Malformed rows: raise (stop) or skip (count)."""
    empty: str = "drop"
    """Empty texts: drop (reported), keep, or error."""
    limit: int | None = None
    """Use only the first N rows."""
    val_fraction: float = 0.0
    """Add a `split` column (train/val) with this val share."""
    group_field: str | None = None
    """Keep all rows of a group on one side of the split."""
    seed: int = 0
    """Seed of the split."""

    def __post_init__(self) -> None:
        if self.group_field is not None and self.val_fraction <= 0:
            raise ConfigError("--group-field needs --val-fraction > 0")


@dataclass
class EmbedConfig:
    """One run of the embed stage (`saescope.data.run_embed`, `saescope embed`)."""

    input: str = ""
    """Corpus (JSONL/CSV/Parquet/folder/HF dataset) or a built-in name."""
    out: str = ""
    """Output .parquet file, or a folder for shards."""
    model: str = "minilm"
    """minilm (offline), a model folder, or a hub name."""
    batch_size: int = 64
    """Texts per encoder batch."""
    device: str = "auto"
    """auto | cpu | cuda."""
    normalize: bool = True
    """L2-normalise embeddings."""
    shard_size: int = 4096
    """Rows per resumable shard."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """How the corpus is read."""
    overwrite: bool = False
    """Replace an existing output."""
    execution: ExecutorConfig = field(default_factory=ExecutorConfig)
    """This machine or a Ray cluster."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class ActivationsConfig:
    """One run of the activations stage (`saescope.data.run_activations`, `saescope activations`)."""

    input: str = ""
    """Corpus (JSONL/CSV/Parquet/folder/HF dataset) or a built-in name."""
    out: str = ""
    """Output .parquet file (or folder); -layerL added for several layers."""
    layers: list[int] = field(default_factory=list)
    """Blocks whose output is read (0-based; negative from the end); empty: the middle block."""
    model: str = "smollm2"
    """smollm2 (offline), a model folder, or a hub name."""
    pooling: str = "mean"
    """mean | max | last | topk."""
    top_k: int = 8
    """topk pooling: tokens of largest norm to average."""
    per_token: bool = False
    """One row per token instead of per document."""
    max_tokens: int = 512
    """Truncate documents to this many tokens."""
    keep_first_token: bool = False
    """Pool the first position too (by default it is left out: the attention sink holds massive
    activations that would dominate every document vector)."""
    batch_size: int = 16
    """Documents per forward pass."""
    dtype: str = "auto"
    """Compute dtype: auto (bfloat16 where the device computes it natively: a CUDA GPU with bf16,
    a CPU with AMX/AVX512-BF16; else float32) | float32 | bfloat16."""
    device: str = "auto"
    """auto | cpu | cuda."""
    shard_size: int = 1024
    """Documents per resumable shard (one shard's activations are held in memory)."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """How the corpus is read."""
    overwrite: bool = False
    """Replace an existing output."""

    def __post_init__(self) -> None:
        if self.corpus.empty == "keep":
            raise ConfigError("activations cannot use --empty keep: an empty text has no tokens")


@dataclass
class DatasetExportConfig:
    """`saescope datasets export`: a built-in data set written to a file."""

    name: str = ""
    """Built-in data set name (see `saescope datasets list`)."""
    out: str = ""
    """Output file: .jsonl, .jsonl.gz, .csv or .parquet."""
    with_choices: bool = False
    """mmlu: append the four answer options to each question."""
    overwrite: bool = False
    """Replace an existing output file."""
