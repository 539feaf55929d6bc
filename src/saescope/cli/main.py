"""Entry point of the `saescope` console script."""

from __future__ import annotations

import importlib
import sys

import typer

from saescope.cli import say
from saescope.errors import SaescopeError


def _new_app() -> typer.Typer:
    app = typer.Typer(
        name="saescope",
        help="Sparse autoencoders on dense vectors: train, interpret, curate, and look at the features.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root() -> None:
        """Sparse autoencoders on dense vectors: train, interpret, curate, and look at the features."""

    return app


def version() -> None:
    """Print the saescope version."""
    from saescope import __version__

    typer.echo(__version__)


# Each stage module adds its own commands; adding a stage touches only this tuple and COMMANDS.
STAGE_MODULES = ("sae", "data", "seeds", "interpret", "hypotheses", "curate", "viz", "tune", "demo", "export")

COMMANDS: dict[str, tuple[str | None, str]] = {
    "train": ("sae", "Train a sparse autoencoder on a matrix of vectors."),
    "encode": ("sae", "Write the sparse codes of INPUT under the SAE to a Parquet file (never densified)."),
    "embed": ("data", "Sentence embeddings -> Parquet (id, embedding, passthrough columns)."),
    "activations": ("data", "LLM hidden states after block L -> Parquet in the `embed` layout (or per token)."),
    "seeds": ("seeds", "Draw N seeds from a pool by a field's value; write them and the pool without them."),
    "interpret": ("interpret", "Explain every latent (keywords or an LLM) and score the explanations on "
                               "held-out texts."),
    "hypotheses": ("hypotheses", "Find the latents that predict a label (or separate VECTORS from --compare B), "
                                 "FDR-tested on held-out rows."),
    "curate": ("curate", "Select the pool rows most like a seed set, in SAE space or a baseline space."),
    "plot": ("viz", "Draw training, latent and curation figures (PNG/SVG + interactive HTML)."),
    "report": ("viz", "Write one self-contained HTML report (no server, no network)."),
    "dashboard": ("viz", "Start the Streamlit dashboard on the run folder."),
    "tune": ("tune", "Search learning rate, k or sparsity penalty, expansion and architecture with Optuna."),
    "demo": ("demo", "Run the whole idea on real data: embed MMLU, train an SAE, explain its latents, "
                     "curate a domain, report."),
    "export": ("export", "Write SRC as an SAELens SAE folder, delphi explanation files, or Neuronpedia "
                         "dashboards."),
    "version": (None, "Print the saescope version."),
    "datasets": ("data", "Built-in data sets (offline): list them, export one as JSONL/CSV/Parquet."),
}
"""Command -> (the stage module that registers it, None: main's own; its one-line help), in the
order `saescope --help` lists them. Running a command imports only its stage, and the top-level
help is drawn from this table without importing any stage (tests/cli/test_cli_startup.py checks
both the table and the help text against the whole app)."""


def build_app(stages: tuple[str, ...] = STAGE_MODULES) -> typer.Typer:
    """The app with the commands of `stages` (all by default)."""
    app = _new_app()
    for name in stages:
        try:
            mod = importlib.import_module(f"saescope.cli.{name}")
        except ModuleNotFoundError as exc:  # a stage not written yet
            if exc.name != f"saescope.cli.{name}":
                raise
            continue
        mod.register(app)
    app.command("version")(version)
    return app


def __getattr__(name: str) -> typer.Typer:
    """`app`: the whole CLI, built on first use (`import saescope.cli.main` stays light)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    global app
    app = build_app()
    return app


def _help_app() -> typer.Typer:
    """The app as `saescope --help` shows it: every command with its one-line help, no stage loaded."""
    app = _new_app()
    for name, (_, text) in COMMANDS.items():
        app.command(name, help=text)(_not_loaded)
    return app


def _not_loaded() -> None:
    raise RuntimeError("a --help placeholder was run")  # _app_for never routes a command here


def _app_for(argv: list[str]) -> typer.Typer:
    """The app `argv` needs: one stage's commands when it names a command, the help table for the
    top-level help, else all (typos get click's own message)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None and all(a == "--help" for a in argv):
        return _help_app()
    if first in COMMANDS and not any(a == "--help" for a in argv[: argv.index(first)]):
        stage = COMMANDS[first][0]
        return build_app(() if stage is None else (stage,))
    return __getattr__("app")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one clear line and exit with code 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        _app_for(argv)(args=argv, standalone_mode=False)
    except SaescopeError as exc:
        say(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        usage: tuple[type, ...] = (click.exceptions.ClickException,)
        try:  # typer >= 0.29 vendors its own click: its usage errors are not click's
            from typer._click.exceptions import ClickException as TyperClickException

            usage += (TyperClickException,)
        except ImportError:
            pass
        if isinstance(exc, usage):
            exc.show()
            sys.exit(2)
        raise


def run(argv: list[str | object]) -> int:
    """Run the CLI in-process and return its exit code (0 on success) instead of exiting."""
    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    main()
