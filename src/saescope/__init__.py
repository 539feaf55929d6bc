"""saescope: sparse autoencoders on dense vectors.

Train an SAE on sentence embeddings or LLM activations (`saescope.sae`), read corpora and make
vectors (`saescope.data`), explain and score latents (`saescope.interpret`), select data by
seed similarity in SAE space (`saescope.curate`), and look at the results (`saescope.viz`,
`saescope.dashboard`). The CLI (`saescope.cli`) is a thin layer over these modules.
"""

__version__ = "0.1.0"
