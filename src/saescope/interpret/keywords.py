"""The `keywords` explainer: offline, deterministic, no model.

For each latent, the terms (words and word pairs) most over-represented in its activating explain
texts against the corpus are ranked by the log-odds ratio with an informative Dirichlet prior
(Monroe, Colaresi & Quinn 2008, "Fightin' Words", Political Analysis 16(4), eq. 16-22):

    delta_w = log((y_w^a + a_w) / (n^a + a_0 - y_w^a - a_w))
            - log((y_w^b + a_w) / (n^b + a_0 - y_w^b - a_w))
    z_w     = delta_w / sqrt(1 / (y_w^a + a_w) + 1 / (y_w^b + a_w))

with y^a the term's count in the activating texts, y^b its count in the rest of the corpus (the
non-activating class), n the class totals and the prior a_w = a_0 * (corpus count of w) /
(corpus total). The top terms by z (with words already covered by a chosen word pair dropped)
become the label, e.g. "photosynthesis, chlorophyll, plant cells". All latents are scored at once
with sparse matrix products, so thousands of latents take seconds.

Texts are normalised first (`clean_text`), as explainers in the field do, whatever the corpus:
URLs (with shortened link codes), e-mail addresses, @handles and HTML entities are removed, a
hashtag keeps its word, and numbers-only and one-letter tokens are never terms. A term made only
of web pieces (`https`, `www`, `amp`, ...) that slipped through is never chosen, and a latent
whose distinctive terms are all such pieces gets no explanation rather than a junk one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from saescope.errors import ConfigError, InputError

if TYPE_CHECKING:
    import scipy.sparse as sp

_URL = re.compile(
    r"\b(?:https?|ftp)\s*:\s*/+\S*"  # scheme URLs, also truncated ones (`https://t.co/ab…`)
    r"|\bwww\.\S+"
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|edu|gov|io|co|ly|gl|me|be|info|biz)\b(?:/\S*)?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_HASHTAG = re.compile(r"(?<![\w&])#(\w)")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);?", re.IGNORECASE)
WEB_PIECES = frozenset({"http", "https", "www", "com", "html", "htm", "amp", "quot", "apos", "nbsp", "gt", "lt"})
"""Words that are pieces of URLs or HTML entities: never a term on their own."""
TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b"
"""Terms: two characters or more, starting with a letter (no numbers-only or one-letter tokens)."""


def clean_text(text: str) -> str:
    """`text` without URLs, e-mail addresses, @handles and HTML entities, hashtags as words,
    lower case: the corpus-agnostic normalisation applied before counting terms."""
    text = html.unescape(text)
    text = _ENTITY.sub(" ", text)  # entities left after unescaping (double-escaped `&amp;amp;`)
    text = _EMAIL.sub(" ", text)  # before URLs: `mail.com` of an address is no link
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _HASHTAG.sub(r"\1", text)
    return text.lower()


def is_web_piece(term: str) -> bool:
    """True when every word of `term` is a URL/HTML piece (`https t`, `amp`): never a label."""
    words = term.split()
    return bool(words) and all(w in WEB_PIECES or len(w) < 2 for w in words)


def read_stop_words(path: str) -> list[str]:
    """Stop words from a text file: one per line (lower-cased), blank lines and `#` comments skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"--stop-words {path}: cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"--stop-words {path}: not UTF-8 text (expected one word per line)") from None
    words = [w.strip().lower() for w in lines]
    return [w for w in words if w and not w.startswith("#")]


@dataclass
class KeywordsConfig:
    """Settings of the keywords explainer."""

    n_terms: int = 4
    """Terms in the label."""
    prior_strength: float = 500.0
    """a_0: total pseudo-count of the corpus prior (larger = more shrinkage of rare terms)."""
    min_doc_count: int = 2
    """A term must occur in at least this many activating texts of the latent."""
    ngram_max: int = 2
    """Longest word n-gram considered (1 = words only)."""
    max_features: int = 50_000
    """Vocabulary size cap (most frequent terms in the corpus)."""
    stop_words: str | None = None
    """Text file of extra stop words (one per line) left out besides the English list."""
    clean: bool = True
    """Normalise texts first: drop URLs, e-mail addresses, @handles, HTML entities; hashtags as words."""

    def __post_init__(self) -> None:
        if self.n_terms < 1:
            raise ConfigError(f"KeywordsConfig.n_terms must be >= 1, got {self.n_terms}")
        if self.prior_strength <= 0:
            raise ConfigError("KeywordsConfig.prior_strength must be > 0")
        if self.ngram_max not in (1, 2, 3):
            raise ConfigError("KeywordsConfig.ngram_max must be 1, 2 or 3")


