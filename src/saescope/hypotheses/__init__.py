"""Features that explain labels: which SAE latents predict an outcome, or separate two corpora.

As HypotheSAEs (Movva et al. 2025, "Sparse Autoencoders for Hypothesis Generation") does:
select latents on a training split (L1-regularised regression on the sparse codes), then test
each selected latent on a held-out split disjoint from it by text, with an effect size and its
interval, a p-value, Benjamini-Hochberg FDR control, label purity and an explanation.

```python
from saescope.hypotheses import HypothesesConfig, run_hypotheses
manifest = run_hypotheses(HypothesesConfig(vectors="emb.parquet", sae="runs/sae", label_field="domain",
                                           positive="STEM", out="out/hyp"))
```
"""

from saescope.lazy import lazy_exports

_EXPORTS = {
    "HypothesesConfig": "saescope.hypotheses.config",
    "find_hypotheses": "saescope.hypotheses.pipeline",
    "run_hypotheses": "saescope.hypotheses.pipeline",
    "benjamini_hochberg": "saescope.hypotheses.stats",
    "correlation_test": "saescope.hypotheses.stats",
}
"""Name -> module it is imported from on first use (nothing heavy at `import saescope.hypotheses`)."""
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["HypothesesConfig", "benjamini_hochberg", "correlation_test", "find_hypotheses", "run_hypotheses"]
