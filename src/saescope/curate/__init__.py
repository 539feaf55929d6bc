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

from saescope.lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_SPACE": "saescope.curate.config",
    "SPACES": "saescope.curate.config",
    "CurateConfig": "saescope.curate.config",
    "ExecutionConfig": "saescope.curate.config",
    "InputsConfig": "saescope.curate.config",
    "OutputConfig": "saescope.curate.config",
    "SelectionConfig": "saescope.curate.config",
    "gap_closed": "saescope.curate.evaluate",
    "precision_over_draws": "saescope.curate.evaluate",
    "seed_pool_split": "saescope.curate.evaluate",
    "avg_similarity": "saescope.curate.metrics",
    "diversity": "saescope.curate.metrics",
    "precision_recall_f1": "saescope.curate.metrics",
    "compare_spaces": "saescope.curate.pipeline",
    "run_curate": "saescope.curate.pipeline",
    "candidate_order": "saescope.curate.select",
    "select": "saescope.curate.select",
    "ChunkScores": "saescope.curate.spaces",
    "FittedSpace": "saescope.curate.spaces",
    "fit_space": "saescope.curate.spaces",
}
"""Name -> module it is imported from on first use (nothing heavy at `import saescope.curate`)."""
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
