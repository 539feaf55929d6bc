"""One self-contained HTML report of a run: no server, no network, no external files.

Figures are inline SVG (line charts) or base64 PNG (maps, heatmaps); the latent table sorts
and filters with a few lines of inline JavaScript. Every text from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from saescope import __version__
from saescope.errors import InputError
from saescope.io import atomic_path
from saescope.run_layout import RunLayout
from saescope.viz import analysis
from saescope.viz import latent_page as lp
from saescope.viz.hypotheses_section import hypotheses_section
from saescope.viz.plots import PlotConfig, build_figures
from saescope.viz.rundata import RunData

SVG_FIGURES = ("training_curves", "firing_frequency", "latents_reranked")
FIGURE_CAPTIONS = {
    "training_curves": "Training curves: FVU, L0 and dead fraction on training batches (train_log.jsonl); "
                       "the marker is the held-out value at the end (metrics.json). No L0 panel for "
                       "topk/batchtopk, whose L0 is k by construction.",
    "firing_frequency": "Latent firing frequency on a uniform sample of the SAE's training rows, the rows "
                        "metrics.json counts dead latents on (log scale).",
    "latents_reranked": "Each sample's latent activations sorted in decreasing order.",
    "latents_sample_heatmaps": "Kendall tau-b of latent rankings and cosine of SAE codes between sampled "
                               "inputs, sorted by label when the data has one.",
    "latent_histograms": "Non-zero activations of the most frequent latents.",
    "decoder_map": "2-D map of decoder directions (cosine), coloured by log10 density; dead latents "
                   "(density 0) in grey.",
    "curation_pca": "PCA of seeds (gold stars, drawn on top), pool sample (grey) and selection (black), "
                    "and the same points by label, drawn in a shuffled order so no label hides another "
                    "(from projection.parquet).",
    "curation_map": "Nonlinear map of the seeds, the selection and a pool sample from their embeddings.",
    "curation_seed_selected": "Cosine between sampled seeds and the top selected samples.",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:16px 28px}header h1{margin:0;font-size:22px}
header a{color:#9fd3ff}header .muted{color:#b0bec5}
main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px 18px;margin:16px 0}
h2{font-size:18px;margin:6px 0 10px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f5;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#999}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777}.missing li{color:#a15c00}
figure{margin:10px 0}figure img,figure svg{max-width:100%;height:auto}
figcaption{font-size:12px;color:#555}
nav a{margin-right:12px}.scroll{max-height:520px;overflow:auto}
.ex-top{color:#1b5e20}.ex-neg{color:#b71c1c}
input#latent-filter{padding:4px 8px;width:320px;margin:4px 0}
"""

JS = """
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0], col=th.cellIndex;
  const asc=th.dataset.dir!=='asc'; th.dataset.dir=asc?'asc':'desc';
  const key=td=>{const v=td.dataset.v; if(v!==undefined&&v!==''){const f=parseFloat(v); if(!isNaN(f)) return f;}
                  return td.textContent.toLowerCase();};
  const rows=Array.from(body.rows);
  rows.sort((a,b)=>{const x=key(a.cells[col]),y=key(b.cells[col]);
    if(typeof x==='number'&&typeof y==='number') return asc?x-y:y-x;
    return asc?String(x).localeCompare(String(y)):String(y).localeCompare(String(x));});
  rows.forEach(r=>body.appendChild(r));
}
function filterLatents(q){
  q=q.toLowerCase();
  for(const r of document.querySelectorAll('#latents-table tbody tr'))
    r.style.display=r.textContent.toLowerCase().includes(q)?'':'none';
}
document.addEventListener('DOMContentLoaded',()=>{
  document.querySelectorAll('table.sortable th').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
});
"""


