"""`saescope interpret`: explain and score SAE latents (thin layer over saescope.interpret)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from saescope.cli import say
from saescope.cli.options import Opt, build, command, field_of, values
from saescope.interpret.config import InterpretConfig

INTERPRET_OPTIONS = (
    Opt("sae_dir", "sae", argument=True, default=..., type=Path,
        help="SAE folder (cfg.json + sae.safetensors)."),
    Opt("--data", "data", default=..., type=Path),
    Opt("--out", "out", default=..., type=Path),
    Opt("--texts", "texts", type=Path | None,
        help="Corpus with the texts, aligned with --data by id (else the texts are a column of --data)."),
    Opt("--text-field", "text_field"),
    Opt("--id-field", "id_field", help="Id column or field shared by --data and --texts."),
    Opt("--column", "column", help="Vector column of --data (default: embedding or emb)."),
    Opt("--explainer", "explainer", help="keywords (offline, no model) or llm."),
    Opt("--stop-words", "keywords.stop_words", type=Path | None,
        help="Text file of extra stop words (one per line) the keywords explainer leaves out."),
    Opt("--scorer", "scorers", type=str,
        help="Comma-separated: embedding,detection,prediction,simulation,intruder (none: explain only)."),
    Opt("--select", "latents", help="Which latents: all, N (N live latents at random) or i,j,k."),
    Opt("--latents", None, help="Deprecated name of --select."),
    Opt("--min-fires", "min_fires", help="With --select N: draw among latents firing at least this often."),
    Opt("--min-test-positives", "scoring.min_test_positives",
        help="Fewest activating test texts for a score; fewer: NaN and low_support."),
    Opt("--llm-base-url", "llm_base_url",
        help="OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1); key from SAESCOPE_LLM_API_KEY "
             "or OPENAI_API_KEY."),
    Opt("--llm-model", "llm_model", help="Server model name, or a local model: smollm2 (default) or a path."),
    Opt("--concurrency", "concurrency"),
    Opt("--llm-timeout", "llm_timeout", help="Seconds per LLM request before it is retried."),
    Opt("--llm-logprobs", "llm_logprobs", help="Ask the server for logprobs (detection AUROC)."),
    Opt("--explain-examples", "explain_prompt.n_positive",
        help="Activating examples shown to the LLM explainer (fewer for small models)."),
    Opt("--explain-negatives", "explain_prompt.n_negative",
        help="Non-activating examples shown to the LLM explainer."),
    Opt("--explain-max-chars", "explain_prompt.max_chars",
        help="Characters of each example shown to the LLM explainer."),
    Opt("--explain-max-tokens", "explain_prompt.max_tokens"),
    Opt("--cache", "cache_path", type=Path | None,
        help="LLM response cache file (default: user cache folder or $SAESCOPE_CACHE_DIR)."),
    Opt("--embedder", "embedder", help="Sentence model of the embedding scorer."),
    Opt("--token-window-before", "token_window_before"),
    Opt("--token-window-after", "token_window_after"),
    Opt("--token-keyword-window", "token_keyword_window"),
    Opt("--batch-size", "scoring.batch_size", help="Texts per LLM scoring request."),
    Opt("--device", "device", help="Device of the SAE and local models: cpu, cuda, auto."),
    Opt("--seed", "seed", help="The run's seed: examples, sampling, shuffled baselines and bootstrap."),
    Opt("--price-in", "price_in_per_mtok", help="Cost per million prompt tokens (manifest estimate)."),
    Opt("--price-out", "price_out_per_mtok"),
    Opt("--overwrite", "overwrite", help="Replace a finished output folder."),
    Opt("--progress/--no-progress", None, type=bool, default=True, help="Show progress bars."),
)
"""`saescope interpret`'s options; defaults are InterpretConfig's."""


def register(app: typer.Typer) -> None:
    app.command("interpret")(interpret)


@command(InterpretConfig, INTERPRET_OPTIONS)
def interpret(**opts: Any) -> None:
    """Explain every latent (keywords or an LLM) and score the explanations on held-out texts.

    An interrupted run resumes when started again with the same options; LLM answers are cached
    on disk, so a rerun makes no LLM calls.
    """
    from saescope.interpret import run_interpret

    flag = "--select"
    if opts["latents"] is not None:
        typer.echo("warning: --latents is deprecated in `interpret`, use --select", err=True)
        opts["select"], flag = opts["latents"], "--latents"
    given = values(opts, INTERPRET_OPTIONS)
    given["scorers"] = tuple(opts["scorer"].split(","))
    budget = field_of(InterpretConfig, "explain_prompt.budget_chars")[0]
    given["explain_prompt.budget_chars"] = max(budget, opts["explain_max_chars"])
    cfg = build(InterpretConfig, given)
    manifest = run_interpret(cfg, progress=opts["progress"])
    for line in summary_lines(manifest, cfg, flag):
        say(line, err=line.startswith("note:"))


def summary_lines(manifest: dict[str, Any], cfg: InterpretConfig, flag: str) -> list[str]:
    """What the CLI prints: each score with its interval and baselines, the counts, the files."""
    summary = manifest["summary"]
    lines = []
    for name, s in summary["scores"].items():
        ci = s["ci"]
        lines.append(
            f"{name}: mean {_fmt(s['mean'])} (95% CI {_fmt(ci[0])}-{_fmt(ci[1])}), "
            f"shuffled-explanation baseline {_fmt(s['baseline_mean'])}, hard negatives {_fmt(s.get('hard_mean'))}, "
            f"{s['n_latents']} latents ({s['n_low_support']} with < {summary['min_test_positives']} "
            "activating test texts left out)"
        )
        gain = s.get("above_baseline") or {}
        if gain.get("n_latents"):
            lines.append(f"  {name} above its shuffled baseline: {_fmt(gain['mean'])} (95% CI "
                         f"{_fmt(gain['ci'][0])}-{_fmt(gain['ci'][1])}), paired over {gain['n_latents']} latents")
    c, select = summary["counts"], cfg.latents
    if select.isdigit() and int(select) > c["latents_selected"]:
        lines.append(f"note: {flag} {select}: only {c['latents_selected']} latents fire at least "
                     f"{max(1, cfg.min_fires)} times; interpreted those")
    none = c.get("no_explanation", 0)
    lines.append(f"latents: {c['ok']} ok, {none} with no explanation (nothing distinctive in their activating "
                 f"texts), {c['dead']} never fire on --data, {c['failed']} failed; wrote {cfg.out}")
    hard = [n for n, s in summary["scores"].items() if s.get("hard_mean") is not None and s["hard_mean"] < 0.5]
    if hard:
        lines.append(f"note: hard negatives below 0.5 ({', '.join(hard)}): the explanations fit the nearest "
                     "non-activating texts better than the activating ones, so they name the neighbourhood's "
                     "topic rather than what sets the latent apart (0.5 = chance)")
    dead = manifest.get("sae_dead_fraction")
    if dead is not None:
        n = c.get("latents_in_sae")
        rows = f" on {dead['training_rows']:,} training rows" if dead.get("training_rows") else ""
        count = f"{round(dead['dead_fraction'] * n)} of {n} " if n else ""
        lines.append(f"SAE dead latents: {count}({dead['dead_fraction']:.3f}), never fired{rows} "
                     f"({dead['source']}; the count the report and dashboard show)")
    return lines


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
