"""`HypothesesConfig`: inputs, output folder and settings of `saescope hypotheses`."""

from __future__ import annotations

from dataclasses import dataclass

from saescope.errors import ConfigError

SELECTIONS = ("lasso", "univariate")


@dataclass
class HypothesesConfig:
    """Settings of `saescope hypotheses` (and `run_hypotheses`)."""

    vectors: str | None = None
    """Vectors with ids (Parquet with id, embedding and the label column; .npy; .safetensors)."""
    sae: str | None = None
    """SAE folder (cfg.json + sae.safetensors) trained on vectors of this kind."""
    codes: bool = False
    """The vectors are already this SAE's codes, one column per latent. Files that `saescope
    encode --pool-tokens HOW --dense` wrote with this SAE (documents as the pooled codes of their
    tokens) are recognised from their metadata without it."""
    out: str | None = None
    """Output folder (hypotheses.parquet, manifest.json)."""
    label_field: str | None = None
    """Column with the label (two values, or a category with `positive`) or a numeric outcome;
    looked up in `vectors`, then in `texts`. Not needed with `compare`."""
    positive: str | None = None
    """The label value counted as positive (needed when the label has more than two values)."""
    compare: str | None = None
    """Vectors of a second corpus B: the outcome is "row comes from `vectors` (A), not B"."""
    texts: str | None = None
    """Corpus with the texts (joined on `id_field`) for explanations and the by-text split; else a
    text column of the vectors files, else no explanations and a split by row."""
    text_field: str = "text"
    """Text column or field."""
    id_field: str = "id"
    """Id column or field."""
    column: str | None = None
    """Vector column (default: embedding or emb)."""
    interpretation: str | None = None
    """An `saescope interpret` output folder: its explanations (e.g. LLM ones) are used instead of
    keywords where it has them."""
    stop_words: str | None = None
    """Text file of extra stop words (one per line) left out of the keyword explanations."""
    fdr: float = 0.05
    """False discovery rate of the Benjamini-Hochberg procedure over the tested latents."""
    test_fraction: float = 0.5
    """Share of the rows (whole groups of identical texts) held out for the tests."""
    selection: str = "lasso"
    """How latents are chosen on the training split: `lasso` (L1-regularised logistic/linear
    regression on the codes, the strength set to keep `n_select` latents) or `univariate`
    (the `n_select` latents most correlated with the outcome)."""
    n_select: int = 20
    """Latents chosen on the training split and tested on the held-out split."""
    n_top: int = 20
    """Top-activating held-out rows per latent for the label purity."""
    seed: int = 0
    """Seed of the split, the selection and the bootstrap."""
    overwrite: bool = False
    """Replace a finished output folder."""

    def __post_init__(self) -> None:
        if not 0 < self.fdr < 1:
            raise ConfigError(f"--fdr must be in (0, 1), got {self.fdr}")
        if not 0.05 <= self.test_fraction <= 0.95:
            raise ConfigError(f"test_fraction must be in [0.05, 0.95], got {self.test_fraction}")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.n_select < 1 or self.n_top < 1:
            raise ConfigError("n_select and n_top must be >= 1")
