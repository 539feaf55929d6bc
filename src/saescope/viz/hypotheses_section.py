"""The "Hypotheses" section of the HTML report: latents that predict a label, FDR-tested.

Reads a `saescope hypotheses` output (hypotheses.parquet + manifest.json) in RUN/hypotheses (or
RUN itself) and returns self-contained HTML; every text from the data is escaped.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = ("latent", "effect", "ci_low", "ci_high", "p", "q", "purity", "n_fires_test", "explanation")


def hypotheses_dir(root: str | Path) -> Path | None:
    """RUN/hypotheses, or RUN itself, when it holds a finished hypotheses output."""
    root = Path(root)
    for folder in (root / "hypotheses", root):
        if (folder / "hypotheses.parquet").exists() and (folder / "manifest.json").exists():
            return folder
    return None


def read_hypotheses(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The tested latents (most significant first) and the manifest."""
    return pd.read_parquet(folder / "hypotheses.parquet"), json.loads((folder / "manifest.json").read_text())


def _num(x: Any, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None or pd.isna(x) else fmt.format(x)


def heldout_lines(m: dict[str, Any]) -> list[str]:
    """"held-out auroc: selected latents 0.91 [0.89, 0.93], raw embedding ..." lines."""
    key = "auroc" if m.get("auroc") else "r2"
    vals, cis = m.get(key) or {}, m.get(f"{key}_ci") or {}
    out = []
    for name, label in (("selected_features", "selected latents"), ("raw_embedding", "raw embedding (baseline)")):
        lo, hi = (cis.get(name) or [None, None])[:2]
        out.append(f"held-out {key.upper()}, {label}: {_num(vals.get(name))} [{_num(lo)}, {_num(hi)}]")
    return out


def hypotheses_section(root: str | Path) -> str:
    """HTML of the section (empty string when the run has no hypotheses output)."""
    folder = hypotheses_dir(root)
    if folder is None:
        return ""
    table, m = read_hypotheses(folder)
    esc = html.escape
    outcome = m.get("outcome", {})
    split = m.get("split", {})
    parts = ['<section id="hypotheses"><h2>Hypotheses: latents that predict the label</h2>',
             f"<p>outcome {esc(str(outcome.get('source', '')))}"
             f"{' = ' + esc(str(outcome['positive'])) if outcome.get('positive') else ''}; "
             f"{m.get('n_significant', 0)} of {m.get('n_tested', 0)} tested latents significant at FDR "
             f"{m.get('fdr')} (Benjamini-Hochberg); selected on {split.get('n_train')} training rows, tested on "
             f"{split.get('n_test')} held-out rows ({esc(str(split.get('rule', '')))}).</p><ul>"]
    parts += [f"<li>{esc(line)}</li>" for line in heldout_lines(m)]
    parts.append("</ul><table class='sortable' id='hypotheses-table'><thead><tr>")
    cols = [c for c in COLUMNS if c in table.columns]
    parts += [f"<th>{esc(c)}</th>" for c in cols]
    parts.append("</tr></thead><tbody>")
    for _, r in table.iterrows():
        style = " style='background:#e8f5e9'" if bool(r.get("significant", False)) else ""
        cells = []
        for c in cols:
            v = r[c]
            if c in ("p", "q"):
                cells.append(f"<td class='num'>{_num(v, '{:.2g}')}</td>")
            elif c in ("latent", "n_fires_test"):
                cells.append(f"<td class='num'>{int(v)}</td>")
            elif c == "explanation":
                cells.append(f"<td>{esc(str(v)) if v is not None else ''}</td>")
            else:
                cells.append(f"<td class='num'>{_num(v)}</td>")
        parts.append(f"<tr{style}>{''.join(cells)}</tr>")
    parts.append("</tbody></table><p class='muted'>effect: correlation of the latent's activation with the "
                 "outcome on held-out rows, 95% interval (Fisher z); q: BH-adjusted p; purity: share of its top "
                 "held-out rows with the label it predicts. Green rows: q &le; FDR.</p></section>")
    return "".join(parts)
