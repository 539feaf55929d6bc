"""Entry point of the `saescope` console script."""

from __future__ import annotations

import importlib
import sys

import typer

from saescope.errors import SaescopeError

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


# Each stage module adds its own commands; adding a stage touches only this tuple.
STAGE_MODULES = ("sae", "data", "seeds", "interpret", "hypotheses", "curate", "viz", "tune", "demo", "export")

for _name in STAGE_MODULES:
    try:
        _mod = importlib.import_module(f"saescope.cli.{_name}")
    except ModuleNotFoundError as _exc:  # a stage not written yet
        if _exc.name != f"saescope.cli.{_name}":
            raise
        continue
    _mod.register(app)


@app.command("version")
def version() -> None:
    """Print the saescope version."""
    from saescope import __version__

    typer.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one clear line and exit with code 2."""
    try:
        app(args=argv, standalone_mode=False)
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
