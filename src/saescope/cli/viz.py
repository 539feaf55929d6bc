"""`saescope plot`, `saescope report` and `saescope dashboard`: look at a run.

Each takes a run folder (`saescope demo`'s), one stage's output folder, or the outputs of
separate commands put together with --data, --sae, --interpret, --curate and --hypotheses.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import typer

from saescope.cli.options import Opt, command

RUN_OPTIONS = (
    Opt("run_dir", None, argument=True, type=Path | None,
        help="Run folder, or a train/interpret/curate output (optional with --data/--sae/--interpret/--curate)."),
    Opt("--data", None, type=Path | None, help="Vectors Parquet (`saescope embed` output): data views."),
    Opt("--sae", None, type=Path | None, help="`saescope train` output folder."),
    Opt("--interpret", None, type=list[Path] | None,
        help="`saescope interpret` output folder; repeat for another explainer's (the first is the main one)."),
    Opt("--curate", None, type=Path | None, help="`saescope curate` output folder."),
    Opt("--hypotheses", None, type=Path | None,
        help="`saescope hypotheses` output folder (default: the run's hypotheses/)."),
)
"""Where `plot`, `report` and `dashboard` find the run (`RunLayout.from_parts`)."""
_PROJECTION = "auto (UMAP if installed, else t-SNE), umap, tsne, pca."


def _parts(o: SimpleNamespace) -> dict:
    first, *also = o.interpret or [None]
    return {"data": o.data, "sae": o.sae, "interpret": first, "curate": o.curate,
            "hypotheses": o.hypotheses, "also_interpret": tuple(also)}


def _layout(o: SimpleNamespace):  # noqa: ANN202
    from saescope.run_layout import RunLayout

    return RunLayout.from_parts(o.run_dir, **_parts(o))


def _err(line: str) -> None:
    typer.echo(line, err=True)


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)
    app.command("report")(report)
    app.command("dashboard")(dashboard)


@command(None, (
    *RUN_OPTIONS,
    Opt("--out", None, type=Path | None, help="Output folder (default RUN_DIR/plots)."),
    Opt("--formats", None, default="png,svg", help="Static formats, comma separated (png, svg)."),
    Opt("--interactive/--no-interactive", None, type=bool, default=True,
        help="Also write plotly HTML figures."),
    Opt("--projection", None, default="auto", help="2-D maps: " + _PROJECTION),
    Opt("--max-points", None, type=int, default=1500, help="Points at most in a 2-D map (sampled beyond)."),
))
def plot(**opts: Any) -> None:
    """Draw training, latent and curation figures (PNG/SVG + interactive HTML)."""
    from saescope.viz.plots import PlotConfig, plot_run

    o = SimpleNamespace(**opts)
    cfg = PlotConfig(formats=tuple(f.strip() for f in o.formats.split(",") if f.strip()),
                     interactive=o.interactive, projection=o.projection, max_points=o.max_points)
    paths = plot_run(_layout(o), o.out, cfg, echo=_err)
    for p in paths:
        typer.echo(str(p))
    missing = [p for p in paths if p.name == "MISSING.txt"]
    if missing and missing[0].read_text().strip() != "nothing missing":
        _err(f"not drawn (see {missing[0]}):\n{missing[0].read_text().rstrip()}")


@command(None, (
    *RUN_OPTIONS,
    Opt("--out", None, type=Path | None, help="HTML file (default RUN_DIR/report.html)."),
    Opt("--projection", None, default="auto", help="Decoder map: " + _PROJECTION),
))
def report(**opts: Any) -> None:
    """Write one self-contained HTML report (no server, no network)."""
    from saescope.viz.plots import PlotConfig
    from saescope.viz.report import write_report

    o = SimpleNamespace(**opts)
    cfg = PlotConfig(interactive=False, projection=o.projection)
    typer.echo(str(write_report(_layout(o), o.out, cfg, echo=_err)))


@command(None, (
    *RUN_OPTIONS,
    Opt("--host", None, default="127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
    Opt("--port", None, type=int, default=8501, help="TCP port."),
))
def dashboard(**opts: Any) -> None:
    """Start the Streamlit dashboard on the run folder."""
    from saescope.dashboard.launch import check_launch, launch

    o = SimpleNamespace(**opts)
    parts = _parts(o)
    check_launch(o.run_dir, o.host, o.port, parts)  # fail before printing a URL that will not answer
    typer.echo(f"saescope dashboard on http://{o.host}:{o.port} (Ctrl+C to stop)")
    raise typer.Exit(launch(o.run_dir, o.host, o.port, parts=parts))
