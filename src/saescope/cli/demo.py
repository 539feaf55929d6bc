"""`saescope demo`: the main job, end to end on built-in MMLU data, offline.

Every `DemoConfig` field is an option (`cli/options.py`), with its default and its docstring.
"""

from __future__ import annotations

from typing import Any

import typer

from saescope.cli.options import Opt, build, command, values
from saescope.demo import DemoConfig

DEMO_OPTIONS = (
    Opt("--out", "out"),
    Opt("--quick", "quick"),
    Opt("--domain", "domain"),
    Opt("--rows", "rows"),
    Opt("--quick-rows", "quick_rows"),
    Opt("--seeds", "n_seeds"),
    Opt("--budget", "budget"),
    Opt("--k", "k"),
    Opt("--expansion-factor", "expansion_factor"),
    Opt("--epochs", "epochs"),
    Opt("--val-fraction", "val_fraction"),
    Opt("--draws", "draws"),
    Opt("--llm-base-url", "llm_base_url"),
    Opt("--llm-model", "llm_model"),
    Opt("--local-llm", "local_llm"),
    Opt("--llm-latents", "llm_latents"),
    Opt("--device", "device"),
    Opt("--seed", "seed"),
    Opt("--per-token", "per_token"),
    Opt("--model", "lm"),
    Opt("--layer", "layer"),
    Opt("--max-tokens", "max_tokens"),
    Opt("--token-rows", "token_rows"),
    Opt("--token-seeds", "token_seeds"),
    Opt("--token-steps", "token_steps"),
    Opt("--token-latents", "token_latents"),
    Opt("--token-budget", "token_budget"),
    Opt("--token-pooling", "token_pooling"),
    Opt("--progress/--no-progress", None, type=bool, default=True, help="Show progress bars."),
)
"""`saescope demo`'s options: one per `DemoConfig` field."""


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


@command(DemoConfig, DEMO_OPTIONS)
def demo(**opts: Any) -> None:
    """Run the whole idea on real data: embed MMLU, train an SAE, explain its latents, curate a domain, report."""
    from saescope.demo import run_demo

    run_demo(build(DemoConfig, values(opts, DEMO_OPTIONS)), progress=opts["progress"],
             echo=typer.echo)
