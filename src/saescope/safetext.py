"""User and model text shown safely: in a terminal, in Markdown widgets and in CSV files.

Explanations come from an LLM server and texts from a user's corpus: either may hold what a
terminal, a Markdown renderer or a spreadsheet would act on. One helper per place it is shown:

- `for_terminal`: control characters (ESC sequences that set the title or colours, BEL, CR,
  C1 controls, bidirectional overrides) escaped as `\\x1b`-style text.
- `markdown_text`: Markdown and HTML syntax escaped, so `![b](http://host/x)` shows as written
  and the browser fetches nothing.
- `csv_cell` / `csv_safe_frame`: a cell starting with `=`, `+`, `-`, `@`, tab or CR gets a
  leading `'` (OWASP, "CSV Injection"), so a spreadsheet shows it instead of evaluating it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: Any, keep_newlines: bool = False) -> str:
    """`text` with every control character escaped (newlines kept when `keep_newlines`)."""
    s = str(text)
    return "".join(
        ch if not (unicodedata.category(ch) == "Cc" or ch in _BIDI) or (keep_newlines and ch == "\n")
        else _escape(ch)
        for ch in s
    )


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&$:])")


def markdown_text(text: Any) -> str:
    """`text` escaped for a Markdown widget (`st.markdown`, `st.subheader`, `st.warning`):
    shown as written, nothing rendered as a link, image, heading or HTML."""
    s = for_terminal(text, keep_newlines=True)
    return _MD_SPECIAL.sub(r"\\\1", s).replace("\n", "  \n")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A string cell that a spreadsheet would read as a formula gets a leading `'`; others as given."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_safe_frame(df: Any) -> Any:
    """A copy of a pandas DataFrame with `csv_cell` applied to every text cell and column name."""
    from pandas.api.types import is_numeric_dtype

    out = df.copy()
    for col in out.columns:
        if not is_numeric_dtype(out[col]):
            out[col] = out[col].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out
