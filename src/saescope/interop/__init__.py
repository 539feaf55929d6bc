"""Files other interpretability tools read and write: SAELens, delphi, Neuronpedia.

- `saelens`: SAELens's SAE folder (`cfg.json` + `sae_weights.safetensors`) both ways;
  `SparseAutoencoder.load` detects it, so `--sae DIR` takes an SAELens folder anywhere.
- `delphi`: EleutherAI delphi's explanation and score files from a `saescope interpret` folder
  (delphi itself loads saescope SAEs: they are in sparsify's layout).
- `neuronpedia`: per-latent feature dashboards as the batch JSON files Neuronpedia imports.

`saescope export SAE_DIR|RUN --format saelens|delphi|neuronpedia|saescope --out DIR` is the CLI
(`saescope`: any SAE saescope reads, e.g. an SAELens folder, written in saescope's own layout);
`run_export(ExportConfig(...))` is the same stage in Python (`saescope.interop.export`).
"""

from saescope.lazy import lazy_exports

FORMATS = ("saelens", "delphi", "neuronpedia", "saescope")

_EXPORTS = {"ExportConfig": "saescope.interop.export", "run_export": "saescope.interop.export"}
"""Name -> module it is imported from on first use."""
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
