"""Hashed word n-gram features of the rows' texts: the lexical channel of `embedding-graph`.

A sentence embedding compresses a text into a few hundred numbers and loses words that tell
close domains apart (high-school from college biology, clinical knowledge from medicine);
DSIR selects pretraining data on hashed n-grams for that reason (Xie et al., NeurIPS 2023,
arXiv:2302.03169). Texts become rows of word unigrams and bigrams hashed into `TEXT_FEATURES`
buckets (scikit-learn's `HashingVectorizer`, no vocabulary to store), with sublinear term
frequency `1 + ln(tf)` and the smoothed inverse document frequency `ln((1 + n) / (1 + df)) + 1`
(Sparck Jones 1972; scikit-learn's `TfidfTransformer`) fitted on the graph's nodes; n-grams in
fewer than 2 nodes or in more than `TEXT_MAX_DF` of them (stop words) get weight 0. Rows are
scaled to unit L2 norm, so the product of two rows is their tf-idf cosine. Optionally a row keeps
only its `max_terms` highest-weighted n-grams before the scaling (document pruning, as static
index pruning keeps each document's top-scoring terms: Carmel et al., SIGIR 2001): the cost of the
sparse products grows with the texts' lengths, and pruning bounds it for long documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from saescope.curate.knn import keep_top
from saescope.linalg import unit_csr

TEXT_FEATURES = 2**18
"""Hash buckets of the n-grams (`2^18`: collisions are rare for corpora of up to ~10^5 texts)."""
TEXT_NGRAMS = (1, 2)
"""Word n-gram lengths (unigrams and bigrams). Word bigrams and character 3-5-grams were equal
on the tuning cells of `benchmarks/curate_mmlu.py`; words are about 6x cheaper to compare."""
TEXT_MAX_DF = 0.2
"""N-grams in more than this share of the nodes are dropped (a stop list without a language)."""
TEXT_MAX_TERMS = 128
"""Default n-grams kept per text, the highest-weighted (0: all). 13% of MMLU questions have more;
on the tuning cells of `benchmarks/curate_mmlu.py` (a throwaway script, not shipped; README,
"Curation") 128 / 64 / 32 kept precision@100 at .704 /
.703 / .701 and @500 at .444 / .442 / .439 (all n-grams: .704 / .444), and on texts of 15 joined
questions (about 760 n-grams) 128 makes the fit of 10,000 nodes 2.9x and the scoring 2.2x faster
(`benchmarks/curate_graph_cost.py --join 15`)."""


def text_hashes(texts: Sequence[str | None]) -> np.ndarray:
    """uint64 hash (blake2b, 8 bytes) of each text with surrounding whitespace stripped; 0 for a
    missing text. Equal hashes mean equal stripped texts (collisions: about n^2 / 2^65)."""
    out = np.zeros(len(texts), dtype=np.uint64)
    for i, t in enumerate(texts):
        if t is not None:
            h = hashlib.blake2b(str(t).strip().encode(), digest_size=8, person=b"saescope-text").digest()
            out[i] = int.from_bytes(h, "little") or 1
    return out


def hashed_counts(texts: Sequence[str | None]) -> sp.csr_matrix:
    """[n, TEXT_FEATURES] float32 sublinear term frequencies `1 + ln(tf)` (None: an empty row)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    if len(texts) == 0:
        return sp.csr_matrix((0, TEXT_FEATURES), dtype=np.float32)
    vec = HashingVectorizer(analyzer="word", ngram_range=TEXT_NGRAMS, n_features=TEXT_FEATURES,
                            alternate_sign=False, norm=None, lowercase=True, dtype=np.float32)
    C = sp.csr_matrix(vec.transform(["" if t is None else str(t) for t in texts]))
    C.data = (1.0 + np.log(C.data)).astype(np.float32)
    return C


def fit_idf(counts: sp.csr_matrix) -> np.ndarray:
    """float32 [TEXT_FEATURES] smoothed idf of the rows of `counts`, 0 for rare and common n-grams."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    idf[(df < 2) | (df > TEXT_MAX_DF * n)] = 0.0
    return idf.astype(np.float32)


def text_units(texts: Sequence[str | None] | sp.csr_matrix, idf: np.ndarray,
               max_terms: int = 0) -> sp.csr_matrix:
    """Unit tf-idf rows [n, TEXT_FEATURES] of `texts` or of their `hashed_counts` (a text without
    a weighted n-gram is a zero row); `max_terms`: keep each row's that many largest weights
    (ties: the lower bucket), 0 keeps all."""
    A = sp.csr_matrix(texts, copy=True) if sp.issparse(texts) else hashed_counts(texts)
    A.data *= idf[A.indices]
    A.eliminate_zeros()
    if max_terms > 0:
        A = prune_rows(A, max_terms)
    return sp.csr_matrix(unit_csr(A), dtype=np.float32)


def prune_rows(A: sp.csr_matrix, max_terms: int) -> sp.csr_matrix:
    """`A` (CSR, no explicit zeros; its indices are sorted in place) with only the `max_terms`
    largest entries of each row (ties: the lower column); rows with fewer entries are unchanged."""
    if max_terms < 1:
        raise ValueError(f"max_terms must be >= 1, got {max_terms}")
    return keep_top(A, max_terms)
