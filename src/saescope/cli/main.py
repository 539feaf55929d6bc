"""Entry point of the `saescope` console script."""

from __future__ import annotations

import importlib
import sys

import typer

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

COMMANDS = {
    "train": "sae", "encode": "sae", "datasets": "data", "embed": "data", "activations": "data",
    "seeds": "seeds", "interpret": "interpret", "hypotheses": "hypotheses", "curate": "curate",
    "plot": "viz", "report": "viz", "dashboard": "viz", "tune": "tune", "demo": "demo", "export": "export",
    "version": None,
}
"""Command -> the stage module that registers it (None: main's own), so that running one command
imports only its stage (tests/cli/test_cli_startup.py checks the table against the app)."""


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


def _app_for(argv: list[str]) -> typer.Typer:
    """The app `argv` needs: one stage's commands when it names a command, else all (help, typos)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in COMMANDS and not any(a in ("--help", "-h") for a in argv[: argv.index(first)]):
        stage = COMMANDS[first]
        return build_app(() if stage is None else (stage,))
    return __getattr__("app")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one clear line and exit with code 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        _app_for(argv)(args=argv, standalone_mode=False)
    except SaescopeError as exc:
        typer.echo(f"error: {exc}", err=True)
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
