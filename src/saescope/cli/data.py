"""`saescope datasets list|export`, `saescope embed`, `saescope activations` (thin layer over saescope.data)."""

from __future__ import annotations

from pathlib import Path

import typer

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


def _load_input(
    input: str,
    text_field: str,
    id_field: str,
    on_error: str,
    empty: str,
    limit: int | None,
    val_fraction: float,
    group_field: str | None,
    seed: int,
):
    """A corpus file/folder or a built-in name -> table (id, text, metadata[, split])."""
    from saescope.data.builtin import DATASETS, load_builtin
    from saescope.data.corpus import read_corpus_with_report
    from saescope.data.splits import split_column

    path = Path(input)
    if path.exists():
        table, report = read_corpus_with_report(
            path, text_field=text_field, id_field=id_field or None, on_error=on_error,
            empty=empty, limit=limit,
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
        table = table.append_column("split", split_column(table, val_fraction, seed, group_field))
    return table


_TEXT = typer.Option("text", "--text-field", help="Field holding the text.")
_ID = typer.Option("id", "--id-field", help="Field holding the id ('' = hash of the text).")
_ON_ERROR = typer.Option("raise", "--on-error", help="Malformed rows: raise (stop) or skip (count).")
_EMPTY = typer.Option("drop", "--empty", help="Empty texts: drop (reported), keep, or error.")
_LIMIT = typer.Option(None, "--limit", help="Use only the first N rows.")
_VAL = typer.Option(0.0, "--val-fraction", help="Add a `split` column (train/val) with this val share.")
_GROUP = typer.Option(None, "--group-field", help="Keep all rows of a group on one side of the split.")
_SEED = typer.Option(0, "--seed", help="Seed of the split.")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")


def embed(
    input: str = typer.Argument(..., help="Corpus (JSONL/CSV/Parquet/folder/HF dataset) or a built-in name."),
    out: Path = typer.Option(..., "--out", help="Output .parquet file, or a folder for shards."),
    model: str = typer.Option("minilm", "--model", help="minilm (offline), a model folder, or a hub name."),
    batch_size: int = typer.Option(64, "--batch-size", help="Texts per encoder batch."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="L2-normalise embeddings."),
    shard_size: int = typer.Option(4096, "--shard-size", help="Rows per resumable shard."),
    text_field: str = _TEXT,
    id_field: str = _ID,
    on_error: str = _ON_ERROR,
    empty: str = _EMPTY,
    limit: int | None = _LIMIT,
    val_fraction: float = _VAL,
    group_field: str | None = _GROUP,
    seed: int = _SEED,
    overwrite: bool = _OVERWRITE,
    progress: bool = _PROGRESS,
    executor: str = typer.Option("local", "--executor",
                                 help="local | ray (Ray Data over Parquet/JSONL files: one output part per file)."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="ray.init(address=...), e.g. auto."),
    actors: int | None = typer.Option(None, "--actors", help="Ray: model copies (default: per GPU or 2 CPUs)."),
    gpus_per_actor: float = typer.Option(0.0, "--gpus-per-actor", help="Ray: GPUs per actor (1 = CUDA)."),
) -> None:
    """Sentence embeddings -> Parquet (id, embedding, passthrough columns).

    Work is saved shard by shard; rerun the same command after an interruption to resume.
    """
    if executor == "ray":  # saescope.ray_exec: reads the files on the cluster, resumable by part
        from saescope.ray_exec import RayConfig, embed_files

        if limit is not None or val_fraction > 0 or id_field == "" or on_error != "raise":
            raise ConfigError("--executor ray takes files with an id field; --limit, "
                              "--val-fraction and --on-error skip are local-only")
        cfg = RayConfig(address=ray_address, actors=actors, gpus_per_actor=gpus_per_actor)
        stats = embed_files(input, out, model=model, batch_size=batch_size, normalize=normalize,
                            text_field=text_field, id_field=id_field, empty=empty, device=device, ray=cfg,
                            overwrite=overwrite, progress=progress)
        typer.echo(f"wrote {stats['rows']} embeddings in {stats['done']} new part(s) "
                   f"({stats['parts']} in all) to {out}")
        return
    if executor != "local":
        raise ConfigError(f"--executor must be local or ray, got {executor!r}")
    from saescope.data.embed import Embedder, embed_table

    table = _load_input(input, text_field, id_field, on_error, empty, limit, val_fraction,
                        group_field, seed)
    embedder = Embedder(model=model, device=device, batch_size=batch_size, normalize=normalize)
    path = embed_table(table, out, embedder=embedder, shard_size=shard_size, overwrite=overwrite,
                       progress=progress)
    typer.echo(f"wrote {table.num_rows} embeddings of dimension {embedder.dim} to {path}")


def activations(
    input: str = typer.Argument(..., help="Corpus (JSONL/CSV/Parquet/folder/HF dataset) or a built-in name."),
    out: Path = typer.Option(..., "--out", help="Output .parquet file (or folder); -layerL added for several layers."),
    layer: list[int] = typer.Option(..., "--layer", help="Block whose output is read (0-based; negative from the end). Repeatable."),
    model: str = typer.Option("smollm2", "--model", help="smollm2 (offline), a model folder, or a hub name."),
    pooling: str = typer.Option("mean", "--pooling", help="mean | max | last | topk."),
    top_k: int = typer.Option(8, "--top-k", help="topk pooling: tokens of largest norm to average."),
    per_token: bool = typer.Option(False, "--per-token", help="One row per token instead of per document."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Truncate documents to this many tokens."),
    keep_first_token: bool = typer.Option(
        False, "--keep-first-token",
        help="Pool the first position too (by default it is left out: the attention sink holds "
             "massive activations that would dominate every document vector)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Documents per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    shard_size: int = typer.Option(1024, "--shard-size", help="Documents per resumable shard."),
    text_field: str = _TEXT,
    id_field: str = _ID,
    on_error: str = _ON_ERROR,
    empty: str = _EMPTY,
    limit: int | None = _LIMIT,
    val_fraction: float = _VAL,
    group_field: str | None = _GROUP,
    seed: int = _SEED,
    overwrite: bool = _OVERWRITE,
    progress: bool = _PROGRESS,
) -> None:
    """LLM hidden states after block L -> Parquet in the `embed` layout (or per token).

    Padding is masked, the first position (the attention sink) is left out unless
    --keep-first-token, documents are batched by length.
    topk pooling: per document, the mean of the K token vectors of largest L2 norm (FineScope's
    "top-K activation selection"; all dimensions kept).
    """
    from saescope.data.activations import ActivationExtractor, extract_table

    if empty == "keep":
        raise ConfigError("activations cannot use --empty keep: an empty text has no tokens")
    table = _load_input(input, text_field, id_field, on_error, empty, limit, val_fraction,
                        group_field, seed)
    extractor = ActivationExtractor(
        model=model, layers=layer, pooling=pooling, top_k=top_k, max_tokens=max_tokens,
        batch_size=batch_size, device=device, skip_first=not keep_first_token,
    )
    outs = extract_table(table, out, extractor, per_token=per_token, shard_size=shard_size,
                         overwrite=overwrite, progress=progress)
    for lay, path in outs.items():
        typer.echo(f"wrote layer {lay} activations (d={extractor.hidden_size}) to {path}")
