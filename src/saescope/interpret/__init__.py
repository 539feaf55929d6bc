"""Automatic interpretation of SAE latents: examples, explainers, scorers, cache, families.

```python
from saescope.interpret import InterpretConfig, run_interpret
manifest = run_interpret(InterpretConfig(sae="runs/sae", data="emb.parquet", out="out/interpret"))
```
`interpret_vectors(sae, X, ids, texts, out, cfg)` does the same on arrays in memory. Outputs
(`latents.parquet`, `examples.parquet`, `scored_examples.parquet`, `summary.json`, `manifest.json`)
are described in docs/architecture.md ("Interpret output").
"""

from saescope.lazy import lazy_exports

_EXPORTS = {
    "ExplainPromptConfig": "saescope.interpret.config",
    "InterpretConfig": "saescope.interpret.config",
    "ExampleConfig": "saescope.interpret.examples",
    "Examples": "saescope.interpret.examples",
    "collect_examples": "saescope.interpret.examples",
    "EXPLAINERS": "saescope.interpret.explain",
    "KeywordsConfig": "saescope.interpret.keywords",
    "KeywordsExplainer": "saescope.interpret.keywords",
    "interpret_vectors": "saescope.interpret.pipeline",
    "run_interpret": "saescope.interpret.pipeline",
    "SCORERS": "saescope.interpret.scorers",
    "ScorerConfig": "saescope.interpret.scorers",
}
"""Name -> module it is imported from on first use (nothing heavy at `import saescope.interpret`)."""
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "EXPLAINERS",
    "SCORERS",
    "ExampleConfig",
    "Examples",
    "ExplainPromptConfig",
    "InterpretConfig",
    "KeywordsConfig",
    "KeywordsExplainer",
    "ScorerConfig",
    "collect_examples",
    "interpret_vectors",
    "run_interpret",
]
