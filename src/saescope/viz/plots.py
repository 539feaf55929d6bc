"""Figures of a run: training, latents, curation (matplotlib PNG/SVG, plotly HTML).

`plot_run` renders every figure the run folder's artifacts allow and writes a `MISSING.txt`
naming the rest. The `fig_*` functions return matplotlib figures so the report can embed them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from saescope.io import atomic_path
from saescope.run_layout import RunLayout
from saescope.viz import analysis
from saescope.viz.config import PlotConfig
from saescope.viz.rundata import RunData


def _subplots(*args: Any, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """A figure outside pyplot (no global backend or state: safe in Streamlit's threads and
    in notebooks) and its axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def _cmap(name: str) -> Any:
    return matplotlib.colormaps[name]


@dataclass
class Figures:
    """Figures built for a run, by name, plus lines saying what could not be drawn and why."""

    static: dict[str, Figure] = field(default_factory=dict)
    interactive: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    """Captions that depend on the run (what a map samples, whether it shows structure); they
    replace the report's fixed caption of that figure."""


# ------------------------------------------------------------------------- training
FIXED_L0_ARCHS = ("topk", "batchtopk")
"""Architectures whose L0 is k by construction (per sample, or on average over a batch): an L0
curve would be a flat line, so it is left out and the title says why."""

CURVE_TITLES = {"fvu": "FVU (fraction of variance unexplained)", "l0": "L0 (active latents)",
                "dead_fraction": "dead latent fraction"}


