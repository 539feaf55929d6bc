"""Write a table as JSON Lines (optionally .gz/.zst), CSV or Parquet, atomically."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from saescope.errors import ConfigError
from saescope.io import atomic_path


def output_format(out: str | Path) -> tuple[str, str | None]:
    """(format suffix, compression suffix or None) of an output path; ConfigError when unknown."""
    suffixes = [s.lower() for s in Path(out).suffixes]
    compression = suffixes[-1] if suffixes and suffixes[-1] in (".gz", ".zst") else None
    fmt = suffixes[-2] if compression and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if not (fmt in (".jsonl", ".csv") or (fmt == ".parquet" and compression is None)):
        raise ConfigError(f"{out}: unknown output format (use .jsonl, .jsonl.gz, .jsonl.zst, .csv or .parquet)")
    return fmt, compression


def write_table(table: pa.Table, out: str | Path) -> Path:
    """Write `table` to `out`, the format chosen by its suffix (.jsonl[.gz|.zst], .csv, .parquet)."""
    out = Path(out)
    fmt, compression = output_format(out)
    if fmt == ".parquet":
        with atomic_path(out) as tmp:
            pq.write_table(table, tmp)
        return out
    with atomic_path(out) as tmp:
        if compression == ".gz":
            fh = gzip.open(tmp, "wt", encoding="utf-8", newline="")
        elif compression == ".zst":
            import io

            import zstandard

            raw = open(tmp, "wb")  # noqa: SIM115 - closed through the text wrapper
            fh = io.TextIOWrapper(zstandard.ZstdCompressor().stream_writer(raw), encoding="utf-8", newline="")
        else:
            fh = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        with fh:
            if fmt == ".jsonl":
                for batch in table.to_batches(max_chunksize=4096):
                    for row in batch.to_pylist():
                        fh.write(_json_line(row))
            else:
                writer = csv.writer(fh)
                writer.writerow(table.column_names)
                for batch in table.to_batches(max_chunksize=4096):
                    for row in batch.to_pylist():
                        writer.writerow([row[c] for c in table.column_names])
    return out


# Characters that str.splitlines() and some JSONL readers treat as line breaks, but json.dumps
# leaves raw with ensure_ascii=False.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json_line(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"
