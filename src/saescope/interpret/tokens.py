"""Token-level interpretation: a per-token row is shown as a window of its document.

A per-token store (`saescope activations --per-token`) has one row per (document, position)
with columns `doc_id`, `position` and `token`. Interpreting it row by row would show each
example as one token without its context. Instead, as delphi and Bills et al. ("Language
models can explain neurons in language models", OpenAI, 2023) do, an example is the window of
`before` tokens before the row's token and `after` tokens after it in the same document; the
token the example is about is marked `<<token>>` (delphi's highlighting convention) in what
the explainer reads. The scorers read the windows without the mark and judge a whole window,
as delphi's detection and embedding scorers judge a context (Paulo et al. 2024, "Automatically
Interpreting Millions of Features in Large Language Models", arXiv:2410.13928, sec. 3): an
activating window holds a token the latent fires on, and a non-activating one is a window on
none of whose tokens it fires (`TokenWindows.quiet`), not only one whose own token is silent.
`examples.parquet` carries every window token with the latent's activation on it (`tokens`, `token_acts`), so the report and the dashboard
colour the tokens a latent fires on.

Explain and test sets are disjoint by document (`doc_keys` as the example groups), not only
by row: two windows of one document share most of their text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from saescope.errors import InputError

TOKEN_COLUMNS = ("doc_id", "position", "token")
"""Columns that make a vector file a per-token store."""
MARK_OPEN, MARK_CLOSE = "<<", ">>"


@dataclass
class TokenWindows:
    """The window of every token row of a per-token store (rows grouped by document)."""

    doc_keys: np.ndarray
    """int64 [N] one key per document (equal for rows of one document)."""
    tokens: np.ndarray
    """object [N] each row's token string."""
    doc_start: np.ndarray
    """int64 [N] first row of the row's document."""
    doc_stop: np.ndarray
    """int64 [N] one past the last row of the row's document."""
    before: int = 12
    """Tokens shown before the example's token."""
    after: int = 4
    """Tokens shown after it."""

    @classmethod
    def from_meta(cls, meta: Any, source: str, before: int = 12, after: int = 4) -> TokenWindows | None:
        """The windows of a per-token store's columns (a pyarrow Table), None when the file is
        not one. Rows of a document must be contiguous and in increasing position."""
        if meta is None or not set(TOKEN_COLUMNS) <= set(meta.column_names):
            return None
        docs = np.asarray([str(d) for d in meta["doc_id"].to_pylist()], dtype=object)
        pos = meta["position"].to_numpy(zero_copy_only=False).astype(np.int64)
        tokens = np.asarray([t if isinstance(t, str) else "" for t in meta["token"].to_pylist()],
                            dtype=object)
        n = len(docs)
        change = np.r_[True, docs[1:] != docs[:-1]] if n else np.zeros(0, bool)
        run_start = np.flatnonzero(change)
        _, keys = np.unique(docs, return_inverse=True)
        if len(np.unique(keys[run_start])) != len(run_start):
            raise InputError(f"{source}: the token rows of a document are not contiguous "
                             "(write the store with saescope activations --per-token)")
        bounds = np.r_[run_start, n]
        lengths = np.diff(bounds)
        start = np.repeat(run_start, lengths)
        stop = np.repeat(bounds[1:], lengths)
        if n and (np.diff(pos)[~change[1:]] <= 0).any():
            raise InputError(f"{source}: token positions do not increase within a document")
        return cls(keys.astype(np.int64), tokens, start, stop, before, after)

    def __len__(self) -> int:
        return len(self.tokens)

    def window(self, row: int, before: int | None = None, after: int | None = None) -> range:
        """Rows of the window around `row`."""
        b = self.before if before is None else before
        a = self.after if after is None else after
        return range(max(int(self.doc_start[row]), row - b), min(int(self.doc_stop[row]), row + a + 1))

    def text(self, row: int, mark: bool = True, before: int | None = None,
             after: int | None = None) -> str:
        """The window's text, the row's own token marked `<<token>>` when `mark`."""
        parts = []
        for r in self.window(row, before, after):
            tok = str(self.tokens[r])
            if mark and r == row:
                lead = tok[: len(tok) - len(tok.lstrip())]
                tok = f"{lead}{MARK_OPEN}{tok.strip()}{MARK_CLOSE}"
            parts.append(tok)
        return "".join(parts)

    def texts(self, mark: bool = True, before: int | None = None,
              after: int | None = None) -> WindowTexts:
        """A lazy sequence of every row's window text (computed when read)."""
        return WindowTexts(self, mark, before, after)

    def window_max(self, codes: Any, rows: np.ndarray, latents: np.ndarray) -> np.ndarray:
        """float32 [P]: the largest activation (in magnitude) of latent `latents[p]` over the
        window of `rows[p]` (0 where it fires on none of the window's tokens)."""
        import scipy.sparse as sp

        rows = np.asarray(rows, dtype=np.int64)
        latents = np.asarray(latents, dtype=np.int64)
        if len(rows) == 0:
            return np.zeros(0, np.float32)
        lo = np.maximum(self.doc_start[rows], rows - self.before)
        hi = np.minimum(self.doc_stop[rows], rows + self.after + 1)
        sizes = hi - lo
        flat_rows = np.repeat(lo, sizes) + (np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes))
        vals = np.asarray(sp.csr_matrix(codes)[flat_rows, np.repeat(latents, sizes)]).ravel()
        return np.maximum.reduceat(np.abs(vals), np.cumsum(sizes) - sizes).astype(np.float32)

    def quiet(self, codes: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """`quiet(latents, rows)`: True where the latent fires on no token of the row's window.
        Token-level non-activating examples must be such windows: delphi's non-activating
        examples are contexts without any activation (Paulo et al. 2024, sec. 3), and the
        scorers judge a whole window, not its one token."""
        import scipy.sparse as sp

        csr = sp.csr_matrix(codes)
        return lambda latents, rows: self.window_max(csr, rows, latents) == 0

    def window_acts(self, codes: Any, rows: np.ndarray, latents: np.ndarray
                    ) -> tuple[list[list[str]], list[list[float]], list[int]]:
        """Per example (row, latent): the window's tokens, the latent's activation on each, and
        the index of the example's own token in the window."""
        import scipy.sparse as sp

        codes = sp.csr_matrix(codes)
        wins = [self.window(int(r)) for r in rows]
        flat_rows = np.fromiter((w for win in wins for w in win), dtype=np.int64)
        flat_lat = np.repeat(np.asarray(latents, dtype=np.int64), [len(w) for w in wins])
        vals = np.asarray(codes[flat_rows, flat_lat]).ravel().astype(np.float32) if len(flat_rows) \
            else np.zeros(0, np.float32)
        tokens, acts, k = [], [], 0
        for win in wins:
            tokens.append([str(self.tokens[w]) for w in win])
            acts.append(vals[k : k + len(win)].tolist())
            k += len(win)
        return tokens, acts, [int(r) - win.start for r, win in zip(rows, wins, strict=True)]


class WindowTexts(Sequence[str]):
    """Window texts of every row of a `TokenWindows`, built on access (a store holds millions)."""

    def __init__(self, windows: TokenWindows, mark: bool, before: int | None, after: int | None):
        self._w, self._mark, self._before, self._after = windows, mark, before, after

    def __len__(self) -> int:
        return len(self._w)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._w.text(i, self._mark, self._before, self._after)

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))
