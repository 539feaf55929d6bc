"""`saescope interpret`: explain and score SAE latents (thin layer over saescope.interpret)."""

from __future__ import annotations

from pathlib import Path

import typer

from saescope.interpret.config import ExplainPromptConfig, InterpretConfig
from saescope.interpret.scorers import ScorerConfig

_CFG = InterpretConfig()
_SCORING = ScorerConfig()
_PROMPT = ExplainPromptConfig()


def register(app: typer.Typer) -> None:
    app.command("interpret")(interpret)


def interpret(
    sae_dir: Path = typer.Argument(..., help="SAE folder (cfg.json + sae.safetensors)."),
    data: Path = typer.Option(..., "--data", help="Vectors the SAE was trained on (Parquet with id, embedding[, text]; .npy; .safetensors)."),
    out: Path = typer.Option(..., "--out", help="Output folder (latents.parquet, examples.parquet, summary.json, manifest.json)."),
    texts: Path | None = typer.Option(None, "--texts", help="Corpus with the texts, aligned with --data by id (else the texts are a column of --data)."),
    text_field: str = typer.Option(_CFG.text_field, "--text-field", help="Text column or field."),
    id_field: str = typer.Option(_CFG.id_field, "--id-field", help="Id column or field shared by --data and --texts."),
    column: str | None = typer.Option(None, "--column", help="Vector column of --data (default: embedding or emb)."),
    explainer: str = typer.Option(_CFG.explainer, "--explainer", help="keywords (offline, no model) or llm."),
    scorer: str = typer.Option(",".join(_CFG.scorers), "--scorer", help="Comma-separated: embedding,detection,prediction,simulation,intruder (none: explain only)."),
    select: str = typer.Option(_CFG.latents, "--select", help="Which latents: all, N (N live latents at random) or i,j,k."),
    latents: str | None = typer.Option(None, "--latents", help="Deprecated name of --select."),
    min_fires: int = typer.Option(_CFG.min_fires, "--min-fires", help="With --select N: draw among latents firing at least this often."),
    min_test_positives: int = typer.Option(_SCORING.min_test_positives, "--min-test-positives", help="Fewest activating test texts for a score; fewer: NaN and low_support."),
    llm_base_url: str | None = typer.Option(None, "--llm-base-url", help="OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1); key from SAESCOPE_LLM_API_KEY or OPENAI_API_KEY."),
    llm_model: str | None = typer.Option(None, "--llm-model", help="Server model name, or a local model: smollm2 (default) or a path."),
    concurrency: int = typer.Option(_CFG.concurrency, "--concurrency", help="LLM requests in flight at once."),
    llm_timeout: float = typer.Option(_CFG.llm_timeout, "--llm-timeout", help="Seconds per LLM request before it is retried."),
    llm_logprobs: bool = typer.Option(_CFG.llm_logprobs, "--llm-logprobs", help="Ask the server for logprobs (detection AUROC)."),
    explain_examples: int = typer.Option(_PROMPT.n_positive, "--explain-examples", help="Activating examples shown to the LLM explainer (fewer for small models)."),
    explain_negatives: int = typer.Option(_PROMPT.n_negative, "--explain-negatives", help="Non-activating examples shown to the LLM explainer."),
    explain_max_chars: int = typer.Option(_PROMPT.max_chars, "--explain-max-chars", help="Characters of each example shown to the LLM explainer."),
    explain_max_tokens: int = typer.Option(_PROMPT.max_tokens, "--explain-max-tokens", help="Token budget of an explanation answer."),
    cache: Path | None = typer.Option(None, "--cache", help="LLM response cache file (default: user cache folder or $SAESCOPE_CACHE_DIR)."),
    embedder: str = typer.Option(_CFG.embedder, "--embedder", help="Sentence model of the embedding scorer."),
    batch_size: int = typer.Option(_SCORING.batch_size, "--batch-size", help="Texts per LLM scoring request."),
    device: str = typer.Option(_CFG.device, "--device", help="Device of the SAE and local models: cpu, cuda, auto."),
    seed: int = typer.Option(_CFG.seed, "--seed", help="The run's seed: examples, sampling, shuffled baselines and bootstrap."),
    price_in: float = typer.Option(_CFG.price_in_per_mtok, "--price-in", help="Cost per million prompt tokens (manifest estimate)."),
    price_out: float = typer.Option(_CFG.price_out_per_mtok, "--price-out", help="Cost per million completion tokens."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished output folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Explain every latent (keywords or an LLM) and score the explanations on held-out texts.

    An interrupted run resumes when started again with the same options; LLM answers are cached
    on disk, so a rerun makes no LLM calls.
    """
    from saescope.interpret import run_interpret

    flag = "--select"
    if latents is not None:
        typer.echo("warning: --latents is deprecated in `interpret`, use --select", err=True)
        select, flag = latents, "--latents"
    cfg = InterpretConfig(
        sae=str(sae_dir), data=str(data), texts=str(texts) if texts else None, text_field=text_field,
        id_field=id_field, column=column, out=str(out),
        explainer=explainer,
        scorers=tuple(s for s in scorer.split(",")),
        latents=select,
        min_fires=min_fires,
        scoring=ScorerConfig(batch_size=batch_size, min_test_positives=min_test_positives),
        explain_prompt=ExplainPromptConfig(n_positive=explain_examples, n_negative=explain_negatives, max_chars=explain_max_chars,
                                           budget_chars=max(_PROMPT.budget_chars, explain_max_chars),
                                           max_tokens=explain_max_tokens),
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
    manifest = run_interpret(cfg, progress=progress)
    summary = manifest["summary"]
    for name, s in summary["scores"].items():
        ci = s["ci"]
        typer.echo(
            f"{name}: mean {_fmt(s['mean'])} (95% CI {_fmt(ci[0])}-{_fmt(ci[1])}), "
            f"shuffled-explanation baseline {_fmt(s['baseline_mean'])}, hard negatives {_fmt(s.get('hard_mean'))}, "
            f"{s['n_latents']} latents ({s['n_low_support']} with < {summary['min_test_positives']} "
            "activating test texts left out)"
        )
    c = summary["counts"]
    if select.strip().isdigit() and int(select) > c["latents_selected"]:
        typer.echo(f"note: {flag} {select}: only {c['latents_selected']} latents fire at least "
                   f"{max(1, min_fires)} times; interpreted those", err=True)
    typer.echo(f"latents: {c['ok']} ok, {c['dead']} never fire on --data, {c['failed']} failed; wrote {out}")
    dead = manifest.get("sae_dead_fraction")
    if dead is not None:
        typer.echo(f"SAE dead fraction (over its training data, {dead['source']}): {dead['dead_fraction']:.3f}")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