def esc(x: Any) -> str:
    """HTML-escaped text; None and NaN read as empty."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return html.escape(str(x), quote=True)


def fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return ""
    if isinstance(x, (float, np.floating)):
        if math.isnan(x):
            return "–"
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}f}"
    return str(x)


def fig_to_html(fig: Figure, svg: bool) -> str:
    buf = io.BytesIO()
    if svg:
        fig.savefig(buf, format="svg")
        text = buf.getvalue().decode("utf-8")
        return text[text.find("<svg"):]
    fig.savefig(buf, format="png", dpi=100)
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{b64}">'


def _figure(figs: dict[str, Figure], name: str, captions: dict[str, str] | None = None) -> str:
    if name not in figs:
        return ""
    caption = (captions or {}).get(name) or FIGURE_CAPTIONS.get(name, name)
    return (f'<figure id="fig-{name}">{fig_to_html(figs[name], name in SVG_FIGURES)}'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _kv_table(d: dict[str, Any], cls: str = "") -> str:
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(fmt(v) if not isinstance(v, (dict, list)) else _short_json(v))}</td></tr>"
        for k, v in d.items()
    )
    return f'<table class="{cls}">{rows}</table>'


def _short_json(v: Any, n: int = 300) -> str:
    import json

    s = json.dumps(v, default=str)
    return s if len(s) <= n else s[: n - 1] + "…"


def latent_link(m: Any) -> str:
    """A latent id as a link to its card (`#latent-N`)."""
    try:
        m = int(m)
    except (TypeError, ValueError):
        return esc(m)
    return f'<a href="#latent-{m}">{m}</a>'


def _frame_table(df: pd.DataFrame, table_id: str = "", sortable: bool = True,
                 index: bool = False, links: tuple[str, ...] = ("latent", "family"),
                 raw: dict[str, Callable[[Any], str]] | None = None) -> str:
    """An HTML table; numbers right-aligned (sortable by value), columns in `links` linked to
    the latent cards, columns in `raw` rendered to HTML by their function."""
    raw = raw or {}
    if index:
        df = df.reset_index()
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    linked = [c in links for c in df.columns]
    render = [raw.get(c) for c in df.columns]
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v, link, fn in zip(row, linked, render, strict=True):
            if fn is not None:
                cells.append(f"<td>{fn(v)}</td>")
            elif link and isinstance(v, (int, np.integer)):
                cells.append(f'<td class="num" data-v="{int(v)}">{latent_link(v)}</td>')
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                cells.append(f'<td class="num" data-v="{esc(v)}">{esc(fmt(v))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = "sortable" if sortable else ""
    tid = f' id="{table_id}"' if table_id else ""
    return f'<table class="{cls}"{tid}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# ------------------------------------------------------------------------- sections
def _summary(run: RunData) -> str:
    lay = run.layout
    items: dict[str, Any] = {"run folder": str(lay.root)}
    for stage in ("data", "sae", "interpret", "curate"):
        p = getattr(lay, stage)
        items[stage] = str(p) if p is not None else "absent"
    info = run.run_info() or {}
    for k in ("command", "created", "config"):
        if k in info:
            items[f"run.{k}"] = info[k]
    cfg = run.sae_cfg() or {}
    for k in ("arch", "d_in", "num_latents", "k", "expansion_factor"):
        if k in cfg:
            items[f"sae.{k}"] = cfg[k]
    met = run.train_metrics() or {}
    for k in ("fvu", "l0", "dead_fraction", "steps", "samples", "seconds"):
        if k in met:
            items[f"train.{k}"] = met[k]
    if run.data() is not None:
        X, meta = run.data()
        items["data rows"] = len(X)
        items["data dim"] = X.shape[1]
    missing = run.missing()
    miss = ("<h3>Missing</h3><ul class='missing'>" + "".join(f"<li>{esc(m)}</li>" for m in missing)
            + "</ul>") if missing else "<p class='muted'>All artifacts present.</p>"
    return f'<section id="summary"><h2>Run summary</h2>{_kv_table(items)}{miss}</section>'


def _training(figs: dict[str, Figure], run: RunData) -> str:
    if "training_curves" not in figs and "firing_frequency" not in figs:
        return ""
    return ('<section id="training"><h2>Training</h2>' + _figure(figs, "training_curves")
            + _figure(figs, "firing_frequency") + "</section>")


MIN_SUPPORT = 20
"""Latents firing fewer times than this rank after the others (issue 4 scores latents that fire
at least 20 times: with fewer, a bootstrap interval over a handful of examples means little)."""


def primary_order(run: RunData, table: pd.DataFrame) -> pd.DataFrame:
    """Latents, best first: status ok, then enough support (`MIN_SUPPORT` fires), then the
    first scorer's lower 95% bound and its value; without scores, by density."""
    scorers = run.scorers()
    df = table.copy()
    df["_ok"] = (df["status"] == "ok").astype(int) if "status" in df.columns else 1
    df["_support"] = (df["n_fires"] >= MIN_SUPPORT).astype(int) if "n_fires" in df.columns else 1
    if scorers:
        keys = ["_ok", "_support", f"{scorers[0]}_lo", scorers[0]]
    else:
        keys = ["_ok", "density" if "density" in df.columns else "frequency"]
    df = df.sort_values(keys, ascending=False, na_position="last", kind="stable")
    return df.drop(columns=["_ok", "_support"])


