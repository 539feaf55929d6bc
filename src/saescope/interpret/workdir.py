"""The resumable work files of a run (`OUT/.work/*.jsonl`); the folder policy is `io.prepare_output`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

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
