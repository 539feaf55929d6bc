"""Data: read corpora, built-in data sets, sentence embeddings, LLM activations, vector stores."""

from saescope.data.vectors import VectorTable, check_finite, read_vectors

__all__ = ["VectorTable", "check_finite", "read_vectors"]
