"""`saescope demo`: the main job, end to end on built-in MMLU data, offline."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Annotated[str, typer.Option("--out", help="Run folder to write.")] = "runs/demo",
    quick: Annotated[bool, typer.Option("--quick", help="Smaller, faster run (well under 2 minutes).")] = False,
    domain: Annotated[str, typer.Option("--domain", help="Target MMLU domain: STEM | humanities | social sciences | other.")] = "STEM",
    rows: Annotated[int, typer.Option("--rows", help="Questions used, sampled by subject (0 = all 14,044); ignored with --quick.")] = 10_000,
    seeds: Annotated[int, typer.Option("--seeds", help="Held-out seed questions of the domain.")] = 50,
    budget: Annotated[int, typer.Option("--budget", help="Questions the curation selects.")] = 500,
    llm_base_url: Annotated[str | None, typer.Option("--llm-base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (key from SAESCOPE_LLM_API_KEY or OPENAI_API_KEY).")] = None,
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="Model name on that server.")] = None,
    local_llm: Annotated[bool, typer.Option("--local-llm", help="Also explain latents with the local SmolLM2 (slow on CPU).")] = False,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed of sampling, splits, training and curation.")] = 0,
) -> None:
    """Run the whole idea on real data: embed MMLU, train an SAE, explain its latents, curate a domain, report."""
    from saescope.demo import DemoConfig, run_demo

    cfg = DemoConfig(out=out, quick=quick, rows=rows, domain=domain, n_seeds=seeds, budget=budget,
                     llm_base_url=llm_base_url, llm_model=llm_model, local_llm=local_llm,
                     device=device, seed=seed)
    run_demo(cfg, echo=typer.echo)
