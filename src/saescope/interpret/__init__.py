"""Automatic interpretation of SAE latents: examples, explainers, scorers, cache, families.

```python
from saescope.interpret import InterpretConfig, run_interpret
summary = run_interpret(sae, X, ids, texts, "out/interpret", InterpretConfig(explainer="keywords"))
```
Outputs (`latents.parquet`, `examples.parquet`, `summary.json`, `manifest.json`) are described
in docs/architecture.md ("Interpret output").
"""

from saescope.interpret.examples import ExampleConfig, Examples, collect_examples
from saescope.interpret.keywords import KeywordsConfig, KeywordsExplainer
from saescope.interpret.pipeline import InterpretConfig, run_interpret
from saescope.interpret.scorers import SCORERS, ScorerConfig

__all__ = [
    "SCORERS",
    "ExampleConfig",
    "Examples",
    "InterpretConfig",
    "KeywordsConfig",
    "KeywordsExplainer",
    "ScorerConfig",
    "collect_examples",
    "run_interpret",
]
