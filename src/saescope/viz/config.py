"""Configs of `saescope plot`, `report` and `dashboard` (light: no plotting library imported).

`PlotConfig` says what the figures show; `RunInputs` where the run is (a run folder, a stage's
output, or outputs put together); `PlotRunConfig`, `ReportConfig` and `DashboardConfig` are the
three commands, whose options are generated from these fields (`saescope.cli.options`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from saescope.errors import ConfigError

FORMATS = ("png", "svg")
Projection = Literal["auto", "umap", "tsne", "pca"]


@dataclass
class PlotConfig:
    """What `plot_run` draws and how."""

    formats: tuple[str, ...] = ("png", "svg")
    """Static formats written for each figure (png, svg)."""
    interactive: bool = True
    """Also write plotly HTML for the training curves, decoder map and curation view."""
    projection: Projection = "auto"
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
        if isinstance(self.formats, str):  # the CLI's comma-separated text
            self.formats = tuple(f.strip() for f in self.formats.split(",") if f.strip())
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise ConfigError(f"formats: unknown {bad} (choose from {', '.join(FORMATS)})")
        if self.projection not in ("auto", "umap", "tsne", "pca"):
            raise ConfigError(f"projection: {self.projection!r} is not auto, umap, tsne or pca")
        for name in ("max_points", "n_samples", "n_latent_hists", "n_seeds", "n_selected", "code_sample"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")


@dataclass
class RunInputs:
    """Where `plot`, `report` and `dashboard` find the run (`RunLayout.from_parts`)."""

    run_dir: str | None = None
    """Run folder, or a train/interpret/curate output (optional with --data/--sae/--interpret/--curate)."""
    data: str | None = None
    """Vectors Parquet (`saescope embed` output): data views."""
    sae: str | None = None
    """`saescope train` output folder."""
    interpret: list[str] | None = None
    """`saescope interpret` output folder; repeat for another explainer's (the first is the main one)."""
    curate: str | None = None
    """`saescope curate` output folder."""
    hypotheses: str | None = None
    """`saescope hypotheses` output folder (default: the run's hypotheses/)."""

    def parts(self) -> dict:
        """`RunLayout.from_parts`'s keyword arguments."""
        first, *also = self.interpret or [None]
        return {"data": self.data, "sae": self.sae, "interpret": first, "curate": self.curate,
                "hypotheses": self.hypotheses, "also_interpret": tuple(also)}

    def layout(self):  # noqa: ANN201 (RunLayout)
        """The run's `RunLayout`."""
        from saescope.run_layout import RunLayout

        return RunLayout.from_parts(self.run_dir, **self.parts())


@dataclass
class PlotRunConfig:
    """`saescope plot`: the figures of a run."""

    run: RunInputs = field(default_factory=RunInputs)
    """Where the run is."""
    out: str | None = None
    """Output folder (default RUN_DIR/plots)."""
    plot: PlotConfig = field(default_factory=PlotConfig)
    """What the figures show."""


@dataclass
class ReportConfig:
    """`saescope report`: one self-contained HTML report (no server, no network)."""

    run: RunInputs = field(default_factory=RunInputs)
    """Where the run is."""
    out: str | None = None
    """HTML file (default RUN_DIR/report.html)."""
    overwrite: bool = False
    """Replace an existing `out` file that is not a saescope report (a report is redrawn in
    place without it)."""
    plot: PlotConfig = field(default_factory=lambda: PlotConfig(interactive=False))
    """What the report's figures show (static: no plotly HTML)."""


@dataclass
class DashboardConfig:
    """`saescope dashboard`: the Streamlit app on a run."""

    run: RunInputs = field(default_factory=RunInputs)
    """Where the run is."""
    host: str = "127.0.0.1"
    """Address to bind (127.0.0.1: this machine only)."""
    port: int = 8501
    """TCP port."""
