"""`saescope seeds`: draw a seed set from a labelled pool and write the pool without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from saescope.cli.options import Opt, build, command, values
from saescope.data.seeds import SeedsConfig

SEEDS_OPTIONS = (
    Opt("pool", "pool", argument=True, default=..., type=Path,
        help="Pool to draw from: a text corpus (JSONL, CSV, Parquet) or a vector Parquet file/folder."),
    Opt("--where", "where", help="FIELD=VALUE: draw only among rows whose FIELD equals VALUE (e.g. label=sports)."),
    Opt("--n", "n"),
    Opt("--out", "out", default=..., type=Path, help="Seed file written (.jsonl, .jsonl.gz, .csv or .parquet)."),
    Opt("--rest", "rest", default=..., type=Path,
        help="The pool without the seeds (nor rows repeating a seed's id or text): curate's --pool."),
    Opt("--seed", "seed"),
    Opt("--text-field", "text_field", help="Text field of a corpus pool (held out by text too)."),
    Opt("--id-field", "id_field"),
    Opt("--overwrite", "overwrite"),
)
"""`saescope seeds`' options; defaults are SeedsConfig's."""


def register(app: typer.Typer) -> None:
    app.command("seeds")(seeds)


@command(SeedsConfig, SEEDS_OPTIONS)
def seeds(**opts: Any) -> None:
    """Draw N seeds from a pool by a field's value; write them and the pool without them.

    The seeds are drawn at random among the rows matching --where and written to --out; every
    other row (seeds held out by id and by text) goes to --rest, ready for `saescope curate`.
    """
    from saescope.data.seeds import run_seeds

    m = run_seeds(build(SeedsConfig, values(opts, SEEDS_OPTIONS)))
    where = f" matching {m['where']}" if m["where"] else ""
    typer.echo(f"drew {m['n_seeds']} seeds of {m['matching_rows']} rows{where} in {m['pool']} "
               f"({m['pool_rows']} rows); wrote {m['out']}")
    repeats = f", {m['held_out_repeats']} more rows repeating a seed's {' or '.join(m['held_out_by'])} left out" \
        if m["held_out_repeats"] else ""
    typer.echo(f"wrote {m['rest']}: {m['rest_rows']} rows (the seeds held out{repeats})")