def fig_training_curves(log: pd.DataFrame, arch: str | None = None,
                        final: dict[str, Any] | None = None) -> Figure:
    """FVU, L0 and dead fraction against step, as logged on training batches; the final
    metrics of `final` (metrics.json, held-out rows when its `split` says so) as one marker
    each. No L0 panel for fixed-k architectures (`FIXED_L0_ARCHS`)."""
    panels = [c for c in ("fvu", "l0", "dead_fraction") if c in log.columns]
    if arch in FIXED_L0_ARCHS and "l0" in panels:
        panels.remove("l0")
    fig, axes = _subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.4))
    axes = np.atleast_1d(axes)
    final = final or {}
    split = final.get("split", "final")
    for ax, col in zip(axes, panels, strict=False):
        ax.plot(log["step"], log[col], lw=1.5, color="#1f77b4", label="training batches")
        if isinstance(final.get(col), (int, float)):
            ax.plot([log["step"].iloc[-1]], [final[col]], "D", color="#d62728", ms=6,
                    label=f"{split} rows (end of training)")
        ax.set_xlabel("step")
        ax.set_title(CURVE_TITLES[col], fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    if arch in FIXED_L0_ARCHS:
        fig.suptitle(f"no L0 panel: a {arch} SAE keeps k latents active by construction", fontsize=8,
                     y=0.02, va="bottom", color="#555")
    fig.tight_layout(rect=(0, 0.05 if arch in FIXED_L0_ARCHS else 0, 1, 1))
    return fig


def fig_firing_histogram(stats: pd.DataFrame, dead: dict[str, Any] | None = None) -> Figure:
    """Histogram of latent firing frequencies on a log scale; dead latents counted apart, with the
    count of `dead` (`RunData.dead_latents`, metrics.json) when given, so every view says one number.

    Ticks only at whole decades (the axis spans at least one), so labels never crowd."""
    from matplotlib.ticker import LogLocator, NullFormatter

    freq = stats["frequency"].to_numpy(dtype=float)
    alive = freq[freq > 0]
    fig, ax = _subplots(figsize=(6, 3.4))
    if len(alive):
        lo, hi = np.log10(alive.min()), np.log10(max(alive.max(), alive.min() * 1.0001))
        bins = np.logspace(lo, hi, 40)
        ax.hist(alive, bins=bins, color="#2ca02c", alpha=0.85)
        lo_d, hi_d = np.floor(lo), max(np.ceil(hi), np.floor(lo) + 1)
        ax.set_xlim(10**lo_d, 10**hi_d)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
    ax.xaxis.set_minor_formatter(NullFormatter())
    n_dead = int((freq == 0).sum()) if dead is None else dead["n_dead"]
    n_all = len(freq) if dead is None else dead["n_latents"]
    rows = f"{dead['rows']:,} " if dead and dead.get("rows") else ""
    ax.set_xlabel(f"firing frequency (fraction of {rows}training rows, log scale)")
    ax.set_ylabel("latents")
    ax.set_title(f"latent firing frequency: {n_all - n_dead} alive, {n_dead} dead", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- latents
def fig_reranked(rr: np.ndarray) -> Figure:
    """Each sample's latent activations in decreasing order (rank on x), one line per sample."""
    fig, ax = _subplots(figsize=(6, 3.4))
    ranks = np.arange(1, rr.shape[1] + 1)
    for row in rr:
        nz = row > 0
        ax.plot(ranks[nz], row[nz], lw=0.9, alpha=0.6)
    ax.set_xlabel("rank of latent within the sample")
    ax.set_ylabel("activation")
    ax.set_yscale("log")
    ax.set_title(f"re-ranked latent activations ({len(rr)} samples)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def fig_sample_heatmaps(tau: np.ndarray, cos: np.ndarray, labels: list[str] | None = None,
                        label_name: str = "label") -> Figure:
    """Kendall tau-b and cosine similarity between samples' SAE codes. With `labels` (one per
    sample, samples already sorted by label) each label's block is ticked and outlined."""
    fig, axes = _subplots(1, 2, figsize=(10.5, 4.8))
    for ax, mat, title in ((axes[0], tau, "Kendall tau-b of latent rankings"),
                           (axes[1], cos, "cosine of SAE codes")):
        im = ax.imshow(np.ma.masked_invalid(mat), cmap="viridis", vmin=-1 if title[0] == "K" else 0,
                       vmax=1)
        ax.set_title(title, fontsize=10)
        if labels:
            _label_blocks(ax, labels)
            ax.set_xlabel(f"sample (sorted by {label_name})")
        else:
            ax.set_xlabel("sample")
            ax.set_ylabel("sample")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def _label_blocks(ax: Any, labels: list[str]) -> None:
    """Tick each run of equal labels at its middle and draw its boundary."""
    starts = [0] + [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
    ends = starts[1:] + [len(labels)]
    mids = [(a + b - 1) / 2 for a, b in zip(starts, ends, strict=True)]
    names = [_short(labels[a], 18) for a in starts]
    ax.set_yticks(mids, names, fontsize=7)
    ax.set_xticks([])
    for b in starts[1:]:
        ax.axhline(b - 0.5, color="white", lw=0.8)
        ax.axvline(b - 0.5, color="white", lw=0.8)


def fig_latent_histograms(acts: dict[str, np.ndarray]) -> Figure:
    """Small multiples: the distribution of each latent's non-zero activations."""
    n = max(1, len(acts))
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = _subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for ax, (title, a) in zip(axes.ravel(), acts.items(), strict=False):
        ax.set_visible(True)
        ax.hist(a, bins=30, color="#9467bd")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("activation histograms (non-zero activations)", fontsize=10)
    fig.tight_layout()
    return fig


def label_colors(n: int) -> list[str]:
    """Colours for n categories: tab10 (tab20 beyond 10) without its greys, which `ROLE_STYLE`
    keeps for the pool; cycling beyond 18."""
    from matplotlib.colors import to_hex

    cmap = _cmap("tab10" if n <= 9 else "tab20")
    greys = {"#7f7f7f", "#c7c7c7"}
    cols = [to_hex(cmap(i)) for i in range(cmap.N)]
    cols = [c for c in cols if c not in greys]
    return [cols[i % len(cols)] for i in range(n)]


DEAD_COLOR = "#bdbdbd"


def fig_scatter(coords: np.ndarray, color: np.ndarray, title: str, cbar_label: str = "",
                categorical: bool = False, dead: np.ndarray | None = None,
                dead_total: int | None = None) -> Figure:
    """A 2-D map coloured by a numeric value or by category (legend, categories sorted). Points
    flagged in `dead` are drawn grey and named in the legend instead of on the colour bar; with
    `dead_total` (all dead latents, when the map shows a sample) the legend says both counts."""
    fig, ax = _subplots(figsize=(6.4, 5))
    if categorical:
        scatter_by_label(ax, coords, pd.Series(color).astype(str).to_numpy(), s=8)
    else:
        live = np.ones(len(coords), bool) if dead is None else ~dead
        if dead is not None and dead.any():
            shown = int(dead.sum())
            of = f" shown, of {dead_total} dead in all" if dead_total is not None and dead_total != shown else ""
            ax.scatter(coords[dead, 0], coords[dead, 1], s=6, color=DEAD_COLOR, alpha=0.8,
                       label=f"dead (never fired): {shown}{of}")
            ax.legend(fontsize=7, loc="best")
        sc = ax.scatter(coords[live, 0], coords[live, 1], s=6, c=color[live], cmap="viridis", alpha=0.8)
        fig.colorbar(sc, ax=ax, label=cbar_label)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def scatter_by_label(ax: Any, coords: np.ndarray, labels: np.ndarray, s: float = 8, seed: int = 0) -> None:
    """Points coloured by label, drawn in one shuffled order: drawing one label after another
    buries the first labels under the last ones (a 50/50 pool looked mostly orange), while
    interleaving lets each label show in proportion to its points. Legend: one entry per label
    with its count (categories sorted)."""
    from matplotlib.lines import Line2D

    cats = sorted(pd.unique(labels))
    palette = dict(zip(cats, label_colors(len(cats)), strict=True))
    order = np.random.default_rng(seed).permutation(len(labels))
    ax.scatter(coords[order, 0], coords[order, 1], s=s, alpha=0.7, c=[palette[v] for v in labels[order]],
               linewidths=0)
    if len(cats) <= 20:
        handles = [Line2D([], [], ls="", marker="o", color=palette[c], label=f"{c} ({int((labels == c).sum())})")
                   for c in cats]
        ax.legend(handles=handles, fontsize=7, loc="best")


# ------------------------------------------------------------------------- curation
ROLE_STYLE = {"pool": ("#bbbbbb", 6, 0.4), "selected": ("#000000", 10, 0.8), "seed": ("#ffd700", 140, 1.0)}
"""Colour, size and alpha per role: grey, black and gold, none of which `label_colors` uses, so
"selected" never reads as a label. Seeds are big stars drawn last (`ROLE_ZORDER`), over the
selected dots they sit among."""
ROLE_ZORDER = {"pool": 1, "selected": 2, "seed": 3}


def fig_curation_projection(proj: pd.DataFrame, coords: np.ndarray | None = None,
                            method: str = "PCA") -> Figure:
    """Seeds, pool and selection on a 2-D map: by role, and by label when there is one."""
    xy = proj[["x", "y"]].to_numpy() if coords is None else coords
    has_label = "label" in proj.columns and proj["label"].notna().any()
    fig, axes = _subplots(1, 2 if has_label else 1, figsize=(12 if has_label else 6.4, 5),
                             squeeze=False)
    ax = axes[0, 0]
    for role in ("pool", "selected", "seed"):
        m = np.asarray(proj["role"] == role)
        if m.any():
            c, s, a = ROLE_STYLE[role]
            ax.scatter(xy[m, 0], xy[m, 1], s=s, c=c, alpha=a, label=f"{role} ({int(m.sum())})",
                       marker="*" if role == "seed" else "o", zorder=ROLE_ZORDER[role],
                       edgecolors="black" if role == "seed" else "none", linewidths=0.5)
    ax.legend(fontsize=8)
    ax.set_title(f"{method}: seeds, pool and selection", fontsize=10)
    if has_label:
        ax = axes[0, 1]
        scatter_by_label(ax, xy, proj["label"].astype(str).to_numpy(), s=8)
        ax.set_title(f"{method}: coloured by label", fontsize=10)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    return fig


def fig_seed_selected_heatmaps(mats: dict[str, np.ndarray]) -> Figure:
    """Cosine between sampled seeds (rows) and sampled selected samples (columns), per space."""
    n = len(mats)
    fig, axes = _subplots(1, n, figsize=(6 * n, 4.4), squeeze=False)
    for ax, (name, mat) in zip(axes[0], mats.items(), strict=False):
        im = ax.imshow(mat, cmap="magma", aspect="auto")
        ax.set_title(f"seed vs selected cosine ({name})", fontsize=10)
        ax.set_xlabel(f"selected sample ({mat.shape[1]})")
        ax.set_ylabel(f"seed ({mat.shape[0]})")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- building
def build_figures(run: RunData, cfg: PlotConfig | None = None,
                  echo: Callable[[str], None] | None = None) -> Figures:
    """Every figure the run's artifacts allow, and notes on those they do not.

    `echo` hears a line before and after each slow step (2-D projections), for the CLI."""
    cfg = cfg or PlotConfig()
    figs = Figures()
    figs.notes.extend(run.missing())
    _training(run, cfg, figs)
    _latents(run, cfg, figs, echo)
    _curation(run, cfg, figs, echo)
    return figs


def _training(run: RunData, cfg: PlotConfig, figs: Figures) -> None:
    log = run.train_log()
    if log is not None:
        arch = (run.sae_cfg() or {}).get("arch")
        figs.static["training_curves"] = fig_training_curves(log, arch, run.train_metrics())
        if cfg.interactive:
            import plotly.express as px

            cols = [c for c in ("fvu", "l0", "dead_fraction") if c in log.columns
                    and not (c == "l0" and arch in FIXED_L0_ARCHS)]
            long = log.melt(id_vars="step", value_vars=cols, var_name="metric")
            f = px.line(long, x="step", y="value", facet_row="metric", height=200 * len(cols) + 80,
                        title="training curves (logged on training batches)")
            f.update_yaxes(matches=None)
            figs.interactive["training_curves"] = f
    stats = run.latent_stats()
    if stats is not None:
        figs.static["firing_frequency"] = fig_firing_histogram(stats, run.dead_latents())


def _latents(run: RunData, cfg: PlotConfig, figs: Figures,
             echo: Callable[[str], None] | None = None) -> None:
    d = run.data()
    if d is not None and run.layout.sae is not None:
        _code_views(run, cfg, figs)
    else:
        ex = run.examples()
        if ex is not None:
            names = _latent_names(run)
            top = ex.loc[ex["activation"] > 0].groupby("latent").size().nlargest(cfg.n_latent_hists)
            acts = {
                _short(f"#{t} {names.get(int(t), '')}"): ex.loc[
                    (ex["latent"] == t) & (ex["activation"] > 0), "activation"
                ].to_numpy()
                for t in top.index
            }
            if acts:
                figs.static["latent_histograms"] = fig_latent_histograms(acts)
                figs.notes.append("latent views: no data+SAE to encode; histograms from examples.parquet only")
        else:
            figs.notes.append("latent views: need data + SAE (or interpret examples)")
    W = run.decoder()
    if W is not None:
        _decoder_map(run, W, cfg, figs, echo)


def heatmap_samples(codes: Any, meta: Any, label: str | None, n: int, seed: int) -> tuple[np.ndarray, list[str] | None]:
    """Rows (of `codes`) for the sample-by-sample heatmaps: rows that fire at all, drawn at
    random, then sorted by `label` when there is one (so same-label blocks show)."""
    rng = np.random.default_rng(seed)
    fired = np.flatnonzero(np.diff(codes.indptr) > 0)
    pick = np.sort(rng.choice(fired, size=min(n, len(fired)), replace=False))
    if label is None:
        return pick, None
    labels = meta[label].astype(str).to_numpy()[pick]
    order = np.argsort(labels, kind="stable")
    return pick[order], labels[order].tolist()


def _code_views(run: RunData, cfg: PlotConfig, figs: Figures) -> None:
    X, meta = run.data()
    idx = analysis.sample_rows(len(X), cfg.code_sample, cfg.seed)
    codes = run.codes(idx)
    labels = run.label_columns()
    label = labels[0] if labels else None
    pick, pick_labels = heatmap_samples(codes, meta.iloc[idx].reset_index(drop=True), label,
                                        cfg.n_samples, cfg.seed)
    sub = codes[pick]
    figs.static["latents_reranked"] = fig_reranked(analysis.reranked(sub))
    figs.static["latents_sample_heatmaps"] = fig_sample_heatmaps(
        analysis.kendall_tau_matrix(sub), analysis.cosine_matrix(sub.toarray()), pick_labels,
        label or "label")
    counts = np.asarray((codes > 0).sum(axis=0)).ravel()
    top = np.argsort(-counts, kind="stable")[: cfg.n_latent_hists]
    top = [int(t) for t in top if counts[t] > 0]
    names = _latent_names(run)
    figs.static["latent_histograms"] = fig_latent_histograms(
        {_short(f"#{t} {names.get(t, '')}"): analysis.latent_activations(codes, t) for t in top}
    )


def _decoder_map(run: RunData, W: np.ndarray, cfg: PlotConfig, figs: Figures,
                 echo: Callable[[str], None] | None = None) -> None:
    from saescope.viz.projection_cache import cached_project_2d

    idx = analysis.sample_rows(len(W), cfg.max_points, cfg.seed)
    coords, method = cached_project_2d(W[idx], cfg.projection, run.layout.cache, metric="cosine",
                                       seed=cfg.seed, echo=echo, what="decoder directions")
    table = run.latent_table()
    dens = np.full(len(W), np.nan)
    if table is not None:
        col = "density" if "density" in table.columns else "frequency"
        lat = table["latent"].to_numpy()
        ok = (lat >= 0) & (lat < len(W))
        dens[lat[ok]] = table[col].to_numpy(dtype=float)[ok]
    mask = run.dead_mask()  # the training rows' count, as metrics.json (not the density's data)
    dead = mask[idx] if mask is not None and len(mask) == len(W) else dens[idx] == 0
    color = np.log10(np.where(dead | ~(dens[idx] > 0), np.nan, dens[idx]))
    total = run.dead_latents()
    flag = structure_flag(coords, cfg.seed)
    figs.static["decoder_map"] = fig_scatter(
        coords, color, f"{method} of decoder directions ({len(idx)} of {len(W)} latents)"
        + ("\n" + flag.split(":")[0] if flag else ""),
        cbar_label="log10 density of live latents (dead: grey)", dead=dead,
        dead_total=total["n_dead"] if total else None,
    )
    if flag:
        figs.captions["decoder_map"] = f"2-D {method} map of decoder directions (cosine). {flag}"
    if cfg.interactive:
        import plotly.express as px

        names = _latent_names(run)
        frame = pd.DataFrame({
            "x": coords[:, 0], "y": coords[:, 1], "latent": idx,
            "log10 density": color, "dead": dead,
            "explanation": [names.get(int(i), "") for i in idx],
        })
        figs.interactive["decoder_map"] = px.scatter(
            frame, x="x", y="y", color="log10 density", symbol="dead",
            hover_data=["latent", "explanation"],
            title=f"{method} of decoder directions (log10 density; dead latents: x symbol)",
            symbol_map={False: "circle", True: "x"},
        )


def _curation(run: RunData, cfg: PlotConfig, figs: Figures,
              echo: Callable[[str], None] | None = None) -> None:
    proj = run.projection()
    if proj is None:
        return
    figs.static["curation_pca"] = fig_curation_projection(proj)
    if cfg.interactive:
        import plotly.express as px

        hover = [c for c in ("id", "label") if c in proj.columns]
        figs.interactive["curation_pca"] = px.scatter(
            proj, x="x", y="y", color="role", symbol="label" if "label" in proj.columns else None,
            hover_data=hover, title="PCA: seeds, pool and selection",
        )
    d = run.data()
    if d is None:
        figs.notes.append("curation: no data/embeddings.parquet, so no UMAP view or seed heatmaps")
        return
    X, meta = d
    pos = pd.Series(np.arange(len(meta)), index=meta["id"])
    pos = pos[~pos.index.duplicated()]
    known = proj["id"].isin(pos.index).to_numpy()
    if known.sum() >= 10:
        sub = curation_map_rows(proj.loc[known].reset_index(drop=True), cfg.max_points, cfg.seed)
        from saescope.viz.projection_cache import cached_project_2d

        coords, method = cached_project_2d(X[pos[sub["id"]].to_numpy()], cfg.projection,
                                           run.layout.cache, seed=cfg.seed, echo=echo,
                                           what="curation points")
        if method != "PCA":
            figs.static["curation_map"] = fig_curation_projection(sub, coords, method)
            figs.captions["curation_map"] = curation_map_caption(proj, sub, method, run.selected())
    seeds = proj.loc[proj["role"] == "seed", "id"]
    sel = run.selected()
    seeds = seeds[seeds.isin(pos.index)]
    sel_ids = sel["id"][sel["id"].isin(pos.index)] if sel is not None and "id" in sel else pd.Series()
    if len(seeds) == 0 or len(sel_ids) == 0:
        figs.notes.append("curation: seeds or selected ids are not in data/embeddings.parquet; "
                          "no seed-vs-selected heatmap")
        return
    rng = np.random.default_rng(cfg.seed)
    s_ids = rng.choice(seeds.to_numpy(), size=min(cfg.n_seeds, len(seeds)), replace=False)
    if "rank" in sel.columns:
        ordered = sel.loc[sel["id"].isin(pos.index)].sort_values("rank")["id"].to_numpy()
        t_ids = ordered[: cfg.n_selected]
    else:
        t_ids = rng.choice(sel_ids.to_numpy(), size=min(cfg.n_selected, len(sel_ids)), replace=False)
    Xs, Xt = X[pos[s_ids].to_numpy()], X[pos[t_ids].to_numpy()]
    mats = {"embedding": analysis.cosine_matrix(Xs, Xt)}
    if run.layout.sae is not None:
        cs = run.codes(pos[s_ids].to_numpy()).toarray()
        ct = run.codes(pos[t_ids].to_numpy()).toarray()
        mats["SAE codes"] = analysis.cosine_matrix(cs, ct)
    figs.static["curation_seed_selected"] = fig_seed_selected_heatmaps(mats)


def structure_flag(coords: np.ndarray, seed: int = 0) -> str:
    """"no cluster structure: ..." when a 2-D map is one blob (`analysis.hopkins_gaussian` below
    `analysis.STRUCTURE_MIN_HOPKINS`), else ""."""
    h = analysis.hopkins_gaussian(coords, seed)
    if not np.isfinite(h) or h >= analysis.STRUCTURE_MIN_HOPKINS:
        return ""
    return (f"no cluster structure: Hopkins statistic {h:.2f} against a Gaussian of the map's own spread "
            "(0.5: one round cloud, near 1: separate clusters), so distances and shapes on this map "
            "mean little; read the latent table instead")


def curation_map_rows(proj: pd.DataFrame, max_points: int, seed: int) -> pd.DataFrame:
    """Rows of the nonlinear curation map: every seed and selected row of projection.parquet, and
    as many pool rows as `max_points` leaves room for (a sample, in file order)."""
    pool = np.flatnonzero((proj["role"] == "pool").to_numpy())
    keep = np.flatnonzero((proj["role"] != "pool").to_numpy())
    room = max(max_points - len(keep), 0)
    take = pool[analysis.sample_rows(len(pool), room, seed)] if room else pool[:0]
    return proj.iloc[np.sort(np.concatenate([keep, take]))].reset_index(drop=True)


def curation_map_caption(proj: pd.DataFrame, sub: pd.DataFrame, method: str,
                         selected: pd.DataFrame | None) -> str:
    """What the curation map shows, counted: seeds, selected rows (of all selected) and the pool
    sample (of projection.parquet's pool rows)."""
    n = {r: int((sub["role"] == r).sum()) for r in ("seed", "selected", "pool")}
    n_pool = int((proj["role"] == "pool").sum())
    n_sel_all = len(selected) if selected is not None else n["selected"]
    sel = f"all {n['selected']} selected rows" if n["selected"] == n_sel_all \
        else f"{n['selected']} of the {n_sel_all} selected rows (those projection.parquet holds)"
    return (f"{method} of the embeddings of all {n['seed']} seeds, {sel} and {n['pool']} of "
            f"projection.parquet's {n_pool} sampled pool rows; left by role, right the same points by label.")


def _latent_names(run: RunData) -> dict[int, str]:
    lat = run.latents()
    if lat is None or "explanation" not in lat.columns:
        return {}
    return {int(r): "" if pd.isna(e) else str(e)
            for r, e in zip(lat["latent"], lat["explanation"], strict=True)}


def _short(s: str, n: int = 40) -> str:
    s = s.strip()
    return s if len(s) <= n else s[: n - 1] + "…"


# ------------------------------------------------------------------------- writing
def plot_run(run_dir: str | Path | RunLayout, out_dir: str | Path | None = None,
             cfg: PlotConfig | None = None, echo: Callable[[str], None] | None = None) -> list[Path]:
    """Write every figure the run folder allows to `out_dir` (default RUN/plots).

    Returns the written paths; `MISSING.txt` lists what could not be drawn and why. `echo`
    hears progress lines (see `build_figures`).
    """
    cfg = cfg or PlotConfig()
    run = RunData(run_dir)
    if run.is_empty():
        from saescope.errors import InputError

        raise InputError(f"{run_dir}: holds no run artifacts (no data, sae, interpret or curate)")
    out = Path(out_dir) if out_dir is not None else run.layout.plots
    out.mkdir(parents=True, exist_ok=True)
    figs = build_figures(run, cfg, echo)
    written: list[Path] = []
    for name, fig in figs.static.items():
        for fmt in cfg.formats:
            written.append(_save(out / f"{name}.{fmt}", lambda p, f=fig, fmt=fmt: f.savefig(
                p, format=fmt, dpi=120)))
    for name, f in figs.interactive.items():
        written.append(_save(out / f"{name}.html", lambda p, f=f: f.write_html(
            p, include_plotlyjs=True, full_html=True)))
    note = "\n".join(figs.notes) + ("\n" if figs.notes else "")
    written.append(_save(out / "MISSING.txt", lambda p: p.write_text(note or "nothing missing\n")))
    return written


def _save(path: Path, write: Callable[[Path], Any]) -> Path:
    with atomic_path(path) as tmp:
        write(tmp)
    return path
