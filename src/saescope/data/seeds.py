"""`saescope seeds`: draw a seed set from a labelled pool and hold it out of the rest.

A curation is judged on pool rows that are not its seeds: `run_seeds` samples `n` rows whose
`where` field has the given value, writes them to `out`, and writes every other pool row to
`rest`, leaving out (besides the drawn rows themselves) any row that repeats a seed's id or a
seed's text, so no copy of a seed stays in the pool it is meant to find.

The pool is a text corpus (any format `saescope.data.corpus` reads: JSONL, CSV, Parquet, ...;
read as `id`, `text`, metadata columns) or a vector Parquet file/folder (`id`, `embedding`,
more columns), whose columns are kept as they are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saescope.errors import ConfigError, InputError

if TYPE_CHECKING:  # numpy and pyarrow are imported when seeds are drawn, not at CLI start-up
    import numpy as np
    import pyarrow as pa

_SHOWN_VALUES = 20


@dataclass
class SeedsConfig:
    """Settings of `saescope seeds` (and `run_seeds`)."""

    pool: str | None = None
    """Pool to draw from: a text corpus (JSONL, CSV, Parquet, ...) or a vector Parquet file/folder."""
    where: str | None = None
    """`FIELD=VALUE`: draw only rows whose FIELD equals VALUE (compared as text); None: any row."""
    n: int = 30
    """Seeds drawn (uniformly at random among the matching rows)."""
    out: str | None = None
    """Seed file written (.jsonl, .jsonl.gz, .csv or .parquet)."""
    rest: str | None = None
    """The pool without the seeds (nor rows repeating a seed's id or text), same formats."""
    seed: int = 0
    """Seed of the random draw."""
    text_field: str = "text"
    """Text field of a corpus pool (a vector pool's text column, when it has one, for the
    hold-out by text)."""
    id_field: str = "id"
    """Id field of a corpus pool (rows without one get a hash of their text)."""
    overwrite: bool = False
    """Replace existing output files."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"--n must be >= 1, got {self.n}")
        if self.where is not None and "=" not in self.where:
            raise ConfigError(f"--where must be FIELD=VALUE, got {self.where!r}")


def read_pool(cfg: SeedsConfig) -> tuple[pa.Table, str]:
    """The pool table and its kind (`vectors` keeps all columns, `corpus` is id/text/metadata)."""
    from saescope.data.corpus import read_corpus_with_report

    path = Path(str(cfg.pool))
    if not path.exists():
        raise InputError(f"{path}: pool not found")
    if path.suffix.lower() in (".npy", ".safetensors"):
        raise InputError(f"{path}: a bare array has no fields to draw seeds by; use a Parquet pool with columns")
    vectors = _vector_parquet(path)
    if vectors is not None:
        return vectors, "vectors"
    table, _ = read_corpus_with_report(path, text_field=cfg.text_field, id_field=cfg.id_field or None)
    return table, "corpus"


def _vector_parquet(path: Path) -> pa.Table | None:
    """The whole table of a Parquet file/folder holding a vector column; None for anything else."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saescope.data.vectors import VECTOR_COLUMNS, parquet_files

    if not (path.is_dir() or path.suffix.lower() in (".parquet", ".pq")):
        return None
    try:
        files = parquet_files(path)
        if not any(c in pq.read_schema(files[0]).names for c in VECTOR_COLUMNS):
            return None
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
    except InputError:
        return None
    except Exception as exc:  # 0-byte, truncated or not Parquet at all
        raise InputError(f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})") from None


