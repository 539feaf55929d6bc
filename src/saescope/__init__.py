"""saescope: sparse autoencoders on dense vectors.

Train an SAE on sentence embeddings or LLM activations (`saescope.sae`), read corpora and make
vectors (`saescope.data`), explain and score latents (`saescope.interpret`), select data by
seed similarity in SAE space (`saescope.curate`), and look at the results (`saescope.viz`,
`saescope.dashboard`). The CLI (`saescope.cli`) is a thin layer over these modules.
"""

__version__ = "0.1.0"

READER_MODULES = ("saescope.interop.saelens",)
"""Modules that register an SAE folder reader (`saescope.sae.model.register_reader`) when
imported; `SparseAutoencoder.load` imports them when a folder is not in saescope's own layout."""
