"""The run folder: one layout, defined here and nowhere else.

`saescope demo` writes a full run folder::

    RUN/
      run.json                 what produced the run (command, config, versions)
      data/embeddings.parquet  id, embedding, text and metadata columns, `split`
      sae/                     a `saescope train` output (cfg.json, sae.safetensors, ...)
      interpret/               a `saescope interpret` output (latents.parquet, summary.json, ...)
      curate/                  a `saescope curate` output (selected.parquet, manifest.json, ...)
      plots/                   PNG/SVG/HTML figures from `saescope plot`
      report.html              from `saescope report`

`plot`, `report` and `dashboard` also take the output folder of a single `train`,
`interpret` or `curate` run: `RunLayout.detect` recognises each from the files it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from saescope.errors import SaescopeError

SAE_FILES = ("cfg.json", "sae.safetensors")
INTERPRET_FILES = ("latents.parquet", "summary.json")
CURATE_FILES = ("selected.parquet", "manifest.json")


@dataclass(frozen=True)
class RunLayout:
    """Paths of the stages of a run; a stage is `None` when the folder does not hold it."""

    root: Path
    """The folder given by the user."""
    data: Path | None = None
    """Vectors (+ texts, labels) Parquet file, if present."""
    sae: Path | None = None
    """Folder with cfg.json + sae.safetensors (+ metrics.json, train_log.jsonl)."""
    interpret: Path | None = None
    """Folder with latents.parquet + summary.json."""
    curate: Path | None = None
    """Folder with selected.parquet + manifest.json."""

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @staticmethod
    def paths(root: str | Path) -> RunLayout:
        """The layout a full run writes under `root` (whether or not the files exist yet)."""
        root = Path(root)
        return RunLayout(
            root=root,
            data=root / "data" / "embeddings.parquet",
            sae=root / "sae",
            interpret=root / "interpret",
            curate=root / "curate",
        )

    @staticmethod
    def detect(root: str | Path) -> RunLayout:
        """Find which stages a folder holds: a full run folder or a single stage's output."""
        root = Path(root)
        if not root.is_dir():
            raise SaescopeError(f"{root}: not a folder (expected a run folder or a train/interpret/curate output)")
        full = RunLayout.paths(root)
        found = RunLayout(
            root=root,
            data=full.data if full.data and full.data.is_file() else None,
            sae=full.sae if _has(full.sae, SAE_FILES) else None,
            interpret=full.interpret if _has(full.interpret, INTERPRET_FILES) else None,
            curate=full.curate if _has(full.curate, CURATE_FILES) else None,
        )
        if found.sae or found.interpret or found.curate or found.data:
            return found
        # A single stage's output folder.
        return RunLayout(
            root=root,
            sae=root if _has(root, SAE_FILES) else None,
            interpret=root if _has(root, INTERPRET_FILES) else None,
            curate=root if _has(root, CURATE_FILES) else None,
        )

    def missing(self) -> list[str]:
        """Names of the stages this folder lacks, for 'what is missing' messages."""
        return [n for n in ("data", "sae", "interpret", "curate") if getattr(self, n) is None]


def _has(folder: Path | None, names: tuple[str, ...]) -> bool:
    return folder is not None and all((folder / n).is_file() for n in names)
