"""`saescope datasets list|export`, `saescope embed`, `saescope activations` (thin layer over saescope.data)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import typer

from saescope.cli.options import Opt, check_executor, command, ray_options
from saescope.errors import ConfigError, InputError

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


@datasets_app.command("export")
def datasets_export(
    name: str = typer.Argument(..., help="Built-in data set name (see `saescope datasets list`)."),
    out: Path = typer.Argument(..., help="Output file: .jsonl, .jsonl.gz, .csv or .parquet."),
    with_choices: bool = typer.Option(
        False, "--with-choices", help="mmlu: append the four answer options to each question."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Write a built-in data set to a file (fields id, text, subject, domain for mmlu)."""
    from saescope.data.builtin import load_builtin
    from saescope.data.export import write_table

    if out.exists() and not overwrite:
        raise InputError(f"output {out} already exists (use --overwrite to replace it)")
    kwargs = {"with_choices": True} if with_choices else {}
    table = load_builtin(name, **kwargs)
    write_table(table, out)
    typer.echo(f"wrote {table.num_rows} rows to {out}")


def _load_input(o: SimpleNamespace) -> Any:
    """A corpus file/folder or a built-in name -> table (id, text, metadata[, split]), as the
    `CORPUS_OPTIONS` of `o` say."""
    from saescope.data.builtin import DATASETS, load_builtin
    from saescope.data.corpus import read_corpus_with_report
    from saescope.data.splits import split_column

    input, text_field, id_field, limit = o.input, o.text_field, o.id_field, o.limit
    val_fraction, group_field = o.val_fraction, o.group_field
    path = Path(input)
    if path.exists():
        table, report = read_corpus_with_report(
            path, text_field=text_field, id_field=id_field or None, on_error=o.on_error,
            empty=o.empty, limit=limit,
        )
        for msg in report.messages():
            typer.echo(f"warning: {msg}", err=True)
    elif input in DATASETS:
        table = load_builtin(input)
        if limit is not None:
            table = table.slice(0, limit)
    else:
        raise InputError(
            f"{input}: file not found (and not a built-in data set: {', '.join(DATASETS)})"
        )
    if table.num_rows == 0:
        raise InputError(f"{input}: no rows with text")
    if group_field is not None and val_fraction <= 0:
        raise ConfigError("--group-field needs --val-fraction > 0")
    if val_fraction > 0:
        if "split" in table.column_names:
            raise InputError(f"{input}: already has a `split` column; drop --val-fraction")
        table = table.append_column("split", split_column(table, val_fraction, o.seed, group_field))
    return table


_INPUT = Opt("input", None, argument=True, default=...,
             help="Corpus (JSONL/CSV/Parquet/folder/HF dataset) or a built-in name.")
_DEVICE = Opt("--device", None, default="auto", help="auto | cpu | cuda.")
CORPUS_OPTIONS = (
    Opt("--text-field", None, default="text", help="Field holding the text."),
    Opt("--id-field", None, default="id", help="Field holding the id ('' = hash of the text)."),
    Opt("--on-error", None, default="raise", help="Malformed rows: raise (stop) or skip (count)."),
    Opt("--empty", None, default="drop", help="Empty texts: drop (reported), keep, or error."),
    Opt("--limit", None, type=int | None, help="Use only the first N rows."),
    Opt("--val-fraction", None, type=float, default=0.0,
        help="Add a `split` column (train/val) with this val share."),
    Opt("--group-field", None, help="Keep all rows of a group on one side of the split."),
    Opt("--seed", None, type=int, default=0, help="Seed of the split."),
    Opt("--overwrite", None, type=bool, default=False, help="Replace an existing output."),
    Opt("--progress/--no-progress", None, type=bool, default=True, help="Show a progress bar."),
)
"""How `embed` and `activations` read a corpus (`_load_input`) and write their output."""

EMBED_OPTIONS = (
    _INPUT,
    Opt("--out", None, type=Path, default=..., help="Output .parquet file, or a folder for shards."),
    Opt("--model", None, default="minilm", help="minilm (offline), a model folder, or a hub name."),
    Opt("--batch-size", None, type=int, default=64, help="Texts per encoder batch."),
    _DEVICE,
    Opt("--normalize/--no-normalize", None, type=bool, default=True, help="L2-normalise embeddings."),
    Opt("--shard-size", None, type=int, default=4096, help="Rows per resumable shard."),
    *CORPUS_OPTIONS,
    *ray_options("local | ray (Ray Data over Parquet/JSONL files: one output part per file).",
                 "Ray: model copies (default: per GPU or 2 CPUs)."),
)


