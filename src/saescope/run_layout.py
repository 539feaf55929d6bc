"""The run folder: one layout, defined here and nowhere else (paths only: reading the files is
`saescope.viz.rundata.RunData`'s job).

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
`interpret` or `curate` run: `RunLayout.detect` recognises each from the files it holds. Outputs
written side by side (`emb.parquet`, `sae/`, `interp/`, `picked/`, as the README's own-data block
does) are put together with `RunLayout.from_parts` (`--data`, `--sae`, `--interpret`, `--curate`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from saescope.errors import InputError, SaescopeError

SAE_FILES = ("cfg.json", "sae.safetensors")
INTERPRET_FILES = ("latents.parquet", "summary.json")
CURATE_FILES = ("selected.parquet", "manifest.json")
HYPOTHESES_FILES = ("hypotheses.parquet", "manifest.json")


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
    hypotheses: Path | None = None
    """Folder with hypotheses.parquet + manifest.json (`saescope hypotheses` output)."""
    also_interpret: tuple[Path, ...] = ()
    """Further interpret outputs (another explainer's, e.g. the demo's `interpret-llm/`), shown
    beside the main one's explanations."""

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def cache(self) -> Path:
        """Derived results shared by `plot`, `report` and `dashboard` (2-D projections)."""
        return self.root / ".saescope-cache"

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
            hypotheses=root / "hypotheses",
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
            hypotheses=full.hypotheses if _has(full.hypotheses, HYPOTHESES_FILES) else None,
            also_interpret=tuple(p for p in sorted(root.glob("interpret-*")) if _has(p, INTERPRET_FILES)),
        )
        if found.sae or found.interpret or found.curate or found.data or found.hypotheses:
            return found
        # A single stage's output folder.
        return RunLayout(
            root=root,
            sae=root if _has(root, SAE_FILES) else None,
            interpret=root if _has(root, INTERPRET_FILES) else None,
            curate=root if _has(root, CURATE_FILES) else None,
            hypotheses=root if _has(root, HYPOTHESES_FILES) else None,
        )

    @staticmethod
    def from_parts(root: str | Path | None = None, *, data: str | Path | None = None,
                   sae: str | Path | None = None, interpret: str | Path | None = None,
                   curate: str | Path | None = None, hypotheses: str | Path | None = None,
                   also_interpret: tuple[str | Path, ...] | list[str | Path] = ()) -> RunLayout:
        """A layout from a run folder (optional) and stage outputs given one by one.

        Each given part replaces what `root` holds for that stage and must be complete (an
        `InputError` names the option and the file it lacks). Without `root`, the root is the
        deepest folder holding every part (where plots and the report go by default).
        """
        parts = {"data": data, "sae": sae, "interpret": interpret, "curate": curate, "hypotheses": hypotheses}
        given = {k: Path(v) for k, v in parts.items() if v is not None}
        if root is None and not given:
            raise InputError("give a run folder or at least one of --data, --sae, --interpret, --curate, --hypotheses")
        for name, path in given.items():
            _check_part(name, path)
        for path in also_interpret:
            _check_part("interpret", Path(path))
        if root is not None:
            base = RunLayout.detect(root)
        else:
            homes = [str(p.resolve().parent) for p in given.values()]
            base = RunLayout(root=Path(os.path.commonpath(homes)))
        if also_interpret:
            given["also_interpret"] = base.also_interpret + tuple(Path(p) for p in also_interpret)
        return replace(base, **given)

    def missing(self) -> list[str]:
        """Names of the stages this folder lacks, for 'what is missing' messages."""
        return [n for n in ("data", "sae", "interpret", "curate") if getattr(self, n) is None]


PART_FILES = {"sae": SAE_FILES, "interpret": INTERPRET_FILES, "curate": CURATE_FILES,
              "hypotheses": HYPOTHESES_FILES}


def _check_part(name: str, path: Path) -> None:
    if name == "data":
        if not path.is_file():
            raise InputError(f"--data {path}: no such file (the vectors Parquet of `saescope embed`)")
        return
    if not path.is_dir():
        raise InputError(f"--{name} {path}: not a folder (a `saescope {_COMMAND[name]}` output)")
    absent = [n for n in PART_FILES[name] if not (path / n).is_file()]
    if absent:
        raise InputError(f"--{name} {path}: no {', '.join(absent)} (an unfinished or different output?)")


_COMMAND = {"sae": "train", "interpret": "interpret", "curate": "curate", "hypotheses": "hypotheses"}


def _has(folder: Path | None, names: tuple[str, ...]) -> bool:
    return folder is not None and all((folder / n).is_file() for n in names)


# ---------------------------------------------------------------------------- stage contracts
def stage_manifest(stage: str, cfg: Any, **extra: Any) -> dict[str, Any]:
    """The manifest every `run_<stage>(cfg)` returns and writes: version, stage, config, `extra`."""
    from saescope import __version__

    config = cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)
    return {"saescope_version": __version__, "stage": stage, "config": config, **extra}


def manifest_path(out: str | Path) -> Path:
    """Where a stage whose output is a file (or a folder of parts) writes its manifest:
    `<out>.manifest.json` beside it (stages that own their folder write `out/manifest.json`)."""
    out = Path(out)
    return out.with_name(out.name + ".manifest.json")


class StageCache:
    """Which stages of a run folder are done, kept in `ROOT/run.json`.

    Each stage's fingerprint hashes its parameters and the fingerprint of the stage before it,
    so a change upstream redoes everything after it. `fresh` says whether a stage can be
    skipped (same fingerprint, outputs present); `finish` records it. `saescope demo` runs its
    stages through one; a pipeline of one's own can too::

        cache = StageCache("runs/mine", command="my pipeline", config={"rows": 1000})
        fp = cache.fingerprint("train", dataclasses.asdict(train_cfg))
        if not cache.fresh("train", fp, [Path("runs/mine/sae/cfg.json")]):
            run_train(train_cfg)
            cache.finish("train", fp)
    """

    def __init__(self, root: str | Path, command: str = "", config: Any = None) -> None:
        from saescope.io import read_json

        self.path = Path(root) / "run.json"
        state = read_json(self.path) if self.path.is_file() else {}
        self.done: dict[str, str] = dict(state.get("stages", {}))
        self.redone: list[str] = []
        self.command, self.config = command, config
        self._chain = ""

    def fingerprint(self, name: str, params: Any) -> str:
        """The fingerprint of stage `name` run with `params` after the stages fingerprinted so far."""
        blob = json.dumps({"up": self._chain, "name": name, "params": params}, sort_keys=True,
                          default=str)
        self._chain = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._chain

    def fresh(self, name: str, fp: str, outputs: list[Path]) -> bool:
        """Stage `name` finished with fingerprint `fp` and its `outputs` are all there."""
        return self.done.get(name) == fp and all(p.exists() for p in outputs)

    def finish(self, name: str, fp: str) -> None:
        """Record stage `name` as done with fingerprint `fp` (run.json rewritten atomically)."""
        from saescope.io import write_json

        self.done[name] = fp
        self.redone.append(name)
        write_json(self.path, {"command": self.command, "config": self.config, "stages": self.done})
