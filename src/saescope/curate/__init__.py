"""Seed-based curation: select the pool rows closest to a seed set, in SAE or embedding space.

```python
from saescope.curate import CurateConfig, run_curate, compare_spaces
manifest = run_curate(CurateConfig(seeds="seeds.parquet", pool="pool/", out="cur", budget=1000,
                                   space="sae", sae="sae_dir", baselines=["embedding-centered"]))
```
Phases: fit (seeds + pool sample), score per shard (sidecars, resumable), select globally.
See `pipeline.py` for the run, `spaces.py` for the spaces, `metrics.py` and `select.py`.
"""

from saescope.curate.config import SPACES, CurateConfig
from saescope.curate.metrics import avg_similarity, diversity, precision_recall_f1
from saescope.curate.pipeline import compare_spaces, run_curate
from saescope.curate.select import candidate_order, select
from saescope.curate.spaces import ChunkScores, FittedSpace, fit_space

__all__ = [
    "SPACES",
    "ChunkScores",
    "CurateConfig",
    "FittedSpace",
    "avg_similarity",
    "candidate_order",
    "compare_spaces",
    "diversity",
    "fit_space",
    "precision_recall_f1",
    "run_curate",
    "select",
]