def matching_rows(table: pa.Table, where: str | None, source: str) -> np.ndarray:
    """Indices of the rows whose field equals the value of `where` (`FIELD=VALUE`), all rows for None."""
    import numpy as np
    import pyarrow as pa

    if where is None:
        return np.arange(table.num_rows)
    field, _, value = where.partition("=")
    field, value = field.strip(), value.strip()
    if field not in table.column_names:
        raise InputError(f"{source}: --where {where!r}: no field {field!r} "
                         f"(fields: {', '.join(table.column_names)})")
    col = table.column(field)
    if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type) or pa.types.is_struct(col.type):
        raise InputError(f"{source}: --where {field}: not a scalar field ({col.type})")
    as_text = [None if v is None else _text(v) for v in col.to_pylist()]
    hits = np.array([v == value for v in as_text], dtype=bool)
    if not hits.any():
        counts = Counter(v for v in as_text if v is not None)
        shown = ", ".join(f"{v!r} ({c})" for v, c in counts.most_common(_SHOWN_VALUES))
        more = f", ... {len(counts) - _SHOWN_VALUES} more" if len(counts) > _SHOWN_VALUES else ""
        raise InputError(f"{source}: --where {where!r}: no row has {field} = {value!r} "
                         f"(values with their row counts: {shown}{more})")
    return np.flatnonzero(hits)


def _text(v: Any) -> str:
    """A field value as the text `--where` compares with (1.0 -> "1", True -> "true")."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _check_outputs(cfg: SeedsConfig) -> tuple[Path, Path]:
    from saescope.data.export import output_format

    if cfg.out is None or cfg.rest is None:
        raise ConfigError("seeds: both --out (the seeds) and --rest (the pool without them) are needed")
    out, rest, pool = Path(cfg.out), Path(cfg.rest), Path(str(cfg.pool))
    paths = [p.resolve() for p in (out, rest, pool)]
    if len(set(paths)) < 3:
        raise ConfigError("seeds: --out, --rest and the pool must be three different files")
    for p in (out, rest):
        output_format(p)  # an unknown suffix fails before anything is written
        if p.exists() and not cfg.overwrite:
            raise InputError(f"{p} already exists (use --overwrite to replace it)")
    return out, rest


def run_seeds(cfg: SeedsConfig) -> dict[str, Any]:
    """Draw `cfg.n` seeds matching `cfg.where` from the pool, write them and the rest; the manifest."""
    import numpy as np
    import pyarrow as pa

    from saescope.data.export import write_table

    out, rest = _check_outputs(cfg)
    table, kind = read_pool(cfg)
    source = str(cfg.pool)
    match = matching_rows(table, cfg.where, source)
    if cfg.n > len(match):
        what = f"match --where {cfg.where!r}" if cfg.where else "are in the pool"
        raise InputError(f"{source}: --n {cfg.n} seeds asked for, but only {len(match)} rows {what}")
    rng = np.random.default_rng(cfg.seed)
    picked = np.sort(rng.choice(match, size=cfg.n, replace=False))
    is_seed = np.zeros(table.num_rows, dtype=bool)
    is_seed[picked] = True
    ids = [None if v is None else str(v) for v in table.column("id").to_pylist()] if "id" in table.column_names else None
    text_col = "text" if kind == "corpus" else (cfg.text_field if cfg.text_field in table.column_names else None)
    held = np.zeros(table.num_rows, dtype=bool)
    if ids is not None:
        seed_ids = {ids[i] for i in picked}
        held |= np.array([i in seed_ids for i in ids], dtype=bool)
    if text_col is not None:
        texts = [None if t is None else str(t).strip() for t in table.column(text_col).to_pylist()]
        seed_texts = {texts[i] for i in picked}
        held |= np.array([t is not None and t in seed_texts for t in texts], dtype=bool)
    keep = ~(held | is_seed)
    write_table(table.filter(pa.array(keep)), rest)
    write_table(table.take(pa.array(picked)), out)
    return {
        "pool": source, "pool_kind": kind, "pool_rows": table.num_rows, "where": cfg.where,
        "matching_rows": int(len(match)), "n_seeds": int(cfg.n), "seed": cfg.seed,
        "rest_rows": int(keep.sum()), "held_out_repeats": int((held & ~is_seed).sum()),
        "held_out_by": [k for k, on in (("id", ids is not None), ("text", text_col is not None)) if on],
        "out": str(out), "rest": str(rest),
    }
