"""Sentence embeddings with sentence-transformers, written in the vector Parquet layout.

`Embedder` is a thin wrapper over `SentenceTransformer.encode` (same vectors, bit for bit);
`embed_table` embeds a corpus table shard by shard into Parquet (`id`, `embedding` as
fixed_size_list<float32>[d], passthrough columns) and resumes an interrupted run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from saescope.data.models import resolve_device, resolve_sentence_model
from saescope.data.shards import ShardedWriter, vectors_to_arrow
from saescope.errors import ConfigError, InputError


class Embedder:
    """Sentence embeddings from a sentence-transformers model.

    `model`: `minilm` (all-MiniLM-L6-v2, offline), a local model folder, or a hub name.
    """

    def __init__(
        self,
        model: str = "minilm",
        device: str = "auto",
        batch_size: int = 64,
        normalize: bool = True,
        max_seq_length: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        from sentence_transformers import SentenceTransformer

        self.model_name = model
        self.source = resolve_sentence_model(model)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.normalize = normalize
        try:
            self.model: Any = SentenceTransformer(self.source, device=self.device)
        except OSError as exc:
            raise InputError(f"cannot load sentence model {model!r}: {exc}") from None
        if max_seq_length is not None:
            self.model.max_seq_length = max_seq_length

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        # sentence-transformers renamed the method in v5; accept both spellings.
        get_dim = getattr(self.model, "get_embedding_dimension", None)
        if get_dim is None:
            get_dim = self.model.get_sentence_embedding_dimension
        return int(get_dim())

    def fingerprint(self) -> str:
        """What determines the vectors (model, normalisation, max length), for resume checks."""
        return f"st:{self.source}:norm={self.normalize}:maxlen={self.model.max_seq_length}"

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """float32 [N, dim] embeddings of `texts`, in order."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        X = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(X, dtype=np.float32)


def embed_table(
    table: pa.Table,
    out_path: str | Path,
    embedder: Embedder | None = None,
    model: str = "minilm",
    text_field: str = "text",
    shard_size: int = 4096,
    overwrite: bool = False,
    progress: bool = True,
    **embedder_kwargs: Any,
) -> Path:
    """Embed `table[text_field]` into the vector Parquet layout at `out_path`.

    Output: `out_path` ending in `.parquet` -> one file; otherwise a folder of
    `part-XXXXX.parquet` shards. Columns: `id`, `embedding` (fixed_size_list<float32>[d]),
    then the table's other columns. Work goes shard by shard into a parts folder beside the
    output; a rerun after an interruption skips the shards already done.
    """
    if text_field not in table.column_names:
        raise InputError(f"no text column {text_field!r} (columns: {', '.join(table.column_names)})")
    if "id" not in table.column_names:
        raise InputError(f"the table needs an `id` column (columns: {', '.join(table.column_names)})")
    emb = embedder or Embedder(model=model, **embedder_kwargs)

    def compute(shard: pa.Table) -> pa.Table:
        texts = shard[text_field].to_pylist()
        X = emb.encode([t if t is not None else "" for t in texts])
        return vector_table(shard, X)

    fingerprint = hashlib.sha256(emb.fingerprint().encode()).hexdigest()
    writer = ShardedWriter(out_path, shard_size=shard_size, overwrite=overwrite)
    out = writer.run(table, compute, fingerprint=fingerprint, id_columns=("id", text_field),
                     progress=progress, desc="embed")
    assert isinstance(out, Path)
    return out


def vector_table(source: pa.Table, X: np.ndarray, column: str = "embedding") -> pa.Table:
    """`id` (string), `column` as fixed_size_list<float32>[d], then the other source columns."""
    if len(X) != source.num_rows:
        raise ValueError(f"{len(X)} vectors for {source.num_rows} rows")
    ids = source["id"].cast(pa.string())
    rest = source.drop_columns(["id"] + ([column] if column in source.column_names else []))
    out = pa.table({"id": ids, column: vectors_to_arrow(X)})
    for name in rest.column_names:
        out = out.append_column(rest.schema.field(name), rest[name])
    return out
