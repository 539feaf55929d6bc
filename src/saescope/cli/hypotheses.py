"""`saescope hypotheses`: which SAE latents predict a label, or separate two corpora."""

from __future__ import annotations

from pathlib import Path

import typer

from saescope.hypotheses.config import HypothesesConfig

_CFG = HypothesesConfig()


def register(app: typer.Typer) -> None:
    app.command("hypotheses")(hypotheses)


def hypotheses(
    vectors: Path = typer.Argument(..., help="Vectors with ids and the label column (Parquet; .npy; .safetensors)."),
    sae: Path = typer.Option(..., "--sae", help="SAE folder (cfg.json + sae.safetensors)."),
    out: Path = typer.Option(..., "--out", help="Output folder (hypotheses.parquet, manifest.json)."),
    label_field: str | None = typer.Option(None, "--label-field", help="Label (two values, or one --positive value against the rest) or numeric outcome column."),
    positive: str | None = typer.Option(None, "--positive", help="Label value counted as positive (needed for labels with more than two values)."),
    compare: Path | None = typer.Option(None, "--compare", help="Vectors of corpus B: find what is in VECTORS (A) that is not in B."),
    texts: Path | None = typer.Option(None, "--texts", help="Corpus with the texts, joined on --id-field (explanations, split by text)."),
    text_field: str = typer.Option(_CFG.text_field, "--text-field", help="Text column or field."),
    id_field: str = typer.Option(_CFG.id_field, "--id-field", help="Id column or field."),
    column: str | None = typer.Option(None, "--column", help="Vector column (default: embedding or emb)."),
    interpretation: Path | None = typer.Option(None, "--interpretation", help="`saescope interpret` folder whose explanations to show."),
    fdr: float = typer.Option(_CFG.fdr, "--fdr", help="False discovery rate (Benjamini-Hochberg) over the tested latents."),
    test_fraction: float = typer.Option(_CFG.test_fraction, "--test-fraction", help="Share of rows held out for the tests (split by text)."),
    selection: str = typer.Option(_CFG.selection, "--selection", help="lasso (L1 regression on the codes) or univariate."),
    n_select: int = typer.Option(_CFG.n_select, "--n-select", help="Latents chosen on the training split and tested."),
    seed: int = typer.Option(_CFG.seed, "--seed", help="Seed of the split, selection and bootstrap."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished output folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Find the latents that predict a label (or separate VECTORS from --compare B), FDR-tested on held-out rows."""
    import pyarrow.parquet as pq

    from saescope.hypotheses import run_hypotheses

    s = lambda p: str(p) if p is not None else None  # noqa: E731
    cfg = HypothesesConfig(
        vectors=str(vectors), sae=str(sae), out=str(out), label_field=label_field, positive=positive,
        compare=s(compare), texts=s(texts), text_field=text_field, id_field=id_field, column=column,
        interpretation=s(interpretation), fdr=fdr, test_fraction=test_fraction, selection=selection,
        n_select=n_select, seed=seed, overwrite=overwrite,
    )
    m = run_hypotheses(cfg, progress=progress)
    table = pq.read_table(out / "hypotheses.parquet").to_pandas()
    key = "auroc" if "auroc" in m else "r2"
    typer.echo(f"{m['n_significant']} of {m['n_tested']} tested latents significant at FDR {fdr:g} "
               f"(train {m['split']['n_train']}, held-out {m['split']['n_test']} rows)")
    for _, r in table[table.significant].head(10).iterrows():
        typer.echo(f"  latent {int(r.latent)}: effect {r.effect:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}], "
                   f"q {r.q:.2g}, purity {r.purity:.2f}: {r.explanation}")
    sel, raw = m[key]["selected_features"], m[key]["raw_embedding"]
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    typer.echo(f"held-out {key}: selected latents {fmt(sel)}, raw embedding {fmt(raw)}; wrote {out}")