@command(None, EMBED_OPTIONS)
def embed(**opts: Any) -> None:
    """Sentence embeddings -> Parquet (id, embedding, passthrough columns).

    Work is saved shard by shard; rerun the same command after an interruption to resume.
    """
    o = SimpleNamespace(**opts)
    if o.executor == "ray":  # saescope.ray_exec: reads the files on the cluster, resumable by part
        from saescope.ray_exec import RayConfig, embed_files

        if o.limit is not None or o.val_fraction > 0 or o.id_field == "" or o.on_error != "raise":
            raise ConfigError("--executor ray takes files with an id field; --limit, "
                              "--val-fraction and --on-error skip are local-only")
        cfg = RayConfig(address=o.ray_address, actors=o.actors, gpus_per_actor=o.gpus_per_actor)
        stats = embed_files(o.input, o.out, model=o.model, batch_size=o.batch_size,
                            normalize=o.normalize, text_field=o.text_field, id_field=o.id_field,
                            empty=o.empty, device=o.device, ray=cfg, overwrite=o.overwrite,
                            progress=o.progress)
        typer.echo(f"wrote {stats['rows']} embeddings in {stats['done']} new part(s) "
                   f"({stats['parts']} in all) to {o.out}")
        return
    check_executor(o.executor)
    from saescope.data.embed import Embedder, embed_table

    table = _load_input(o)
    embedder = Embedder(model=o.model, device=o.device, batch_size=o.batch_size, normalize=o.normalize)
    path = embed_table(table, o.out, embedder=embedder, shard_size=o.shard_size,
                       overwrite=o.overwrite, progress=o.progress)
    typer.echo(f"wrote {table.num_rows} embeddings of dimension {embedder.dim} to {path}")


ACTIVATIONS_OPTIONS = (
    _INPUT,
    Opt("--out", None, type=Path, default=...,
        help="Output .parquet file (or folder); -layerL added for several layers."),
    Opt("--layer", None, type=list[int], default=...,
        help="Block whose output is read (0-based; negative from the end). Repeatable."),
    Opt("--model", None, default="smollm2", help="smollm2 (offline), a model folder, or a hub name."),
    Opt("--pooling", None, default="mean", help="mean | max | last | topk."),
    Opt("--top-k", None, type=int, default=8, help="topk pooling: tokens of largest norm to average."),
    Opt("--per-token", None, type=bool, default=False, help="One row per token instead of per document."),
    Opt("--max-tokens", None, type=int, default=512, help="Truncate documents to this many tokens."),
    Opt("--keep-first-token", None, type=bool, default=False,
        help="Pool the first position too (by default it is left out: the attention sink holds "
             "massive activations that would dominate every document vector)."),
    Opt("--batch-size", None, type=int, default=16, help="Documents per forward pass."),
    Opt("--dtype", None, default="auto",
        help="Compute dtype: auto (bfloat16 where the device computes it natively: a CUDA GPU "
             "with bf16, a CPU with AMX/AVX512-BF16; else float32) | float32 | bfloat16."),
    _DEVICE,
    Opt("--shard-size", None, type=int, default=1024,
        help="Documents per resumable shard (one shard's activations are held in memory)."),
    *CORPUS_OPTIONS,
)


@command(None, ACTIVATIONS_OPTIONS)
def activations(**opts: Any) -> None:
    """LLM hidden states after block L -> Parquet in the `embed` layout (or per token).

    Padding is masked, the first position (the attention sink) is left out unless
    --keep-first-token, documents are batched by length.
    topk pooling: per document, the mean of the K token vectors of largest L2 norm (FineScope's
    "top-K activation selection"; all dimensions kept).
    """
    from saescope.data.activations import ActivationExtractor, extract_table

    o = SimpleNamespace(**opts)
    if o.empty == "keep":
        raise ConfigError("activations cannot use --empty keep: an empty text has no tokens")
    table = _load_input(o)
    extractor = ActivationExtractor(
        model=o.model, layers=o.layer, pooling=o.pooling, top_k=o.top_k, max_tokens=o.max_tokens,
        batch_size=o.batch_size, device=o.device, skip_first=not o.keep_first_token,
        dtype=o.dtype,
    )
    outs = extract_table(table, o.out, extractor, per_token=o.per_token, shard_size=o.shard_size,
                         overwrite=o.overwrite, progress=o.progress)
    for lay, path in outs.items():
        typer.echo(f"wrote layer {lay} activations (d={extractor.hidden_size}) to {path}")
