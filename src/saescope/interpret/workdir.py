"""The output folder of a run and its resumable work files (`OUT/.work/*.jsonl`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from saescope.errors import ConfigError
from saescope.io import write_json

WORK = ".work"


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append rows and fsync: a finished latent survives a crash."""
    with open(path, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, default=json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash: redo that latent
            break
    return rows


def json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def prepare_out(out: Path, overwrite: bool, fingerprint: str) -> Path:
    """Create OUT and OUT/.work; refuse a finished or foreign folder unless overwrite."""
    work = out / WORK
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    finished = (out / "summary.json").exists()
    if out.exists() and overwrite:
        shutil.rmtree(work, ignore_errors=True)
        # Until the new run finishes, the folder must not look finished.
        (out / "summary.json").unlink(missing_ok=True)
    elif finished:
        raise ConfigError(f"--out {out} holds a finished interpretation (use --overwrite)")
    elif out.exists() and not (work / "state.json").is_file() and any(p.name != WORK for p in out.iterdir()):
        raise ConfigError(f"--out {out} exists and is not empty (use --overwrite)")
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state.json"
    if state.exists():
        old = json.loads(state.read_text())
        if old.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"--out {out} holds an unfinished run with other settings; use the same settings "
                "to resume, or --overwrite to start again"
            )
    else:
        write_json(state, {"fingerprint": fingerprint})
    return work
