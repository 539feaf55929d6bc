"""`saescope hypotheses`: which SAE latents predict a label, or separate two corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from saescope.cli import say
from saescope.cli.options import Opt, build, command, values
from saescope.hypotheses.config import HypothesesConfig

HYPOTHESES_OPTIONS = (
    Opt("vectors", "vectors", argument=True, default=..., type=Path,
        help="Vectors with ids and the label column (Parquet; .npy; .safetensors)."),
    Opt("--sae", "sae", default=..., type=Path, help="SAE folder (cfg.json + sae.safetensors)."),
    Opt("--out", "out", default=..., type=Path),
    Opt("--codes", "codes"),
    Opt("--label-field", "label_field",
        help="Label (two values, or one --positive value against the rest) or numeric outcome column."),
    Opt("--positive", "positive",
        help="Label value counted as positive (needed for labels with more than two values)."),
    Opt("--compare", "compare", type=Path | None,
        help="Vectors of corpus B: find what is in VECTORS (A) that is not in B."),
    Opt("--texts", "texts", type=Path | None,
        help="Corpus with the texts, joined on --id-field (explanations, split by text)."),
    Opt("--text-field", "text_field"),
    Opt("--id-field", "id_field"),
    Opt("--column", "column"),
    Opt("--interpretation", "interpretation", type=Path | None,
        help="`saescope interpret` folder whose explanations to show."),
    Opt("--stop-words", "stop_words", type=Path | None,
        help="Text file of extra stop words (one per line) left out of the keyword explanations."),
    Opt("--fdr", "fdr", help="False discovery rate (Benjamini-Hochberg) over the tested latents."),
    Opt("--test-fraction", "test_fraction", help="Share of rows held out for the tests (split by text)."),
    Opt("--selection", "selection", help="lasso (L1 regression on the codes) or univariate."),
    Opt("--n-select", "n_select", help="Latents chosen on the training split and tested."),
    Opt("--seed", "seed", help="Seed of the split, selection and bootstrap."),
    Opt("--overwrite", "overwrite"),
    Opt("--progress/--no-progress", None, type=bool, default=True, help="Show progress bars."),
)
"""`saescope hypotheses`' options; defaults are HypothesesConfig's."""


def register(app: typer.Typer) -> None:
    app.command("hypotheses")(hypotheses)


@command(HypothesesConfig, HYPOTHESES_OPTIONS)
def hypotheses(**opts: Any) -> None:
    """Find the latents that predict a label (or separate VECTORS from --compare B), FDR-tested on held-out rows."""
    import pyarrow.parquet as pq

    from saescope.hypotheses import run_hypotheses

    cfg = build(HypothesesConfig, values(opts, HYPOTHESES_OPTIONS))
    m = run_hypotheses(cfg, progress=opts["progress"])
    out = Path(cfg.out)
    table = pq.read_table(out / "hypotheses.parquet").to_pandas()
    key = "auroc" if "auroc" in m else "r2"
    typer.echo(f"{m['n_significant']} of {m['n_tested']} tested latents significant at FDR {cfg.fdr:g} "
               f"(train {m['split']['n_train']}, held-out {m['split']['n_test']} rows)")
    for _, r in table[table.significant].head(10).iterrows():
        say(f"  latent {int(r.latent)}: effect {r.effect:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}], "
                   f"q {r.q:.2g}, purity {r.purity:.2f}: {r.explanation}")
    sel, raw = m[key]["selected_features"], m[key]["raw_embedding"]
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    typer.echo(f"held-out {key}: selected latents {fmt(sel)}, raw embedding {fmt(raw)}; wrote {out}")
