"""The `saescope` command line: a thin layer over the Python API.

One module per stage (`sae`, `data`, `interpret`, `curate`, `viz`, `tune`, `demo`); each
defines `register(app)` and adds its commands. `main` turns `SaescopeError` into a one-line
message and exit code 2.
"""

from __future__ import annotations


def say(line: object, err: bool = False) -> None:
    """Print one line that may hold user or model text (explanations, texts, ids, paths), with
    control characters escaped (`safetext.for_terminal`): an explanation holding `ESC]0;...BEL`
    cannot set the terminal's title or colours."""
    import typer

    from saescope.safetext import for_terminal

    typer.echo(for_terminal(line, keep_newlines=True), err=err)
