"""Seed-based curation: select the pool rows most like a seed set, in SAE or embedding space.

```python
from saescope.curate import CurateConfig, run_curate
manifest = run_curate(CurateConfig(seeds="seeds.parquet", pool="pool/", out="cur", budget=1000,
                                   sae="sae_dir", interpretation="interp",
                                   baselines=["embedding-centered"]))
print(manifest["space_info"]["seed_latents"][:5])   # the latents that set the seeds apart
```
Phases: fit (seeds + pool sample), score per shard (sidecars, resumable), select globally.
`config.py` (the four config groups), `inputs.py`, `pipeline.py` (the run), `spaces/` (one
module per family of spaces, default `embedding-graph`), `knn.py` (the one kNN loop), `select.py`, `explain.py` (why each row), `metrics.py`,
`evaluate.py` (precision over seed draws, in memory), `layout.py` and `executors.py`.
"""

from saescope.curate.config import (
    DEFAULT_SPACE,
    SPACES,
    CurateConfig,
    ExecutionConfig,
    InputsConfig,
    OutputConfig,
    SelectionConfig,
)
from saescope.curate.evaluate import gap_closed, precision_over_draws, seed_pool_split
from saescope.curate.metrics import avg_similarity, diversity, precision_recall_f1
from saescope.curate.pipeline import compare_spaces, run_curate
from saescope.curate.select import candidate_order, select
from saescope.curate.spaces import ChunkScores, FittedSpace, fit_space

__all__ = [
    "DEFAULT_SPACE",
    "SPACES",
    "ChunkScores",
    "CurateConfig",
    "ExecutionConfig",
    "FittedSpace",
    "InputsConfig",
    "OutputConfig",
    "SelectionConfig",
    "avg_similarity",
    "candidate_order",
    "compare_spaces",
    "diversity",
    "fit_space",
    "gap_closed",
    "precision_over_draws",
    "precision_recall_f1",
    "run_curate",
    "seed_pool_split",
    "select",
]
