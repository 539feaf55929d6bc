"""`saescope plot`, `saescope report` and `saescope dashboard`: look at a run.

Each takes a run folder (`saescope demo`'s), one stage's output folder, or the outputs of
separate commands put together with --data, --sae, --interpret, --curate and --hypotheses.
Options come from
`saescope.viz.config` (`PlotRunConfig`, `ReportConfig`, `DashboardConfig`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from saescope.cli import say
from saescope.cli.options import Opt, build, command, values
from saescope.viz.config import DashboardConfig, PlotRunConfig, ReportConfig

RUN_OPTIONS = (
    Opt("run_dir", "run.run_dir", argument=True, type=Path | None),
    Opt("--data", "run.data", type=Path | None),
    Opt("--sae", "run.sae", type=Path | None),
    Opt("--interpret", "run.interpret", type=list[Path] | None),
    Opt("--curate", "run.curate", type=Path | None),
    Opt("--hypotheses", "run.hypotheses", type=Path | None),
)
"""Where `plot`, `report` and `dashboard` find the run (`RunInputs`)."""

FIGURE_OPTIONS = (
    Opt("--projection", "plot.projection", type=str),
    Opt("--max-points", "plot.max_points"),
    Opt("--n-samples", "plot.n_samples"),
    Opt("--n-latent-hists", "plot.n_latent_hists"),
    Opt("--n-seeds", "plot.n_seeds"),
    Opt("--n-selected", "plot.n_selected"),
    Opt("--code-sample", "plot.code_sample"),
    Opt("--seed", "plot.seed"),
)
"""What the figures of `plot` and `report` show (`PlotConfig`)."""

PLOT_OPTIONS = (
    *RUN_OPTIONS,
    Opt("--out", "out", type=Path | None),
    Opt("--formats", "plot.formats", type=str),
    Opt("--interactive/--no-interactive", "plot.interactive"),
    *FIGURE_OPTIONS,
)
REPORT_OPTIONS = (*RUN_OPTIONS, Opt("--out", "out", type=Path | None), *FIGURE_OPTIONS,
                  Opt("--overwrite", "overwrite"))
DASHBOARD_OPTIONS = (*RUN_OPTIONS, Opt("--host", "host"), Opt("--port", "port"))


def _config(config: type, opts: dict[str, Any], options: tuple[Opt, ...]) -> Any:
    given = values(opts, options)
    if given["run.interpret"] is not None:
        given["run.interpret"] = [str(p) for p in given["run.interpret"]]
    return build(config, given)


def _err(line: str) -> None:
    say(line, err=True)


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)
    app.command("report")(report)
    app.command("dashboard")(dashboard)


@command(PlotRunConfig, PLOT_OPTIONS)
def plot(**opts: Any) -> None:
    """Draw training, latent and curation figures (PNG/SVG + interactive HTML)."""
    from saescope.viz.plots import plot_run

    cfg = _config(PlotRunConfig, opts, PLOT_OPTIONS)
    paths = plot_run(cfg.run.layout(), cfg.out, cfg.plot, echo=_err)
    for p in paths:
        typer.echo(str(p))
    missing = [p for p in paths if p.name == "MISSING.txt"]
    if missing and missing[0].read_text().strip() != "nothing missing":
        _err(f"not drawn (see {missing[0]}):\n{missing[0].read_text().rstrip()}")


@command(ReportConfig, REPORT_OPTIONS)
def report(**opts: Any) -> None:
    """Write one self-contained HTML report (no server, no network)."""
    from saescope.viz.report import write_report

    cfg = _config(ReportConfig, opts, REPORT_OPTIONS)
    typer.echo(str(write_report(cfg.run.layout(), cfg.out, cfg.plot, echo=_err,
                                overwrite=cfg.overwrite)))


@command(DashboardConfig, DASHBOARD_OPTIONS)
def dashboard(**opts: Any) -> None:
    """Start the Streamlit dashboard on the run folder."""
    from saescope.dashboard.launch import check_launch, launch

    cfg = _config(DashboardConfig, opts, DASHBOARD_OPTIONS)
    parts = cfg.run.parts()
    check_launch(cfg.run.run_dir, cfg.host, cfg.port, parts)  # fail before printing a URL that will not answer
    typer.echo(f"saescope dashboard on http://{cfg.host}:{cfg.port} (Ctrl+C to stop)")
    raise typer.Exit(launch(cfg.run.run_dir, cfg.host, cfg.port, parts=parts))
