"""Hashed word n-gram features of the rows' texts: the lexical channel of `embedding-graph`.

A sentence embedding compresses a text into a few hundred numbers and loses words that tell
close domains apart (high-school from college biology, clinical knowledge from medicine);
DSIR selects pretraining data on hashed n-grams for that reason (Xie et al., NeurIPS 2023,
arXiv:2302.03169). Texts become rows of word unigrams and bigrams hashed into `TEXT_FEATURES`
buckets (the features of scikit-learn's `HashingVectorizer`, computed here in numpy; no
vocabulary to store), with sublinear term
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
import re
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
    r"""[n, TEXT_FEATURES] float32 sublinear term frequencies `1 + ln(tf)` (None: an empty row).

    The features of scikit-learn's `HashingVectorizer(analyzer="word", ngram_range=TEXT_NGRAMS,
    n_features=TEXT_FEATURES, alternate_sign=False, norm=None, lowercase=True)`, bit for bit
    (tests/curate/test_curate_text.py checks it against scikit-learn): a text is lowercased
    (`str.lower`), its tokens are the matches of scikit-learn's `r"(?u)\b\w\w+\b"` (maximal runs
    of at least two word characters, `re`'s `\w`), its n-grams the tokens and the pairs of
    consecutive tokens joined by one space, and an n-gram's bucket is `|h| mod TEXT_FEATURES` of
    its UTF-8 bytes' 32-bit MurmurHash3 (Appleby; seed 0, signed). Computed for the whole list at
    once with numpy (the texts are joined and classified character by character, every n-gram is
    hashed in one vectorised pass) instead of one Python string per n-gram: about 3x faster."""
    n = len(texts)
    if n == 0:
        return sp.csr_matrix((0, TEXT_FEATURES), dtype=np.float32)
    low = ["" if t is None else str(t).lower() for t in texts]
    joined = "\n".join(low)  # a newline is not a word character: no token spans two texts
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], _is_word(cp), [0]]).astype(np.int8)))
    start, end = edges[0::2], edges[1::2]
    keep = end - start >= 2
    start, end = start[keep], end[keep]
    lens = np.fromiter(map(len, low), dtype=np.int64, count=n)
    row = np.searchsorted(np.cumsum(lens + 1), start, side="right")
    wide = np.flatnonzero(cp >= 0x80)
    if len(wide):  # code point -> UTF-8 byte offset: add the extra bytes of the wide ones before
        c = cp[wide]
        extra = np.concatenate([[0], np.cumsum(1 + (c >= 0x800).astype(np.int64) + (c >= 0x10000))])
        start = start + extra[np.searchsorted(wide, start)]
        end = end + extra[np.searchsorted(wide, end)]
    buf = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    stream, tok_start, tok_len = _token_stream(buf, start, end - start)
    pair = np.flatnonzero(row[1:] == row[:-1])  # bigrams: consecutive tokens of one text
    g_start = np.concatenate([tok_start, tok_start[pair]])
    g_len = np.concatenate([tok_len, tok_len[pair] + 1 + tok_len[pair + 1]])
    h = _murmur3_32(stream, g_start, g_len).view(np.int32).astype(np.int64)
    C = sp.csr_matrix((np.ones(len(h), dtype=np.float32), (np.concatenate([row, row[pair]]),
                                                           np.abs(h) % TEXT_FEATURES)),
                      shape=(n, TEXT_FEATURES), dtype=np.float32)
    C.sum_duplicates()
    C.data = (1.0 + np.log(C.data)).astype(np.float32)
    return C


_WORD = re.compile(r"(?u)\w")
"""`re`'s word character, of which scikit-learn's token pattern is made."""
_ASCII_WORD = np.array([_WORD.match(chr(c)) is not None for c in range(128)])
_WORD_CACHE: dict[int, bool] = {}
"""Non-ASCII code point -> whether `re` takes it for a word character (filled as met)."""


def _is_word(cp: np.ndarray) -> np.ndarray:
    r"""bool [n]: whether each code point is a word character of `re` (`\w`)."""
    out = np.zeros(len(cp), dtype=bool)
    ascii_ = cp < 128
    out[ascii_] = _ASCII_WORD[cp[ascii_]]
    if not ascii_.all():
        u, inv = np.unique(cp[~ascii_], return_inverse=True)
        w = [_WORD_CACHE.setdefault(c, _WORD.match(chr(c)) is not None) for c in u.tolist()]
        out[~ascii_] = np.asarray(w, dtype=bool)[inv]
    return out


def _token_stream(buf: np.ndarray, start: np.ndarray, length: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stream, token starts, token lengths): the tokens' bytes `buf[start:start + length]`, each
    followed by one space, so that a bigram is the contiguous bytes of its two tokens."""
    out_start = np.cumsum(length + 1) - (length + 1)
    stream = np.full(int((length + 1).sum()), 0x20, dtype=np.uint8)
    first = np.cumsum(length) - length
    src = np.arange(int(length.sum())) + np.repeat(start - first, length)
    stream[src + np.repeat(out_start - start, length)] = buf[src]
    return stream, out_start, length


_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _murmur3_32(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """uint32 MurmurHash3_x86_32 (seed 0) of each byte string `buf[start:start + length]`, all
    strings at once: block `j` of every string long enough, longest strings first."""
    pad = np.concatenate([buf, np.zeros(4, dtype=np.uint8)]).astype(np.uint32)
    words = pad[:-3] | (pad[1:-2] << 8) | (pad[2:-1] << 16) | (pad[3:] << 24)  # LE word at each byte
    nblocks = length // 4
    top = int(nblocks.max(initial=0))
    # longest first; a stable sort of 16-bit keys is a radix sort in numpy
    order = np.argsort((top - nblocks).astype(np.uint16 if top < 2**16 else np.int64), kind="stable")
    s, nb = start[order], nblocks[order]
    h = np.zeros(len(order), dtype=np.uint32)
    active = np.searchsorted(-nb, -np.arange(int(nb.max(initial=0))), side="left")  # nb > j
    for j, m in enumerate(active.tolist()):
        k = _rotl(words[s[:m] + 4 * j] * _C1, 15) * _C2
        h[:m] = _rotl(h[:m] ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
    rest = (length[order] & 3).astype(np.int64)
    k = words[s + 4 * nb] & np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], dtype=np.uint32)[rest]
    h ^= _rotl(k * _C1, 15) * _C2  # (0 without a tail)
    h ^= length[order].astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    out = np.empty_like(h)
    out[order] = h
    return out


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
