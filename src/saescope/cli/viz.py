"""`saescope plot`, `saescope report` and `saescope dashboard`: look at a run.

Each takes a run folder (`saescope demo`'s), one stage's output folder, or the outputs of
separate commands put together with --data, --sae, --interpret and --curate.
"""

from __future__ import annotations

from pathlib import Path

import typer

RUN_HELP = "Run folder, or a train/interpret/curate output (optional with --data/--sae/--interpret/--curate)."


def _parts_options():  # noqa: ANN202 - typer option factories
    return {
        "data": typer.Option(None, "--data", help="Vectors Parquet (`saescope embed` output): data views."),
        "sae": typer.Option(None, "--sae", help="`saescope train` output folder."),
        "interpret": typer.Option(None, "--interpret", help="`saescope interpret` output folder; "
                                  "repeat for another explainer's (the first is the main one)."),
        "curate": typer.Option(None, "--curate", help="`saescope curate` output folder."),
    }


_P = _parts_options()


def _parts(data: Path | None, sae: Path | None, interpret: list[Path] | None,
           curate: Path | None) -> dict:
    first, *also = interpret or [None]
    return {"data": data, "sae": sae, "interpret": first, "curate": curate,
            "also_interpret": tuple(also)}


def _layout(run_dir: Path | None, data: Path | None, sae: Path | None,
            interpret: list[Path] | None, curate: Path | None):  # noqa: ANN202
    from saescope.rundir import RunLayout

    return RunLayout.from_parts(run_dir, **_parts(data, sae, interpret, curate))


def _err(line: str) -> None:
    typer.echo(line, err=True)


def register(app: typer.Typer) -> None:
    @app.command("plot")
    def plot(
        run_dir: Path | None = typer.Argument(None, help=RUN_HELP),
        data: Path | None = _P["data"], sae: Path | None = _P["sae"],
        interpret: list[Path] | None = _P["interpret"], curate: Path | None = _P["curate"],
        out: Path | None = typer.Option(None, "--out", help="Output folder (default RUN_DIR/plots)."),
        formats: str = typer.Option("png,svg", help="Static formats, comma separated (png, svg)."),
        interactive: bool = typer.Option(True, help="Also write plotly HTML figures."),
        projection: str = typer.Option("auto", help="2-D maps: auto (UMAP if installed, else t-SNE), umap, tsne, pca."),
        max_points: int = typer.Option(1500, help="Points at most in a 2-D map (sampled beyond)."),
    ) -> None:
        """Draw training, latent and curation figures (PNG/SVG + interactive HTML)."""
        from saescope.viz.plots import PlotConfig, plot_run

        cfg = PlotConfig(formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
                         interactive=interactive, projection=projection,  # type: ignore[arg-type]
                         max_points=max_points)
        paths = plot_run(_layout(run_dir, data, sae, interpret, curate), out, cfg, echo=_err)
        for p in paths:
            typer.echo(str(p))
        missing = [p for p in paths if p.name == "MISSING.txt"]
        if missing and missing[0].read_text().strip() != "nothing missing":
            _err(f"not drawn (see {missing[0]}):\n{missing[0].read_text().rstrip()}")

    @app.command("report")
    def report(
        run_dir: Path | None = typer.Argument(None, help=RUN_HELP),
        data: Path | None = _P["data"], sae: Path | None = _P["sae"],
        interpret: list[Path] | None = _P["interpret"], curate: Path | None = _P["curate"],
        out: Path | None = typer.Option(None, "--out", help="HTML file (default RUN_DIR/report.html)."),
        projection: str = typer.Option("auto", help="Decoder map: auto (UMAP if installed, else t-SNE), umap, tsne, pca."),
    ) -> None:
        """Write one self-contained HTML report (no server, no network)."""
        from saescope.viz.plots import PlotConfig
        from saescope.viz.report import write_report

        cfg = PlotConfig(interactive=False, projection=projection)  # type: ignore[arg-type]
        typer.echo(str(write_report(_layout(run_dir, data, sae, interpret, curate), out, cfg, echo=_err)))

    @app.command("dashboard")
    def dashboard(
        run_dir: Path | None = typer.Argument(None, help=RUN_HELP),
        data: Path | None = _P["data"], sae: Path | None = _P["sae"],
        interpret: list[Path] | None = _P["interpret"], curate: Path | None = _P["curate"],
        host: str = typer.Option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
        port: int = typer.Option(8501, help="TCP port."),
    ) -> None:
        """Start the Streamlit dashboard on the run folder."""
        from saescope.dashboard.launch import check_launch, launch

        parts = _parts(data, sae, interpret, curate)
        check_launch(run_dir, host, port, parts)  # fail before printing a URL that will not answer
        typer.echo(f"saescope dashboard on http://{host}:{port} (Ctrl+C to stop)")
        raise typer.Exit(launch(run_dir, host, port, parts=parts))
