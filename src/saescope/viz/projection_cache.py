"""2-D projections computed once and kept in the run folder, for `plot`, `report` and `dashboard`.

UMAP and t-SNE of 1,500 points take 10-40 s on a small machine; every view that maps the same
points with the same method reads the same file instead. A projection is keyed by the bytes of
its input matrix, the method, the metric and the seed, so a changed SAE or sample never reads a
stale map. Files are Parquet (x, y; the method used in the schema metadata) under
`RUN/.saescope-cache/projections/`; a folder that cannot be written only loses the cache.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saescope.io import atomic_path
from saescope.viz import analysis


def projection_key(X: np.ndarray, method: str, metric: str, seed: int) -> str:
    """A digest of everything the projection of X depends on."""
    h = hashlib.sha256()
    X = np.ascontiguousarray(X, dtype=np.float32)
    h.update(str(X.shape).encode())
    h.update(X.tobytes())
    h.update(f"{method}|{metric}|{seed}".encode())
    return h.hexdigest()[:20]


def read_cached(X: np.ndarray, method: str, cache_dir: Path | None, metric: str = "cosine",
                seed: int = 0) -> tuple[np.ndarray, str] | None:
    """The cached projection of X, or None when it was never computed (or is unreadable)."""
    if cache_dir is None:
        return None
    path = Path(cache_dir) / "projections" / f"{projection_key(X, method, metric, seed)}.parquet"
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        coords = np.column_stack([table["x"].to_numpy(), table["y"].to_numpy()])
    except (OSError, pa.ArrowInvalid, KeyError):
        return None  # a damaged cache file is recomputed
    if len(coords) != len(X):
        return None
    return coords, (table.schema.metadata or {}).get(b"method", b"?").decode()


def cached_project_2d(
    X: np.ndarray,
    method: analysis.Projection = "auto",
    cache_dir: Path | None = None,
    metric: str = "cosine",
    seed: int = 0,
    echo: Callable[[str], None] | None = None,
    what: str = "points",
) -> tuple[np.ndarray, str]:
    """`analysis.project_2d(X, method, metric, seed)`, read from `cache_dir` when computed before.

    `echo` (e.g. the CLI's stderr) hears one line before a projection is computed and one with
    its time after, so a 40 s t-SNE is never silent.
    """
    hit = read_cached(X, method, cache_dir, metric, seed)
    if hit is not None:
        return hit
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "projections" / f"{projection_key(X, method, metric, seed)}.parquet"
    if echo is not None and len(X) >= 10 and method != "pca":
        echo(f"projecting {len(X):,} {what} to 2-D ({method}) ...")
    t0 = time.perf_counter()
    coords, used = analysis.project_2d(X, method, metric=metric, seed=seed)
    if echo is not None and len(X) >= 10 and method != "pca":
        echo(f"projected {len(X):,} {what} with {used} in {time.perf_counter() - t0:.1f} s")
    if path is not None:
        table = pa.table({"x": coords[:, 0].astype(np.float64), "y": coords[:, 1].astype(np.float64)})
        table = table.replace_schema_metadata({"method": used})
        try:
            with atomic_path(path) as tmp:
                pq.write_table(table, tmp)
        except OSError:
            pass  # read-only run folder: no cache, same picture
    return coords, used
