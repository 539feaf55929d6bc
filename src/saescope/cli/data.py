"""`saescope datasets list|export`, `saescope embed`, `saescope activations` (thin layer over saescope.data)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from saescope.cli.options import Opt, build, command, ray_options, values
from saescope.data.config import ActivationsConfig, DatasetExportConfig, EmbedConfig
from saescope.errors import InputError

datasets_app = typer.Typer(
    help="Built-in data sets (offline): list them, export one as JSONL/CSV/Parquet.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
    app.command("embed")(embed)
    app.command("activations")(activations)


@datasets_app.command("list")
def datasets_list() -> None:
    """List the built-in data sets."""
    from saescope.data.builtin import DATASETS

    for ds in DATASETS.values():
        typer.echo(f"{ds.name}\t{ds.rows} rows\tfields: {', '.join(ds.fields)}\t{ds.description}")


DATASETS_EXPORT_OPTIONS = (
    Opt("name", "name", argument=True, default=...),
    Opt("out", "out", argument=True, type=Path, default=...),
    Opt("--with-choices", "with_choices"),
    Opt("--overwrite", "overwrite"),
)


@datasets_app.command("export")
@command(DatasetExportConfig, DATASETS_EXPORT_OPTIONS)
def datasets_export(**opts: Any) -> None:
    """Write a built-in data set to a file (fields id, text, subject, domain for mmlu)."""
    from saescope.data.builtin import load_builtin
    from saescope.data.export import write_table

    cfg = build(DatasetExportConfig, values(opts, DATASETS_EXPORT_OPTIONS))
    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise InputError(f"output {out} already exists (use --overwrite to replace it)")
    kwargs = {"with_choices": True} if cfg.with_choices else {}
    table = load_builtin(cfg.name, **kwargs)
    write_table(table, out)
    typer.echo(f"wrote {table.num_rows} rows to {out}")


_INPUT = Opt("input", "input", argument=True, default=...)
CORPUS_OPTIONS = (
    Opt("--text-field", "corpus.text_field"),
    Opt("--id-field", "corpus.id_field"),
    Opt("--on-error", "corpus.on_error"),
    Opt("--empty", "corpus.empty"),
    Opt("--limit", "corpus.limit"),
    Opt("--val-fraction", "corpus.val_fraction"),
    Opt("--group-field", "corpus.group_field"),
    Opt("--seed", "corpus.seed"),
    Opt("--overwrite", "overwrite"),
    Opt("--progress/--no-progress", None, type=bool, default=True, help="Show a progress bar."),
)
"""How `embed` and `activations` read a corpus (`CorpusConfig`) and write their output."""

EMBED_OPTIONS = (
    _INPUT,
    Opt("--out", "out", type=Path, default=...),
    Opt("--model", "model"),
    Opt("--batch-size", "batch_size"),
    Opt("--device", "device"),
    Opt("--normalize/--no-normalize", "normalize"),
    Opt("--shard-size", "shard_size"),
    *CORPUS_OPTIONS,
    *ray_options("local | ray (Ray Data over Parquet/JSONL files: one output part per file).",
                 "Ray: model copies (default: per GPU or 2 CPUs)."),
)


def _run(stage: Any, cfg: Any, progress: bool) -> dict[str, Any]:
    """Run a data stage with its notes on the rows read printed as warnings."""
    def show(message: Any, *_: Any, **__: Any) -> None:
        typer.echo(f"warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show
        return stage(cfg, progress=progress)


@command(EmbedConfig, EMBED_OPTIONS)
def embed(**opts: Any) -> None:
    """Sentence embeddings -> Parquet (id, embedding, passthrough columns).

    Work is saved shard by shard; rerun the same command after an interruption to resume.
    """
    from saescope.data.run import run_embed

    cfg = build(EmbedConfig, values(opts, EMBED_OPTIONS))
    man = _run(run_embed, cfg, opts["progress"])
    if "ray" in man:
        stats = man["ray"]
        typer.echo(f"wrote {stats['rows']} embeddings in {stats['done']} new part(s) "
                   f"({stats['parts']} in all) to {cfg.out}")
    else:
        typer.echo(f"wrote {man['rows']} embeddings of dimension {man['dim']} to {cfg.out}")


ACTIVATIONS_OPTIONS = (
    _INPUT,
    Opt("--out", "out", type=Path, default=...),
    Opt("--layer", "layers", type=list[int], default=...,
        help="Block whose output is read (0-based; negative from the end). Repeatable."),
    Opt("--model", "model"),
    Opt("--pooling", "pooling"),
    Opt("--top-k", "top_k"),
    Opt("--per-token", "per_token"),
    Opt("--max-tokens", "max_tokens"),
    Opt("--keep-first-token", "keep_first_token"),
    Opt("--batch-size", "batch_size"),
    Opt("--dtype", "dtype"),
    Opt("--device", "device"),
    Opt("--shard-size", "shard_size"),
    *CORPUS_OPTIONS,
)


@command(ActivationsConfig, ACTIVATIONS_OPTIONS)
def activations(**opts: Any) -> None:
    """LLM hidden states after block L -> Parquet in the `embed` layout (or per token).

    Padding is masked, the first position (the attention sink) is left out unless
    --keep-first-token, documents are batched by length.
    topk pooling: per document, the mean of the K token vectors of largest L2 norm (FineScope's
    "top-K activation selection"; all dimensions kept).
    """
    from saescope.data.run import run_activations

    cfg = build(ActivationsConfig, values(opts, ACTIVATIONS_OPTIONS))
    man = _run(run_activations, cfg, opts["progress"])
    for lay, path in man["outputs"].items():
        typer.echo(f"wrote layer {lay} activations (d={man['hidden_size']}) to {path}")
