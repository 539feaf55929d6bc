"""Automatic interpretation of SAE latents: examples, explainers, scorers, cache, families.

```python
from saescope.interpret import InterpretConfig, run_interpret
manifest = run_interpret(InterpretConfig(sae="runs/sae", data="emb.parquet", out="out/interpret"))
```
`interpret_vectors(sae, X, ids, texts, out, cfg)` does the same on arrays in memory. Outputs
(`latents.parquet`, `examples.parquet`, `scored_examples.parquet`, `summary.json`, `manifest.json`)
are described in docs/architecture.md ("Interpret output").
"""

from saescope.interpret.config import ExplainPromptConfig, InterpretConfig
from saescope.interpret.examples import ExampleConfig, Examples, collect_examples
from saescope.interpret.explain import EXPLAINERS
from saescope.interpret.keywords import KeywordsConfig, KeywordsExplainer
from saescope.interpret.pipeline import interpret_vectors, run_interpret
from saescope.interpret.scorers import SCORERS, ScorerConfig

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
