"""`tune_plot.png`: the objective against the trial number, and the FVU/L0 front when Pareto."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from saescope.io import atomic_path
from saescope.tune.config import TuneConfig


def plot_study(
    rows: list[dict[str, Any]], cfg: TuneConfig, path: Path, best_number: int | None
) -> None:
    """Draw the study's finished trials (rows from `trial_rows`) into a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["state"] == "COMPLETE"]
    pareto = cfg.objective == "pareto"
    fig, axes = plt.subplots(1, 2 if pareto else 1, figsize=(11 if pareto else 6.5, 4.2))
    ax_trials = axes[0] if pareto else axes
    archs = list(dict.fromkeys(r["arch"] for r in done))
    colors = {a: f"C{i}" for i, a in enumerate(archs)}

    key = "fvu" if pareto else "score"
    for arch in archs:
        pts = [(r["number"], r[key]) for r in done if r["arch"] == arch and _finite(r[key])]
        if pts:
            ax_trials.scatter(*zip(*pts, strict=True), s=22, color=colors[arch], label=arch)
    if not pareto and done:
        xs, best, cur = [], [], math.inf
        for r in sorted(done, key=lambda r: r["number"]):
            cur = min(cur, r["score"]) if _finite(r["score"]) else cur
            xs.append(r["number"])
            best.append(cur)
        ax_trials.step(xs, best, where="post", color="black", lw=1, label="best so far")
    ax_trials.set_xlabel("trial")
    ax_trials.set_ylabel(
        "validation FVU" if pareto else f"FVU + {cfg.l0_penalty:g} x rel. L0 excess"
    )
    ax_trials.set_title("validation FVU per trial" if pareto else
                        f"objective per trial (target L0 {cfg.target_l0})")
    if _all_positive([r[key] for r in done]):
        _log_axis(ax_trials.yaxis, ax_trials.set_yscale, [r[key] for r in done])

    if pareto:
        ax = axes[1]
        for arch in archs:
            pts = [(r["l0"], r["fvu"]) for r in done if r["arch"] == arch
                   and _finite(r["l0"]) and _finite(r["fvu"])]
            if pts:
                ax.scatter(*zip(*pts, strict=True), s=22, color=colors[arch], alpha=0.6)
        front = sorted((r["l0"], r["fvu"]) for r in done if r["pareto"])
        if front:
            ax.plot(*zip(*front, strict=True), color="black", lw=1, marker="o", ms=4,
                    mfc="none", label="Pareto front")
        ax.axvline(cfg.target_l0, color="grey", ls="--", lw=1, label=f"target L0 {cfg.target_l0}")
        ax.set_xlabel("validation L0")
        ax.set_ylabel("validation FVU")
        ax.set_title("FVU / L0 trade-off")
        if _all_positive([r["l0"] for r in done]):
            _log_axis(ax.xaxis, ax.set_xscale, [r["l0"] for r in done])
        ax.legend(fontsize=8)
    if best_number is not None:
        best = next(r for r in rows if r["number"] == best_number)
        ax_trials.scatter([best["number"]], [best[key]], s=120, facecolors="none",
                          edgecolors="red", label=f"best (trial {best_number})")
        if pareto:
            axes[1].scatter([best["l0"]], [best["fvu"]], s=120, facecolors="none",
                            edgecolors="red")
    if done:
        ax_trials.legend(fontsize=8)
    else:
        ax_trials.text(0.5, 0.5, "no finished trials", ha="center", transform=ax_trials.transAxes)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _log_axis(axis: Any, set_scale: Any, values: list[Any]) -> None:
    """Log scale with plain tick labels (0.3, 5, 20 rather than 3 x 10^-1).

    Minor ticks are labelled only when the data span less than about one and a half decades
    (otherwise their labels would overlap).
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter

    set_scale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(plain)
    vals = [v for v in values if _finite(v)]
    narrow = math.log10(max(vals) / min(vals)) < 1.5
    axis.set_minor_formatter(plain if narrow else NullFormatter())


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(v)


def _all_positive(values: list[Any]) -> bool:
    vals = [v for v in values if _finite(v)]
    return bool(vals) and min(vals) > 0
