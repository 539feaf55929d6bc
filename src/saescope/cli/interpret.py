"""`saescope interpret`: explain and score SAE latents (thin layer over saescope.interpret)."""

from __future__ import annotations

from pathlib import Path

import typer

from saescope.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("interpret")(interpret)


def interpret(
    sae_dir: Path = typer.Argument(..., help="SAE folder (cfg.json + sae.safetensors)."),
    data: Path = typer.Option(..., "--data", help="Vectors the SAE was trained on (Parquet with id, embedding[, text]; .npy; .safetensors)."),
    out: Path = typer.Option(..., "--out", help="Output folder (latents.parquet, examples.parquet, summary.json, manifest.json)."),
    texts: Path | None = typer.Option(None, "--texts", help="Corpus with the texts, aligned with --data by id (else the texts are a column of --data)."),
    text_field: str = typer.Option("text", "--text-field", help="Text column or field."),
    id_field: str = typer.Option("id", "--id-field", help="Id column or field shared by --data and --texts."),
    column: str | None = typer.Option(None, "--column", help="Vector column of --data (default: embedding or emb)."),
    explainer: str = typer.Option("keywords", "--explainer", help="keywords (offline, no model) or llm."),
    scorer: str = typer.Option("embedding", "--scorer", help="Comma-separated: embedding,detection,prediction,simulation,intruder (none: explain only)."),
    latents: str = typer.Option("all", "--latents", help="all, N (N live latents at random) or i,j,k."),
    min_fires: int = typer.Option(1, "--min-fires", help="With --latents N: draw among latents firing at least this often."),
    llm_base_url: str | None = typer.Option(None, "--llm-base-url", help="OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1); key from SAESCOPE_LLM_API_KEY or OPENAI_API_KEY."),
    llm_model: str | None = typer.Option(None, "--llm-model", help="Server model name, or a local model: smollm2 (default) or a path."),
    concurrency: int = typer.Option(8, "--concurrency", help="LLM requests in flight at once."),
    llm_timeout: float = typer.Option(120.0, "--llm-timeout", help="Seconds per LLM request before it is retried."),
    llm_logprobs: bool = typer.Option(False, "--llm-logprobs", help="Ask the server for logprobs (detection AUROC)."),
    cache: Path | None = typer.Option(None, "--cache", help="LLM response cache file (default: user cache folder or $SAESCOPE_CACHE_DIR)."),
    embedder: str = typer.Option("minilm", "--embedder", help="Sentence model of the embedding scorer."),
    batch_size: int = typer.Option(10, "--batch-size", help="Texts per LLM scoring request."),
    device: str = typer.Option("cpu", "--device", help="Device of the SAE and local models: cpu, cuda, auto."),
    seed: int = typer.Option(0, "--seed", help="Seed of examples, sampling, shuffled baselines and bootstrap."),
    price_in: float = typer.Option(0.0, "--price-in", help="Cost per million prompt tokens (manifest estimate)."),
    price_out: float = typer.Option(0.0, "--price-out", help="Cost per million completion tokens."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished output folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Explain every latent (keywords or an LLM) and score the explanations on held-out texts.

    An interrupted run resumes when started again with the same options; LLM answers are cached
    on disk, so a rerun makes no LLM calls.
    """
    import numpy as np

    from saescope.data.vectors import check_vectors, read_vectors
    from saescope.interpret import ExampleConfig, InterpretConfig, ScorerConfig, run_interpret
    from saescope.sae import SparseAutoencoder

    cfg = InterpretConfig(
        explainer=explainer,
        scorers=tuple(s for s in scorer.split(",")),
        latents=latents,
        min_fires=min_fires,
        examples=ExampleConfig(seed=seed),
        scoring=ScorerConfig(batch_size=batch_size, seed=seed),
        llm_model=llm_model,
        llm_base_url=llm_base_url,
        concurrency=concurrency,
        llm_timeout=llm_timeout,
        llm_logprobs=llm_logprobs,
        cache_path=str(cache) if cache else None,
        embedder=embedder,
        device=device,
        price_in_per_mtok=price_in,
        price_out_per_mtok=price_out,
        seed=seed,
        overwrite=overwrite,
    )
    sae = SparseAutoencoder.load(sae_dir, device="cpu")
    vt = read_vectors(data, column=column, id_field=id_field)
    check_vectors(vt.X, str(data), dim=int(sae.d_in), expected_by=f"the SAE in {sae_dir}")
    ids = np.asarray([str(i) for i in vt.ids], dtype=object)
    text_list = _texts(vt, ids, data, texts, text_field, id_field)
    summary = run_interpret(sae, vt.X, ids, text_list, out, cfg, progress=progress)
    for name, s in summary["scores"].items():
        ci = s["ci"]
        base = s["baseline_mean"]
        typer.echo(
            f"{name}: mean {_fmt(s['mean'])} (95% CI {_fmt(ci[0])}-{_fmt(ci[1])}), "
            f"shuffled-explanation baseline {_fmt(base)}, {s['n_latents']} latents"
        )
    c = summary["counts"]
    if latents.strip().isdigit() and int(latents) > c["latents_selected"]:
        typer.echo(f"note: --latents {latents}: only {c['latents_selected']} latents fire at least "
                   f"{max(1, min_fires)} times; interpreted those", err=True)
    typer.echo(f"latents: {c['ok']} ok, {c['dead']} dead, {c['failed']} failed; wrote {out}")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _texts(vt, ids, data: Path, texts: Path | None, text_field: str, id_field: str) -> list[str]:  # noqa: ANN001
    """The text of every vector row: a column of --data, or --texts joined on id."""
    if texts is None:
        if vt.meta is None or text_field not in vt.meta.column_names:
            raise InputError(
                f"{data}: no text column {text_field!r}; give --texts CORPUS (joined on {id_field!r}) or --text-field"
            )
        col = vt.meta[text_field].to_pylist()
        return [t if isinstance(t, str) else "" for t in col]
    if vt.meta is None or id_field not in vt.meta.column_names:
        raise InputError(f"{data}: no {id_field!r} column to join with --texts {texts}")
    from saescope.data.corpus import read_corpus

    table = read_corpus(texts, text_field=text_field, id_field=id_field, empty="keep",
                        on_error_flag=None)
    by_id = dict(zip((str(i) for i in table["id"].to_pylist()), table["text"].to_pylist(), strict=True))
    out = []
    for row, i in enumerate(ids):
        t = by_id.get(i)
        if t is None:
            raise InputError(f"{texts}: no text for id {i!r} (row {row} of {data})")
        out.append(t)
    return out
