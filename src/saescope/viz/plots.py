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

from saescope.errors import ConfigError
from saescope.io import atomic_path
from saescope.viz import analysis
from saescope.viz.rundata import RunData

FORMATS = ("png", "svg")


def _subplots(*args: Any, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """A figure outside pyplot (no global backend or state: safe in Streamlit's threads and
    in notebooks) and its axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def _cmap(name: str) -> Any:
    return matplotlib.colormaps[name]


@dataclass
class PlotConfig:
    """What `plot_run` draws and how."""

    formats: tuple[str, ...] = ("png", "svg")
    """Static formats written for each figure (png, svg)."""
    interactive: bool = True
    """Also write plotly HTML for the training curves, decoder map and curation view."""
    projection: analysis.Projection = "auto"
    """2-D map of decoder directions / curation: auto (UMAP if installed, else t-SNE), umap, tsne, pca."""
    max_points: int = 1500
    """At most this many points in a 2-D map (a random sample beyond)."""
    n_samples: int = 30
    """Samples in the re-ranked activation plot and the sample-by-sample heatmaps."""
    n_latent_hists: int = 12
    """Latents (most frequent first) given an activation histogram."""
    n_seeds: int = 30
    """Seeds in the seed-vs-selected similarity heatmap."""
    n_selected: int = 50
    """Selected samples in the seed-vs-selected similarity heatmap."""
    code_sample: int = 4000
    """Data rows encoded with the SAE for the latent views."""
    seed: int = 0
    """Random seed for sampling and projections."""

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise ConfigError(f"formats: unknown {bad} (choose from {', '.join(FORMATS)})")
        if self.projection not in ("auto", "umap", "tsne", "pca"):
            raise ConfigError(f"projection: {self.projection!r} is not auto, umap, tsne or pca")
        for name in ("max_points", "n_samples", "n_latent_hists", "n_seeds", "n_selected", "code_sample"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")


@dataclass
class Figures:
    """Figures built for a run, by name, plus lines saying what could not be drawn and why."""

    static: dict[str, Figure] = field(default_factory=dict)
    interactive: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------- training
def fig_training_curves(log: pd.DataFrame) -> Figure:
    """FVU, L0 and dead fraction against training step."""
    panels = [c for c in ("fvu", "l0", "dead_fraction") if c in log.columns]
    fig, axes = _subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.2))
    axes = np.atleast_1d(axes)
    titles = {"fvu": "FVU (fraction of variance unexplained)", "l0": "L0 (active latents)",
              "dead_fraction": "dead latent fraction"}
    for ax, col in zip(axes, panels, strict=False):
        ax.plot(log["step"], log[col], lw=1.5, color="#1f77b4")
        ax.set_xlabel("step")
        ax.set_title(titles[col], fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def fig_firing_histogram(stats: pd.DataFrame) -> Figure:
    """Histogram of latent firing frequencies on a log scale; dead latents counted apart."""
    freq = stats["frequency"].to_numpy(dtype=float)
    alive = freq[freq > 0]
    fig, ax = _subplots(figsize=(6, 3.4))
    if len(alive):
        lo, hi = np.log10(alive.min()), np.log10(max(alive.max(), alive.min() * 1.0001))
        bins = np.logspace(lo, hi, 40)
        ax.hist(alive, bins=bins, color="#2ca02c", alpha=0.85)
    ax.set_xscale("log")
    ax.set_xlabel("firing frequency (fraction of inputs, log scale)")
    ax.set_ylabel("latents")
    ax.set_title(f"latent firing frequency: {len(alive)} alive, {int((freq == 0).sum())} dead",
                 fontsize=10)
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


def fig_sample_heatmaps(tau: np.ndarray, cos: np.ndarray) -> Figure:
    """Kendall tau-b and cosine similarity between samples' SAE codes."""
    fig, axes = _subplots(1, 2, figsize=(10, 4.4))
    for ax, mat, title in ((axes[0], tau, "Kendall tau-b of latent rankings"),
                           (axes[1], cos, "cosine of SAE codes")):
        im = ax.imshow(np.ma.masked_invalid(mat), cmap="viridis", vmin=-1 if title[0] == "K" else 0,
                       vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("sample")
        ax.set_ylabel("sample")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


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


def fig_scatter(coords: np.ndarray, color: np.ndarray, title: str, cbar_label: str = "",
                categorical: bool = False) -> Figure:
    """A 2-D map coloured by a numeric value or by category (legend)."""
    fig, ax = _subplots(figsize=(6.4, 5))
    if categorical:
        cats = pd.unique(pd.Series(color).astype(str))
        cmap = _cmap("tab10" if len(cats) <= 10 else "tab20")
        for i, c in enumerate(cats):
            m = np.asarray(pd.Series(color).astype(str) == c)
            ax.scatter(coords[m, 0], coords[m, 1], s=8, alpha=0.7, color=cmap(i % cmap.N), label=c)
        if len(cats) <= 20:
            ax.legend(fontsize=7, markerscale=2, loc="best")
    else:
        sc = ax.scatter(coords[:, 0], coords[:, 1], s=6, c=color, cmap="viridis", alpha=0.8)
        fig.colorbar(sc, ax=ax, label=cbar_label)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- curation
ROLE_STYLE = {"pool": ("#bbbbbb", 6, 0.4), "selected": ("#d62728", 10, 0.8), "seed": ("#1f77b4", 28, 1.0)}


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
                       marker="*" if role == "seed" else "o")
    ax.legend(fontsize=8)
    ax.set_title(f"{method}: seeds, pool and selection", fontsize=10)
    if has_label:
        ax = axes[0, 1]
        labels = proj["label"].astype(str)
        cats = pd.unique(labels)
        cmap = _cmap("tab10" if len(cats) <= 10 else "tab20")
        for i, c in enumerate(cats):
            m = np.asarray(labels == c)
            ax.scatter(xy[m, 0], xy[m, 1], s=8, alpha=0.7, color=cmap(i % cmap.N), label=c)
        if len(cats) <= 20:
            ax.legend(fontsize=7, markerscale=2)
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
def build_figures(run: RunData, cfg: PlotConfig | None = None) -> Figures:
    """Every figure the run's artifacts allow, and notes on those they do not."""
    cfg = cfg or PlotConfig()
    figs = Figures()
    figs.notes.extend(run.missing())
    _training(run, cfg, figs)
    _latents(run, cfg, figs)
    _curation(run, cfg, figs)
    return figs


def _training(run: RunData, cfg: PlotConfig, figs: Figures) -> None:
    log = run.train_log()
    if log is not None:
        figs.static["training_curves"] = fig_training_curves(log)
        if cfg.interactive:
            import plotly.express as px

            cols = [c for c in ("fvu", "l0", "dead_fraction") if c in log.columns]
            long = log.melt(id_vars="step", value_vars=cols, var_name="metric")
            f = px.line(long, x="step", y="value", facet_row="metric", height=200 * len(cols) + 80,
                        title="training curves")
            f.update_yaxes(matches=None)
            figs.interactive["training_curves"] = f
    stats = run.latent_stats()
    if stats is not None:
        figs.static["firing_frequency"] = fig_firing_histogram(stats)


def _latents(run: RunData, cfg: PlotConfig, figs: Figures) -> None:
    d = run.data()
    if d is not None and run.layout.sae is not None:
        X, _ = d
        idx = analysis.sample_rows(len(X), cfg.code_sample, cfg.seed)
        codes = run.codes(idx)
        rng = np.random.default_rng(cfg.seed)
        # samples that fire at all, so the heatmaps compare something
        fired = np.flatnonzero(np.diff(codes.indptr) > 0)
        pick = np.sort(rng.choice(fired, size=min(cfg.n_samples, len(fired)), replace=False))
        sub = codes[pick]
        figs.static["latents_reranked"] = fig_reranked(analysis.reranked(sub))
        figs.static["latents_sample_heatmaps"] = fig_sample_heatmaps(
            analysis.kendall_tau_matrix(sub), analysis.cosine_matrix(sub.toarray())
        )
        counts = np.asarray((codes > 0).sum(axis=0)).ravel()
        top = np.argsort(-counts, kind="stable")[: cfg.n_latent_hists]
        top = [int(t) for t in top if counts[t] > 0]
        names = _latent_names(run)
        figs.static["latent_histograms"] = fig_latent_histograms(
            {_short(f"#{t} {names.get(t, '')}"): analysis.latent_activations(codes, t) for t in top}
        )
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
        _decoder_map(run, W, cfg, figs)


def _decoder_map(run: RunData, W: np.ndarray, cfg: PlotConfig, figs: Figures) -> None:
    idx = analysis.sample_rows(len(W), cfg.max_points, cfg.seed)
    coords, method = analysis.project_2d(W[idx], cfg.projection, metric="cosine", seed=cfg.seed)
    table = run.latent_table()
    dens = np.full(len(W), np.nan)
    if table is not None:
        col = "density" if "density" in table.columns else "frequency"
        lat = table["latent"].to_numpy()
        ok = (lat >= 0) & (lat < len(W))
        dens[lat[ok]] = table[col].to_numpy(dtype=float)[ok]
    color = np.log10(np.clip(dens[idx], 1e-7, None))
    figs.static["decoder_map"] = fig_scatter(
        coords, color, f"{method} of decoder directions ({len(idx)} of {len(W)} latents)",
        cbar_label="log10 density",
    )
    if cfg.interactive:
        import plotly.express as px

        names = _latent_names(run)
        frame = pd.DataFrame({
            "x": coords[:, 0], "y": coords[:, 1], "latent": idx,
            "log10 density": color,
            "explanation": [names.get(int(i), "") for i in idx],
        })
        figs.interactive["decoder_map"] = px.scatter(
            frame, x="x", y="y", color="log10 density", hover_data=["latent", "explanation"],
            title=f"{method} of decoder directions",
        )


def _curation(run: RunData, cfg: PlotConfig, figs: Figures) -> None:
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
        sub = proj.loc[known].reset_index(drop=True)
        take = analysis.sample_rows(len(sub), cfg.max_points, cfg.seed)
        sub = sub.iloc[take].reset_index(drop=True)
        coords, method = analysis.project_2d(X[pos[sub["id"]].to_numpy()], cfg.projection,
                                             seed=cfg.seed)
        if method != "PCA":
            figs.static["curation_map"] = fig_curation_projection(sub, coords, method)
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
def plot_run(run_dir: str | Path, out_dir: str | Path | None = None,
             cfg: PlotConfig | None = None, progress: bool = False) -> list[Path]:
    """Write every figure the run folder allows to `out_dir` (default RUN/plots).

    Returns the written paths; `MISSING.txt` lists what could not be drawn and why.
    """
    cfg = cfg or PlotConfig()
    run = RunData(run_dir)
    if run.is_empty():
        from saescope.errors import InputError

        raise InputError(f"{run_dir}: holds no run artifacts (no data, sae, interpret or curate)")
    out = Path(out_dir) if out_dir is not None else run.layout.plots
    out.mkdir(parents=True, exist_ok=True)
    figs = build_figures(run, cfg)
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
