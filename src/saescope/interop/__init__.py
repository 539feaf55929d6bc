"""Files other interpretability tools read and write: SAELens, delphi, Neuronpedia.

- `saelens`: SAELens's SAE folder (`cfg.json` + `sae_weights.safetensors`) both ways;
  `SparseAutoencoder.load` detects it, so `--sae DIR` takes an SAELens folder anywhere.
- `delphi`: EleutherAI delphi's explanation and score files from a `saescope interpret` folder
  (delphi itself loads saescope SAEs: they are in sparsify's layout).
- `neuronpedia`: per-latent feature dashboards as the batch JSON files Neuronpedia imports.

`saescope export SAE_DIR|RUN --format saelens|delphi|neuronpedia|saescope --out DIR` is the CLI
(`saescope`: any SAE saescope reads, e.g. an SAELens folder, written in saescope's own layout).
"""

FORMATS = ("saelens", "delphi", "neuronpedia", "saescope")
