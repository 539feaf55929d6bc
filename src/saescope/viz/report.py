"""One self-contained HTML report of a run: no server, no network, no external files.

Figures are inline SVG (line charts) or base64 PNG (maps, heatmaps); the latent table sorts
and filters with a few lines of inline JavaScript. Every text from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from saescope import __version__
from saescope.errors import InputError
from saescope.io import atomic_path
from saescope.viz.hypotheses_section import hypotheses_section
from saescope.viz.plots import PlotConfig, build_figures
from saescope.viz.rundata import RunData

SVG_FIGURES = ("training_curves", "firing_frequency", "latents_reranked")
FIGURE_CAPTIONS = {
    "training_curves": "Training curves: FVU, L0 and dead fraction as logged in train_log.jsonl.",
    "firing_frequency": "Latent firing frequency on the validation split (log scale).",
    "latents_reranked": "Each sample's latent activations sorted in decreasing order.",
    "latents_sample_heatmaps": "Kendall tau-b of latent rankings and cosine of SAE codes between sampled inputs.",
    "latent_histograms": "Non-zero activations of the most frequent latents.",
    "decoder_map": "2-D map of decoder directions (cosine), coloured by log10 density.",
    "curation_pca": "PCA of seeds, pool sample and selection (from projection.parquet).",
    "curation_map": "Nonlinear map of the same points from their embeddings.",
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


def _figure(figs: dict[str, Figure], name: str) -> str:
    if name not in figs:
        return ""
    return (f'<figure id="fig-{name}">{fig_to_html(figs[name], name in SVG_FIGURES)}'
            f"<figcaption>{esc(FIGURE_CAPTIONS.get(name, name))}</figcaption></figure>")


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


def _frame_table(df: pd.DataFrame, table_id: str = "", sortable: bool = True,
                 index: bool = False) -> str:
    if index:
        df = df.reset_index()
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
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


def _latents(run: RunData, figs: dict[str, Figure], max_rows: int) -> str:
    table = run.latent_table()
    parts = ['<section id="latents"><h2>Latents</h2>']
    summ = run.interpret_summary()
    if summ and summ.get("scores"):
        rows = []
        for s, v in summ["scores"].items():
            ci = v.get("ci") or [None, None]
            rows.append({"scorer": s, "mean": v.get("mean"), "95% CI": f"[{fmt(ci[0])}, {fmt(ci[1])}]",
                         "baseline mean": v.get("baseline_mean")})
        parts.append("<h3>Scores (mean over latents, bootstrap 95% CI, shuffled-explanation baseline)</h3>")
        parts.append(_frame_table(pd.DataFrame(rows), "scores-table"))
        if summ.get("counts"):
            parts.append(_kv_table(summ["counts"]))
    if table is not None:
        shown = latent_display_table(run, table, max_rows)
        note = (f"<p class='muted'>Showing the best {len(shown)} of {len(table)} latents.</p>"
                if len(shown) < len(table) else "")
        parts.append("<h3>All latents</h3><input id='latent-filter' placeholder='filter latents…' "
                     "oninput='filterLatents(this.value)'>" + note)
        parts.append(f"<div class='scroll'>{_frame_table(shown, 'latents-table')}</div>")
    for name in ("latents_reranked", "latents_sample_heatmaps", "latent_histograms", "decoder_map"):
        parts.append(_figure(figs, name))
    parts.append("</section>")
    return "".join(parts)


def _activation_svg(acts: np.ndarray, width: int = 260, height: int = 70) -> str:
    """A tiny inline SVG histogram of activations (no matplotlib: cheap for many latents)."""
    acts = acts[np.isfinite(acts)]
    if len(acts) == 0:
        return ""
    counts, edges = np.histogram(acts, bins=20)
    top = max(1, counts.max())
    w = width / len(counts)
    bars = "".join(
        f'<rect x="{i * w:.1f}" y="{height - 14 - c / top * (height - 18):.1f}" width="{w - 1:.1f}" '
        f'height="{c / top * (height - 18):.1f}" fill="#7e57c2"/>'
        for i, c in enumerate(counts)
    )
    return (f'<svg class="hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{bars}'
            f'<text x="0" y="{height - 2}" font-size="10">{fmt(float(edges[0]))}</text>'
            f'<text x="{width}" y="{height - 2}" font-size="10" text-anchor="end">{fmt(float(edges[-1]))}</text></svg>')


def _top_latents(run: RunData, n_top: int, n_examples: int) -> str:
    table = run.latent_table()
    ex = run.examples()
    if table is None or run.latents() is None:
        return ""
    top = primary_order(run, table)
    if "status" in top.columns:
        top = top[top["status"] == "ok"]
    top = top.head(n_top)
    scorers = run.scorers()
    links = " ".join(f'<a href="#latent-{int(r)}">#{int(r)}</a>' for r in top["latent"])
    parts = [f'<section id="top-latents"><h2>Top latents</h2><nav>{links}</nav>']
    if ex is not None:
        ex = ex[ex["latent"].isin(top["latent"])]
    by_latent = dict(tuple(ex.groupby("latent"))) if ex is not None else {}
    for _, r in top.iterrows():
        lat = int(r["latent"])
        info: dict[str, Any] = {"explanation": r.get("explanation", ""), "density": r.get("density")}
        for s in scorers:
            info[s] = f"{fmt(r[s])} [{fmt(r[f'{s}_lo'])}, {fmt(r[f'{s}_hi'])}]" + (
                f" (baseline {fmt(r[f'{s}_baseline'])})" if f"{s}_baseline" in r else "")
        if "family" in r:
            info["family"] = r["family"]
        if "similar_latents" in r and r["similar_latents"] is not None:
            info["similar latents"] = ", ".join(str(int(v)) for v in list(r["similar_latents"])[:10])
        parts.append(f'<article id="latent-{lat}"><h3>Latent {lat}: {esc(r.get("explanation", ""))}</h3>')
        parts.append(_kv_table(info))
        e = by_latent.get(lat)
        if e is not None and len(e):
            pos = e.loc[e["activation"] > 0, "activation"].to_numpy(dtype=float)
            parts.append(_activation_svg(pos))
            for kind in ("top", "quantile", "random_negative", "hard_negative"):
                k = e[e["kind"] == kind].sort_values("activation", ascending=False).head(n_examples)
                if len(k):
                    cols = [c for c in ("id", "activation", "text", "split") if c in k.columns]
                    parts.append(f"<h4>{esc(kind.replace('_', ' '))} examples</h4>")
                    parts.append(_frame_table(k[cols], sortable=False))
        elif "top_ids" in r and r["top_ids"] is not None:
            parts.append(f"<p>top ids: {esc(', '.join(map(str, list(r['top_ids'])[:n_examples])))}</p>")
        parts.append("</article>")
    parts.append("</section>")
    return "".join(parts)


def _curation(run: RunData, figs: dict[str, Figure], n_rows: int) -> str:
    if run.layout.curate is None:
        return ""
    parts = ['<section id="curation"><h2>Curation</h2>']
    metrics = run.curation_metrics()
    if metrics is not None:
        parts.append("<h3>Metrics of the selection and the baselines</h3>")
        parts.append(_frame_table(metrics.rename_axis("space"), "curation-metrics", index=True))
    man = run.curate_manifest() or {}
    dist = (man.get("metrics") or {}).get("label_distribution")
    if isinstance(dist, dict) and dist:
        parts.append("<h3>Label distribution of the selection</h3>" + _kv_table(dist))
    conf = {k: v for k, v in man.items() if k not in ("metrics", "baselines")}
    if conf:
        parts.append("<h3>Manifest</h3>" + _kv_table(conf))
    for name in ("curation_pca", "curation_map", "curation_seed_selected"):
        parts.append(_figure(figs, name))
    sel = run.selected()
    if sel is not None:
        if "rank" in sel.columns:
            sel = sel.sort_values("rank")
        cols = [c for c in sel.columns if not isinstance(sel[c].iloc[0] if len(sel) else None,
                                                          (list, np.ndarray))]
        parts.append(f"<h3>Selected samples (first {min(n_rows, len(sel))} of {len(sel)})</h3>")
        parts.append(f"<div class='scroll'>{_frame_table(sel[cols].head(n_rows), 'selected-table')}</div>")
    parts.append("</section>")
    return "".join(parts)


def render_report(run: RunData, cfg: PlotConfig | None = None, max_latent_rows: int = 2000,
                  n_top: int = 20, n_examples: int = 8, n_selected_rows: int = 200) -> str:
    """The report's HTML text."""
    figs = build_figures(run, cfg or PlotConfig(interactive=False))
    body = "".join([
        _summary(run),
        _training(figs.static, run),
        _latents(run, figs.static, max_latent_rows),
        _top_latents(run, n_top, n_examples),
        _curation(run, figs.static, n_selected_rows),
        hypotheses_section(run.root),
    ])
    nav = " ".join(f'<a href="#{s}">{t}</a>' for s, t in (
        ("summary", "Summary"), ("training", "Training"), ("latents", "Latents"),
        ("top-latents", "Top latents"), ("curation", "Curation"), ("hypotheses", "Hypotheses"))
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


def write_report(run_dir: str | Path, out_path: str | Path | None = None,
                 cfg: PlotConfig | None = None) -> Path:
    """Write the self-contained HTML report of a run folder (default RUN/report.html)."""
    run = RunData(run_dir)
    if run.is_empty():
        raise InputError(f"{run_dir}: holds no run artifacts (no data, sae, interpret or curate)")
    out = Path(out_path) if out_path is not None else run.layout.report
    text = render_report(run, cfg)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
