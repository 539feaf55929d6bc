"""`saescope plot`, `saescope report` and `saescope dashboard`: look at a run folder."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("plot")
    def plot(
        run_dir: Path = typer.Argument(..., help="Run folder, or a train/interpret/curate output."),
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
        paths = plot_run(run_dir, out, cfg)
        for p in paths:
            typer.echo(str(p))
        missing = [p for p in paths if p.name == "MISSING.txt"]
        if missing and missing[0].read_text().strip() != "nothing missing":
            typer.echo(f"not drawn (see {missing[0]}):\n{missing[0].read_text().rstrip()}", err=True)

    @app.command("report")
    def report(
        run_dir: Path = typer.Argument(..., help="Run folder, or a train/interpret/curate output."),
        out: Path | None = typer.Option(None, "--out", help="HTML file (default RUN_DIR/report.html)."),
        projection: str = typer.Option("auto", help="Decoder map: auto (UMAP if installed, else t-SNE), umap, tsne, pca."),
    ) -> None:
        """Write one self-contained HTML report (no server, no network)."""
        from saescope.viz.plots import PlotConfig
        from saescope.viz.report import write_report

        cfg = PlotConfig(interactive=False, projection=projection)  # type: ignore[arg-type]
        typer.echo(str(write_report(run_dir, out, cfg)))

    @app.command("dashboard")
    def dashboard(
        run_dir: Path = typer.Argument(..., help="Run folder, or a train/interpret/curate output."),
        host: str = typer.Option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
        port: int = typer.Option(8501, help="TCP port."),
    ) -> None:
        """Start the Streamlit dashboard on the run folder."""
        from saescope.dashboard.launch import check_launch, launch

        check_launch(run_dir, host, port)  # fail before printing a URL that will not answer
        typer.echo(f"saescope dashboard on http://{host}:{port} (Ctrl+C to stop)")
        raise typer.Exit(launch(run_dir, host, port))
