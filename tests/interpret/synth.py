"""Small synthetic corpora with known latents, shared by the interpret tests."""

from __future__ import annotations

import zlib

import numpy as np
import scipy.sparse as sp

TOPICS = [
    ["volcano", "lava", "magma", "eruption", "crater", "ash"],
    ["violin", "orchestra", "symphony", "concerto", "cello", "melody"],
    ["protein", "enzyme", "amino", "peptide", "ribosome", "catalysis"],
    ["senate", "election", "ballot", "senator", "vote", "campaign"],
    ["glacier", "iceberg", "tundra", "permafrost", "polar", "frost"],
    ["compiler", "parser", "syntax", "bytecode", "lexer", "grammar"],
]
COMMON = ["people", "often", "study", "important", "various", "question", "known", "many"]


def corpus(n: int = 600, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n texts, each about one topic (6 topic words + 4 common words); returns texts, topic ids."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, len(TOPICS), size=n)
    texts = []
    for t in topic:
        words = list(rng.choice(TOPICS[t], 4, replace=False)) + list(rng.choice(COMMON, 4))
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, topic


def topic_codes(topic: np.ndarray, n_dead: int = 1, seed: int = 0) -> sp.csr_matrix:
    """Latent k fires (activation 1..3) exactly on texts of topic k; `n_dead` latents never fire."""
    rng = np.random.default_rng(seed)
    n = len(topic)
    acts = (1 + 2 * rng.random(n)).astype(np.float32)
    M = len(TOPICS) + n_dead
    return sp.csr_matrix((acts, (np.arange(n), topic)), shape=(n, M))


def hash_embed(texts: list[str], d: int = 256) -> np.ndarray:
    """Bag-of-words hashing embedder (deterministic, no model): normalised word-count vectors."""
    V = np.zeros((len(texts), d), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().replace(",", " ").split():
            V[i, zlib.crc32(w.encode()) % d] += 1.0
    return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