class KeywordsExplainer:
    """Fit term counts on a corpus once, then label any number of latents from their texts."""

    name = "keywords"

    def __init__(self, cfg: KeywordsConfig | None = None) -> None:
        self.cfg = cfg or KeywordsConfig()

    def fit(self, corpus: Sequence[str]) -> KeywordsExplainer:
        """Learn the vocabulary and corpus term counts (the prior and the background class)."""
        from sklearn.feature_extraction.text import CountVectorizer

        if len(corpus) == 0:
            raise InputError("keywords explainer: the corpus is empty")
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop = sorted(ENGLISH_STOP_WORDS.union(read_stop_words(self.cfg.stop_words) if self.cfg.stop_words else ()))
        self.vectorizer_ = CountVectorizer(
            lowercase=True,
            preprocessor=clean_text if self.cfg.clean else None,
            stop_words=stop,
            ngram_range=(1, self.cfg.ngram_max),
            token_pattern=TOKEN_PATTERN if self.cfg.clean else TOKEN_PATTERN + r"|\b[^\W\d_]\b",
            max_features=self.cfg.max_features,
            dtype=np.float64,
        )
        try:
            D = self.vectorizer_.fit_transform(list(corpus))
        except ValueError as exc:  # empty vocabulary
            raise InputError(f"keywords explainer: no usable words in the corpus ({exc})") from None
        self.terms_ = np.asarray(self.vectorizer_.get_feature_names_out(), dtype=object)
        self.corpus_counts_ = np.asarray(D.sum(0)).ravel()
        self.corpus_total_ = float(self.corpus_counts_.sum())
        self.doc_terms_ = D.tocsr()
        return self

    def transform_texts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Term counts of new texts in the fitted vocabulary."""
        return self.vectorizer_.transform(list(texts)).tocsr()

    def explain(
        self,
        docs_per_latent: Sequence[np.ndarray],
        doc_terms: sp.csr_matrix | None = None,
    ) -> tuple[list[str], list[list[str]]]:
        """Labels and their term lists for each latent, from the indices of its activating texts.

        `docs_per_latent[i]` indexes rows of `doc_terms` (default: the fitted corpus).
        """
        import scipy.sparse as sp

        D = self.doc_terms_ if doc_terms is None else doc_terms
        L = len(docs_per_latent)
        if L == 0:
            return [], []
        lens = np.array([len(d) for d in docs_per_latent])
        A = sp.csr_matrix(
            (
                np.ones(lens.sum()),
                np.concatenate([np.asarray(d, dtype=np.int64) for d in docs_per_latent]),
                np.r_[0, np.cumsum(lens)],
            ),
            shape=(L, D.shape[0]),
        )
        Y = (A @ D).tocsr()  # [L, V] counts in activating texts
        P = (A @ (D > 0).astype(np.float64)).tocsr()  # [L, V] activating texts holding the term
        Y.sort_indices()
        P.sort_indices()  # same sparsity pattern as Y (counts > 0 iff present)
        z = self._log_odds_z(Y)
        labels: list[str] = []
        term_lists: list[list[str]] = []
        for i in range(L):
            a, b = Y.indptr[i], Y.indptr[i + 1]
            cols = Y.indices[a:b]
            zi = z[a:b]
            pi = P.data[a:b]
            ok = (pi >= min(self.cfg.min_doc_count, max(lens[i], 1))) & (zi > 0)
            cols, zi = cols[ok], zi[ok]
            order = np.lexsort((cols, -zi))  # deterministic tie-break by vocabulary index
            terms = self._pick_terms(self.terms_[cols[order]])
            term_lists.append(terms)
            labels.append(", ".join(terms) if terms else "(no distinctive terms)")
        return labels, term_lists

    def _log_odds_z(self, Y: sp.csr_matrix) -> np.ndarray:
        """z-scores of Monroe et al. (2008) eq. 22 on the nonzero entries of Y (see module doc)."""
        a0 = self.cfg.prior_strength
        alpha_V = a0 * self.corpus_counts_ / max(self.corpus_total_, 1.0)
        alpha_V = np.maximum(alpha_V, 1e-3)
        n_a = np.asarray(Y.sum(1)).ravel()  # [L]
        rows = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))
        cols = Y.indices
        y_a = Y.data
        y_b = np.maximum(self.corpus_counts_[cols] - y_a, 0.0)
        n_b = np.maximum(self.corpus_total_ - n_a[rows], 1.0)
        al = alpha_V[cols]
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.log((y_a + al) / np.maximum(n_a[rows] + a0 - y_a - al, 1e-9)) - np.log(
                (y_b + al) / np.maximum(n_b + a0 - y_b - al, 1e-9)
            )
            var = 1.0 / (y_a + al) + 1.0 / (y_b + al)
        return delta / np.sqrt(var)

    def _pick_terms(self, ranked: np.ndarray) -> list[str]:
        """Top terms, skipping words inside an already chosen phrase and phrases of chosen words."""
        chosen: list[str] = []
        covered: set[str] = set()
        for t in ranked:
            if self.cfg.clean and is_web_piece(t):
                continue
            words = t.split()
            if t in covered or (len(words) > 1 and all(w in covered for w in words)):
                continue
            if len(words) > 1 and any(w in chosen for w in words):
                # Replace a chosen single word by the more specific phrase holding it.
                chosen = [c for c in chosen if c not in words]
            chosen.append(t)
            covered.update(words)
            covered.add(t)
            if len(chosen) >= self.cfg.n_terms:
                break
        return chosen
