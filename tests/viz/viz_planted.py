"""A data-only run folder of planted clusters: 1,500 rows (more than the dashboard's 1,000-point
map, so a map drawn from one sample and coloured from another shows mixed colours), six topics,
each a tight cluster around its own direction in the plane of the first two dimensions (so even
PCA separates them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TOPICS = ("astronomy", "baking", "chess", "finance", "medicine", "sailing")


def write_planted_run(root: Path, rows: int = 1500, d: int = 32, seed: int = 0) -> Path:
    from saescope.data.shards import vectors_to_arrow

    path = root / "data" / "embeddings.parquet"
    if path.is_file():
        return root
    rng = np.random.default_rng(seed)
    # Rows in topic order: a sampling bug that keeps the first rows would show few topics.
    topic = np.sort(rng.integers(0, len(TOPICS), rows))
    angle = 2 * np.pi * topic / len(TOPICS)
    X = 0.03 * rng.standard_normal((rows, d))
    X[:, 0] += np.cos(angle)
    X[:, 1] += np.sin(angle)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "id": [f"p{i}" for i in range(rows)],
        "embedding": vectors_to_arrow(X.astype(np.float32)),
        "text": [f"a text about {TOPICS[t]} number {i}" for i, t in enumerate(topic)],
        "topic": [TOPICS[t] for t in topic],
    }), path)
    return root


def purity(x: np.ndarray, y: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean share of each point's k nearest map neighbours that have its label (1 = pure)."""
    xy = np.column_stack([x, y]).astype(float)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nn = np.argsort(d2, axis=1)[:, :k]
    return float((labels[nn] == labels[:, None]).mean())