def latent_display_table(run: RunData, table: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """The columns a person reads: explanation, density, each score with its interval."""
    df = primary_order(run, table)
    if limit is not None:
        df = df.head(limit)
    out = pd.DataFrame({"latent": df["latent"].astype(int)})
    for c in ("status", "explanation"):
        if c in df.columns:
            out[c] = df[c]
    for c in ("density", "frequency", "n_fires", "mean_activation"):
        if c in df.columns:
            out[c] = df[c]
    for s in run.scorers():
        out[s] = df[s]
        out[f"{s} 95% CI"] = [f"[{fmt(lo)}, {fmt(hi)}]" for lo, hi in zip(df[f"{s}_lo"], df[f"{s}_hi"],
                                                                          strict=True)]
        if f"{s}_baseline" in df.columns:
            out[f"{s} baseline"] = df[f"{s}_baseline"]
    if "family" in df.columns:
        out["family"] = df["family"]
    return out.reset_index(drop=True)


def _latents(run: RunData, figs: dict[str, Figure], max_rows: int | None,
             captions: dict[str, str] | None = None) -> str:
    table = run.latent_table()
    parts = ['<section id="latents"><h2>Latents</h2>']
    summ = run.interpret_summary()
    if summ and summ.get("scores"):
        rows = []
        for s, v in summ["scores"].items():
            ci = v.get("ci") or [None, None]
            rows.append({"scorer": lp.scorer_words(s), "mean": v.get("mean"),
                         "95% CI": f"[{fmt(ci[0])}, {fmt(ci[1])}]",
                         "baseline mean": v.get("baseline_mean"),
                         "baseline is": lp.CHANCE_WORDS.get(s, "the same scorer, shuffled explanations")})
        parts.append("<h3>Scores (mean over latents, bootstrap 95% CI)</h3>")
        parts.append(_frame_table(pd.DataFrame(rows), "scores-table"))
        if summ.get("counts"):
            parts.append(_kv_table(summ["counts"]))
    if table is not None:
        shown = latent_display_table(run, table, max_rows)
        note = (f"<p class='muted'>Showing the best {len(shown)} of {len(table)} latents.</p>"
                if len(shown) < len(table) else "")
        parts.append("<h3>All latents</h3><p class='muted'>Every latent id opens its card. "
                     "Filter by id or words:</p><input id='latent-filter' placeholder='filter latents…' "
                     "oninput='filterLatents(this.value)'>" + note)
        parts.append(f"<div class='scroll'>{_frame_table(shown, 'latents-table')}</div>")
    for name in ("latents_reranked", "latents_sample_heatmaps", "latent_histograms", "decoder_map"):
        parts.append(_figure(figs, name, captions))
    parts.append("</section>")
    return "".join(parts)


def _activation_svg(acts: np.ndarray, width: int = 300, height: int = 96) -> str:
    """A small inline SVG histogram of activations with both axes named (no matplotlib: cheap
    for thousands of latents)."""
    acts = acts[np.isfinite(acts)]
    if len(acts) == 0:
        return ""
    counts, edges = np.histogram(acts, bins=20)
    top = max(1, int(counts.max()))
    left, plot_h = 34, height - 36
    w = (width - left) / len(counts)
    bars = "".join(
        f'<rect x="{left + i * w:.1f}" y="{8 + plot_h - c / top * plot_h:.1f}" width="{w - 1:.1f}" '
        f'height="{c / top * plot_h:.1f}" fill="#7e57c2"/>'
        for i, c in enumerate(counts)
    )
    y0 = 8 + plot_h
    return (f'<svg class="hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{bars}'
            f'<line x1="{left}" y1="{y0}" x2="{width}" y2="{y0}" stroke="#444"/>'
            f'<line x1="{left}" y1="8" x2="{left}" y2="{y0}" stroke="#444"/>'
            f'<text x="{left - 3}" y="14" font-size="9" text-anchor="end">{top}</text>'
            f'<text x="{left - 3}" y="{y0}" font-size="9" text-anchor="end">0</text>'
            f'<text x="{left}" y="{y0 + 11}" font-size="9">{fmt(float(edges[0]))}</text>'
            f'<text x="{width}" y="{y0 + 11}" font-size="9" text-anchor="end">{fmt(float(edges[-1]))}</text>'
            f'<text x="{(left + width) / 2}" y="{height - 2}" font-size="9" text-anchor="middle">'
            f"activation (non-zero, {len(acts)} examples)</text>"
            f'<text x="9" y="{y0 / 2 + 4}" font-size="9" text-anchor="middle" '
            f'transform="rotate(-90 9 {y0 / 2 + 4})">examples</text></svg>')


CARD_LIMIT = 3000
"""Latent cards written at most (best first); the index lists every latent regardless."""
CARD_EXAMPLES = {"top": 5, "quantile": 3, "random_negative": 2, "hard_negative": 2}


def _latent_cards(run: RunData, n_shown: int, card_limit: int = CARD_LIMIT) -> str:
    """A card per live latent (`#latent-N`); the best `n_shown` are open, the others open when
    their link is followed (CSS :target), so the page stays readable with thousands."""
    table = run.latent_table()
    if table is None or run.latents() is None:
        return ""
    ctx = CardContext.build(run, table)
    top = primary_order(run, table)
    if "status" in top.columns:
        top = top[top["status"] == "ok"]
    cut = len(top) > card_limit
    top = top.head(card_limit)
    links = " ".join(latent_link(r) for r in top["latent"].head(n_shown))
    note = (f"<p class='muted'>Cards for the best {card_limit} of the live latents; the others "
            "are in the index above.</p>" if cut else "")
    css = (f"<style>#cards article{{display:none}}#cards article:nth-of-type(-n+{n_shown}),"
           "#cards article:target{display:block}</style>")
    parts = [f'<section id="top-latents"><h2>Latent cards</h2>{css}<p>Open: {links}</p>'
             f"<p class='muted'>{len(top)} cards, one per live latent; the best {n_shown} are shown, "
             f"every other opens from its id.</p>{note}<div id='cards'>"]
    parts.extend(_card(ctx, r) for r in top.to_dict("records"))
    parts.append("</div></section>")
    return "".join(parts)


@dataclass
class CardContext:
    """What every latent card reads, computed once for all cards (plain arrays and dicts: a
    card costs well under a millisecond, so thousands of cards stay cheap)."""

    scorers: list[str]
    examples: dict[int, dict[str, list[tuple[float, str, str]]]]
    """latent -> kind -> (activation, id, text), strongest first, at most CARD_EXAMPLES[kind]."""
    positive_acts: dict[int, np.ndarray]
    names: dict[int, str]
    decoder_nn: dict[int, list[int]]
    coact: tuple[np.ndarray, np.ndarray] | None
    labels: dict[str, str] | None
    label_name: str | None
    extra: dict[str, pd.DataFrame] | None = None
    """Other interpret outputs of the run (`RunData.extra_interpretations`)."""
    token_seqs: dict[int, list[list[tuple[str, float]]]] = field(default_factory=dict)
    """latent -> (token, activation) windows of its top examples (token-level runs only)."""

    @staticmethod
    def build(run: RunData, table: pd.DataFrame, code_rows: int = 4000) -> CardContext:
        names = {int(m): ("" if pd.isna(e) else str(e)) for m, e in
                 zip(table["latent"], table.get("explanation", pd.Series([""] * len(table))),
                     strict=True)}
        decoder_nn: dict[int, list[int]] = {}
        W = run.decoder()
        if W is not None:
            from saescope.interpret.families import similar_latents

            decoder_nn = dict(enumerate(similar_latents(W, k=5).tolist()))
        elif "similar_latents" in table.columns:
            decoder_nn = {int(m): [int(v) for v in list(s)[:5]] for m, s in
                          zip(table["latent"], table["similar_latents"], strict=True) if s is not None}
        coact, labels, label_name = None, None, None
        d = run.data()
        if d is not None and run.layout.sae is not None:
            idx = analysis.sample_rows(len(d[0]), code_rows)
            coact = analysis.coactivation_top(run.codes(idx), 5)
        lc = run.label_columns()
        if d is not None and lc:
            label_name = lc[0]
            labels = dict(zip(d[1]["id"].astype(str), d[1][label_name].astype(str), strict=True))
        ex = run.examples()
        examples, acts = _group_examples(ex)
        return CardContext(run.scorers(), examples, acts, names, decoder_nn, coact, labels, label_name,
                           run.extra_interpretations(), _token_seqs(ex))

    def neighbour_links(self, ids: list[int]) -> str:
        return ", ".join(f"{latent_link(m)} {esc(_cut(self.names.get(m, ''), 40))}" for m in ids if m >= 0)


def _group_examples(ex: pd.DataFrame | None) -> tuple[dict, dict]:
    """examples.parquet as latent -> kind -> rows (strongest first), and each latent's
    positive activations, in one sort."""
    if ex is None or len(ex) == 0:
        return {}, {}
    lat = ex["latent"].to_numpy()
    act = ex["activation"].to_numpy(dtype=float)
    kind = ex["kind"].astype(str).to_numpy()
    ids = ex["id"].astype(str).to_numpy()
    texts = ex["text"].astype(str).to_numpy() if "text" in ex.columns else np.full(len(ex), "")
    order = np.lexsort((-act, lat))
    out: dict[int, dict[str, list]] = {}
    pos: dict[int, list[float]] = {}
    for i in order:
        m = int(lat[i])
        if act[i] > 0:
            pos.setdefault(m, []).append(act[i])
        rows = out.setdefault(m, {}).setdefault(kind[i], [])
        if len(rows) < CARD_EXAMPLES.get(kind[i], 0) or (kind[i] == "top" and len(rows) < 50):
            rows.append((float(act[i]), ids[i], _cut(texts[i], 160)))
    return out, {m: np.asarray(v) for m, v in pos.items()}


def _token_seqs(ex: pd.DataFrame | None, n: int = 5) -> dict[int, list[list[tuple[str, float]]]]:
    """latent -> (token, activation) windows of its `n` strongest top examples, when the
    examples carry `tokens` / `token_acts` (token-level interpretation)."""
    if ex is None or not {"tokens", "token_acts"} <= set(ex.columns):
        return {}
    return {int(lat): lp.token_highlights(group, n) for lat, group in ex.groupby("latent")}


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _rows_html(header: tuple[str, ...], rows: list[tuple]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f'<td class="num">{esc(fmt(v))}</td>' if isinstance(v, float) else f"<td>{esc(v)}</td>"
        for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card_scores(scorers: list[str], r: dict[str, Any]) -> str:
    rows = [(lp.scorer_words(s), _float(r.get(s)), f"[{fmt(_float(r.get(f'{s}_lo')))}, "
             f"{fmt(_float(r.get(f'{s}_hi')))}]", _float(r.get(f"{s}_baseline")),
             lp.CHANCE_WORDS.get(s, "same scorer, another latent's explanation")) for s in scorers]
    return _rows_html(("scorer", "score", "95% bootstrap interval", "baseline", "baseline is"), rows)


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _card_links(ctx: CardContext, lat: int, r: dict[str, Any]) -> str:
    extra = []
    fam = r.get("family")
    if fam is not None and not (isinstance(fam, float) and math.isnan(fam)):
        extra.append(f"<tr><th>family</th><td>root {latent_link(fam)}</td></tr>")
    if ctx.decoder_nn.get(lat):
        extra.append(f"<tr><th>similar by decoder cosine</th><td>{ctx.neighbour_links(ctx.decoder_nn[lat])}</td></tr>")
    if ctx.coact is not None and lat < len(ctx.coact[0]):
        ids = [int(m) for m in ctx.coact[0][lat] if m >= 0]
        if ids:
            extra.append(f"<tr><th>fires together with</th><td>{ctx.neighbour_links(ids)}</td></tr>")
    return f"<table>{''.join(extra)}</table>" if extra else ""


def _card(ctx: CardContext, r: dict[str, Any]) -> str:
    lat = int(r["latent"])
    info: dict[str, Any] = {"density": r.get("density"), "fires": r.get("n_fires")}
    if r.get("explainer") is not None:
        info["explained by"] = lp.EXPLAINER_WORDS.get(str(r["explainer"]), str(r["explainer"]))
    parts = [f'<article id="latent-{lat}"><h3>Latent {lat}: {esc(r.get("explanation", ""))}</h3>',
             _kv_table(info), _card_links(ctx, lat, r)]
    if ctx.scorers:
        parts.append(_card_scores(ctx.scorers, r))
    if ctx.extra:
        others = lp.other_explanations(ctx.extra, lat)
        if others is not None:
            parts.append("<h4>Other explanations</h4>" + _frame_table(others, sortable=False))
    e = ctx.examples.get(lat, {})
    if lat in ctx.positive_acts:
        parts.append(_activation_svg(ctx.positive_acts[lat]))
    if ctx.token_seqs.get(lat):
        parts.append("<h4>Where it fires, token by token (top examples)</h4>"
                     + "".join(f'<p class="tokens">{lp.token_spans_html(seq)}</p>'
                               for seq in ctx.token_seqs[lat]))
    for kind in lp.EXAMPLE_KINDS:
        rows = e.get(kind, [])[: CARD_EXAMPLES[kind]]
        if rows:
            parts.append(f"<h4>{esc(lp.KIND_TITLES[kind])}</h4>"
                         + _rows_html(("activation", "id", "text"), rows))
    if ctx.labels is not None and e.get("top"):
        got = [ctx.labels[i] for _, i, _ in e["top"] if i in ctx.labels]
        if got:
            counts = pd.Series(got).value_counts().head(5)
            rows = [(lab, f"{c} of {len(got)}") for lab, c in counts.items()]
            parts.append(f"<h4>Top examples by {esc(ctx.label_name)}</h4>"
                         + _rows_html((ctx.label_name or "label", "top examples"), rows))
    if not e and r.get("top_ids") is not None:
        parts.append(f"<p>top ids: {esc(', '.join(map(str, list(r['top_ids'])[:5])))}</p>")
    parts.append("</article>")
    return "".join(parts)


WHY_COLUMNS = ("top_latents", "top_contributions", "top_explanations")
"""curate's why-columns (saescope.curate.explain): per selected row, the latents with the largest
contribution to its score, the contributions, and their explanations."""


def _why_html(item: Any) -> str:
    """One row's why-columns: each latent linked, with its contribution and explanation."""
    lats, contribs, expls = item
    parts = []
    for i, m in enumerate([] if lats is None else list(lats)):
        c = f" {fmt(float(contribs[i]))}" if contribs is not None and i < len(contribs) else ""
        e = (f" {esc(_cut(str(expls[i]), 40))}" if expls is not None and i < len(expls)
             and expls[i] else "")
        parts.append(f"{latent_link(m)}{c}{e}")
    return "; ".join(parts)


def _selected_table(sel: pd.DataFrame, n_rows: int) -> str:
    if "rank" in sel.columns:
        sel = sel.sort_values("rank")
    cols = [c for c in sel.columns if c not in WHY_COLUMNS and not isinstance(
        sel[c].iloc[0] if len(sel) else None, (list, np.ndarray))]
    shown = sel[cols].head(n_rows).copy()
    raw = {}
    if "top_latents" in sel.columns:
        head = sel.head(n_rows)
        shown["why chosen (latent, contribution, explanation)"] = list(zip(
            *(head[c] if c in head.columns else [None] * len(head) for c in WHY_COLUMNS), strict=True))
        raw["why chosen (latent, contribution, explanation)"] = _why_html
    table = _frame_table(shown, "selected-table", raw=raw)
    return (f"<h3>Selected samples (first {min(n_rows, len(sel))} of {len(sel)})</h3>"
            f"<div class='scroll'>{table}</div>")


def _enriched(run: RunData, man: dict[str, Any]) -> str:
    info = man.get("space_info") or {}
    top = info.get("seed_latents") or info.get("top_latents") or []
    if not top or not isinstance(top, list):
        return ""
    frame = pd.DataFrame(top)
    if "latent" not in frame.columns:
        return ""
    frame["latent"] = frame["latent"].astype(int)
    if "explanation" not in frame.columns or frame["explanation"].isna().all():
        names = {}
        lat = run.latents()
        if lat is not None and "explanation" in lat.columns:
            names = dict(zip(lat["latent"].astype(int), lat["explanation"], strict=True))
        frame["explanation"] = [names.get(m, "") for m in frame["latent"]]
    weight = info.get("latent_weight", "weight in the selection space")
    return ("<h3>Latents the selection leans on</h3><p class='muted'>The latents that most set the "
            f"seeds apart from the pool (weight: {esc(weight)}); each id opens its card.</p>"
            + _frame_table(frame, "enriched-latents"))


def _curation(run: RunData, figs: dict[str, Figure], n_rows: int,
              captions: dict[str, str] | None = None) -> str:
    if run.layout.curate is None:
        return ""
    parts = ['<section id="curation"><h2>Curation</h2>']
    metrics = run.curation_metrics()
    if metrics is not None:
        parts.append("<h3>Metrics of the selection and the baselines</h3>")
        parts.append(_frame_table(metrics.rename_axis("space"), "curation-metrics", index=True))
    man = run.curate_manifest() or {}
    parts.append(_enriched(run, man))
    dist = (man.get("metrics") or {}).get("label_distribution")
    if isinstance(dist, dict) and dist:
        parts.append("<h3>Label distribution of the selection</h3>" + _kv_table(dist))
    conf = {k: v for k, v in man.items() if k not in ("metrics", "baselines", "space_info")}
    if conf:
        parts.append("<h3>Manifest</h3>" + _kv_table(conf))
    for name in ("curation_pca", "curation_map", "curation_seed_selected"):
        parts.append(_figure(figs, name, captions))
    sel = run.selected()
    if sel is not None:
        parts.append(_selected_table(sel, n_rows))
    parts.append("</section>")
    return "".join(parts)


def render_report(run: RunData, cfg: PlotConfig | None = None, max_latent_rows: int | None = None,
                  n_top: int = 20, n_selected_rows: int = 200,
                  echo: Callable[[str], None] | None = None) -> str:
    """The report's HTML text: every latent in the index, a card per live latent."""
    figs = build_figures(run, cfg or PlotConfig(interactive=False), echo)
    if echo is not None:
        echo("writing the latent cards ...")
    body = "".join([
        _summary(run),
        _training(figs.static, run),
        _latents(run, figs.static, max_latent_rows, captions=figs.captions),
        _latent_cards(run, n_top),
        _curation(run, figs.static, n_selected_rows, figs.captions),
        hypotheses_section(run.layout.hypotheses) if run.layout.hypotheses else "",
    ])
    nav = " ".join(f'<a href="#{s}">{t}</a>' for s, t in (
        ("summary", "Summary"), ("training", "Training"), ("latents", "Latents"),
        ("top-latents", "Latent cards"), ("curation", "Curation"), ("hypotheses", "Hypotheses"))
        if f'id="{s}"' in body)
    title = f"saescope report: {run.root.name}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{JS}</script></head><body>"
        f"<header><h1>{esc(title)}</h1><nav>{nav}</nav>"
        f"<div class='muted'>saescope {esc(__version__)}</div></header><main>{body}</main></body></html>"
    )


def write_report(run_dir: str | Path | RunLayout, out_path: str | Path | None = None,
                 cfg: PlotConfig | None = None, echo: Callable[[str], None] | None = None,
                 overwrite: bool = False) -> Path:
    """Write the self-contained HTML report of a run (default RUN/report.html); `run_dir` is a
    run folder, one stage's output, or a `RunLayout.from_parts` of outputs side by side.

    An existing file at the output path is replaced when it is a saescope report (a report is
    redrawn in place) or with `overwrite`; a folder there is an error."""
    run = RunData(run_dir)
    if run.is_empty():
        raise InputError(f"{run.root}: holds no run artifacts (no data, sae, interpret, curate or hypotheses)")
    out = Path(out_path) if out_path is not None else run.layout.report
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the report's file name "
                         f"(e.g. {out / 'report.html'})")
    if out.exists() and not overwrite and not _is_report(out):
        raise InputError(f"--out {out}: exists and is not a saescope report; use --overwrite to "
                         "replace it")
    text = render_report(run, cfg, echo=echo)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def _is_report(path: Path) -> bool:
    """`path` holds a report `render_report` wrote (its title opens the file's head)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return head.startswith(b"<!DOCTYPE html>") and b"<title>saescope report: " in head
