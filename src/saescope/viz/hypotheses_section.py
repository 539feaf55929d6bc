"""The "Hypotheses" section of the HTML report: latents that predict a label, FDR-tested.

Reads a `saescope hypotheses` output (hypotheses.parquet + manifest.json): the run's
`hypotheses/`, the folder itself, or one given with `--hypotheses DIR`, and returns
self-contained HTML; every text from the data is escaped. p- and q-values are written with two
significant digits (`2.3e-08`), and the forest plot of the effects names each row by its latent
and explanation (the dashboard's plot uses the same labels).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from plotly.graph_objects import Figure as PlotlyFigure

COLUMNS = ("latent", "effect", "ci_low", "ci_high", "p", "q", "purity", "n_fires_test", "explanation")


FOREST_ROWS = 30
"""Latents in the report's forest plot at most (the most significant first)."""


def hypotheses_dir(root: str | Path | None) -> Path | None:
    """RUN/hypotheses, or RUN itself, when it holds a finished hypotheses output."""
    if root is None:
        return None
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


def fmt_p(x: Any) -> str:
    """A p- or q-value with two significant digits: `2.3e-08`, `0.012`, `0.6`."""
    return _num(x, "{:.2g}")


def forest_labels(table: pd.DataFrame, width: int = 48) -> list[str]:
    """`latent 12: crooked hillary, lyin ted` per row (the explanation cut to `width` characters)."""
    out = []
    for lat, e in zip(table["latent"], table.get("explanation", [None] * len(table)), strict=True):
        text = "" if e is None or (isinstance(e, float) and pd.isna(e)) else str(e)
        text = text if len(text) <= width else text[: width - 1] + "…"
        out.append(f"latent {int(lat)}: {text}" if text else f"latent {int(lat)}")
    return out


def fig_forest(table: pd.DataFrame) -> Figure:
    """Effects with their 95% intervals, one labelled row per latent (the first rows on top)."""
    from matplotlib.figure import Figure

    rows = table.head(FOREST_ROWS)
    n = len(rows)
    fig = Figure(figsize=(9, 1.0 + 0.32 * n), layout="constrained")
    ax = fig.subplots()
    y = list(range(n))[::-1]
    sig = rows["significant"].to_numpy(bool) if "significant" in rows.columns else [False] * n
    colors = ["#2e7d32" if s else "#757575" for s in sig]
    ax.hlines(y, rows["ci_low"], rows["ci_high"], colors=colors, lw=1.5)
    ax.scatter(rows["effect"], y, c=colors, zorder=3, s=18)
    ax.axvline(0.0, color="#bbbbbb", lw=1)
    ax.set_yticks(y, forest_labels(rows))
    ax.set_xlabel("effect (held-out correlation with the outcome, 95% CI); green: q <= FDR")
    return fig


def forest_figure(table: pd.DataFrame) -> PlotlyFigure:
    """The dashboard's plotly forest plot: a categorical y axis labelled by latent and explanation
    (plain `#12` labels made plotly read the ids as numbers and draw a numeric axis)."""
    import plotly.graph_objects as go

    labels = forest_labels(table)
    fig = go.Figure(go.Scatter(
        x=table["effect"], y=labels, mode="markers",
        error_x={"type": "data", "symmetric": False, "array": table["ci_high"] - table["effect"],
                 "arrayminus": table["effect"] - table["ci_low"]},
        text=[fmt_p(q) for q in table["q"]] if "q" in table.columns else None,
        hovertemplate="%{y}<br>effect %{x:.3f}, q %{text}<extra></extra>"))
    fig.update_layout(height=max(300, 24 * len(table)), xaxis_title="effect (held-out correlation, 95% CI)",
                      yaxis={"type": "category", "autorange": "reversed", "automargin": True},
                      margin={"l": 10, "r": 10, "t": 10, "b": 40})
    return fig


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: p and q as readable text (`2.3e-08`), not long fixed-point numbers."""
    return table.assign(**{c: [fmt_p(v) for v in table[c]] for c in ("p", "q") if c in table.columns})


def heldout_lines(m: dict[str, Any]) -> list[str]:
    """"held-out auroc: selected latents 0.91 [0.89, 0.93], raw embedding ..." lines."""
    key = "auroc" if m.get("auroc") else "r2"
    vals, cis = m.get(key) or {}, m.get(f"{key}_ci") or {}
    out = []
    for name, label in (("selected_features", "selected latents"), ("raw_embedding", "raw embedding (baseline)")):
        lo, hi = (cis.get(name) or [None, None])[:2]
        out.append(f"held-out {key.upper()}, {label}: {_num(vals.get(name))} [{_num(lo)}, {_num(hi)}]")
    return out


def hypotheses_section(root: str | Path | None) -> str:
    """HTML of the section for a hypotheses output (or a run folder holding one in hypotheses/);
    an empty string when there is none."""
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
                cells.append(f"<td class='num'>{fmt_p(v)}</td>")
            elif c == "latent":  # links to the latent's card in the same report
                cells.append(f"<td class='num'><a href=\"#latent-{int(v)}\">{int(v)}</a></td>")
            elif c == "n_fires_test":
                cells.append(f"<td class='num'>{int(v)}</td>")
            elif c == "explanation":
                cells.append(f"<td>{esc(str(v)) if v is not None else ''}</td>")
            else:
                cells.append(f"<td class='num'>{_num(v)}</td>")
        parts.append(f"<tr{style}>{''.join(cells)}</tr>")
    parts.append("</tbody></table>")
    if len(table):
        from saescope.viz.report import fig_to_html

        parts.append(f"<figure id='fig-hypotheses-forest'>{fig_to_html(fig_forest(table), svg=True)}"
                     f"<figcaption>Effect and 95% interval of the {min(len(table), FOREST_ROWS)} most significant "
                     "tested latents, labelled by latent and explanation.</figcaption></figure>")
    parts.append("<p class='muted'>effect: correlation of the latent's activation with the "
                 "outcome on held-out rows, 95% interval (Fisher z); q: BH-adjusted p; purity: share of its top "
                 "held-out rows with the label it predicts. Green rows: q &le; FDR.</p></section>")
    return "".join(parts)
