"""Read a text corpus into one Arrow table: `id`, `text`, then the other fields as metadata.

Formats: JSON Lines (`.jsonl`, `.ndjson`, `.json`; plain, `.gz`, `.zst`, `.bz2`, `.xz`), CSV/TSV
(same compressions), Parquet, Arrow, a folder of such shards (read in sorted path order), and a
Hugging Face `datasets` folder written by `save_to_disk` (its Arrow files are read with pyarrow;
a `DatasetDict` folder yields all splits, with their name in an `hf_split` column).

Rules:
- `text_field` names the text; `id_field` names the id (any scalar, kept as a string). Rows
  without an id get a stable one: the first 16 hex digits of the SHA-1 of the UTF-8 text, with
  `~2`, `~3`, ... appended to repeats of the same text (in reading order).
- A malformed row (bad JSON, not an object, no text field, a non-string text, a wrong number
  of CSV fields, a repeated explicit id) raises `InputError` naming the file and line, or with
  `on_error="skip"` is dropped and counted in the report.
- Empty texts (missing value, empty or whitespace only) are counted and, by default, dropped
  (`empty="keep"` keeps them, `empty="error"` raises).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import json
import logging
import lzma
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from saescope.errors import ConfigError, InputError

log = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
ARROW_SUFFIXES = (".arrow", ".feather")
COMPRESSIONS = (".gz", ".zst", ".zstd", ".bz2", ".xz")
_MAX_EXAMPLES = 5


@dataclass
class CorpusReport:
    """What reading a corpus found, beyond the rows it returned."""

    source: str
    """The path that was read."""
    files: int = 0
    """Number of files read."""
    rows: int = 0
    """Rows returned."""
    skipped: int = 0
    """Malformed rows skipped (`on_error="skip"`)."""
    skipped_examples: list[str] = field(default_factory=list)
    """`file:line: reason` for the first few skipped rows."""
    empty: int = 0
    """Rows whose text was missing, empty or whitespace only."""
    empty_examples: list[str] = field(default_factory=list)
    """`file:line` of the first few empty texts."""
    empty_dropped: bool = True
    """Whether the empty texts were dropped."""
    hashed_ids: int = 0
    """Rows whose id was made from the text hash (no id field in the row)."""

    def messages(self) -> list[str]:
        """Human-readable warnings (skipped rows, empty texts)."""
        out = []
        if self.skipped:
            out.append(
                f"{self.source}: skipped {self.skipped} malformed rows "
                f"(first: {'; '.join(self.skipped_examples[:3])})"
            )
        if self.empty:
            action = "dropped" if self.empty_dropped else "kept"
            out.append(
                f"{self.source}: {self.empty} empty texts {action} "
                f"(first at {', '.join(self.empty_examples[:3])})"
            )
        return out


def read_corpus(path: str | Path, *args: Any, **kwargs: Any) -> pa.Table:
    """The corpus as a table `id`, `text`, metadata...; warnings are logged (see module doc).

    The arguments are `read_corpus_with_report`'s; this drops the report.
    """
    return read_corpus_with_report(path, *args, **kwargs)[0]


def read_corpus_with_report(
    path: str | Path,
    text_field: str = "text",
    id_field: str | None = "id",
    on_error: str = "raise",
    empty: str = "drop",
    limit: int | None = None,
    on_error_flag: str | None = "--on-error skip",
) -> tuple[pa.Table, CorpusReport]:
    """The corpus table (see `read_corpus`) and its `CorpusReport` (skipped rows, empty texts).

    `on_error_flag`: the option a malformed-row message suggests (None for a command without).
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if empty not in ("drop", "keep", "error"):
        raise ConfigError(f"empty must be 'drop', 'keep' or 'error', got {empty!r}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    report = CorpusReport(source=str(path), empty_dropped=(empty == "drop"))
    sink = _RowSink(text_field, id_field or None, on_error, empty, limit, report, on_error_flag)
    for source, extra in _sources(path):
        report.files += 1
        sink.read(source, extra)
        if sink.full:
            break
    table = sink.table()
    report.rows = table.num_rows
    if table.num_rows == 0 and report.skipped:
        raise InputError(f"{path}: all {report.skipped} rows read were malformed and skipped "
                         f"(first: {'; '.join(report.skipped_examples[:2])})")
    for msg in report.messages():
        log.warning(msg)
    return table, report


# --- sources ---------------------------------------------------------------------------------


def _format(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in JSONL_SUFFIXES:
        return "jsonl"
    if last in CSV_SUFFIXES:
        return "csv"
    if last in PARQUET_SUFFIXES:
        return "parquet"
    if last in ARROW_SUFFIXES:
        return "arrow"
    return None


def _sources(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(file, constant extra columns) for every file of the corpus, in order."""
    if path.is_file():
        if _format(path) is None:
            raise InputError(
                f"{path}: unknown corpus format (expected .jsonl/.json/.csv/.tsv/.parquet/.arrow, "
                "optionally .gz/.zst/.bz2/.xz)"
            )
        yield path, {}
        return
    if (path / "dataset_dict.json").is_file():
        from saescope.io import read_json

        splits = read_json(path / "dataset_dict.json").get("splits", [])
        if not splits:
            raise InputError(f"{path / 'dataset_dict.json'}: no splits listed")
        for split in splits:
            for f in _hf_files(path / split):
                yield f, {"hf_split": split}
        return
    if (path / "state.json").is_file() and any(path.glob("*.arrow")):
        for f in _hf_files(path):
            yield f, {}
        return
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and _format(p) is not None
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise InputError(f"{path}: folder holds no corpus files (.jsonl, .csv, .parquet, ...)")
    for f in files:
        yield f, {}


def _hf_files(folder: Path) -> list[Path]:
    """The Arrow files of a `save_to_disk` folder, in the order its state.json lists them."""
    from saescope.io import read_json

    state_path = folder / "state.json"
    if not state_path.is_file():
        raise InputError(f"{folder}: not a Hugging Face dataset folder (no state.json)")
    state = read_json(state_path)
    names = [d.get("filename") for d in state.get("_data_files", [])]
    if not names or any(not n for n in names):
        raise InputError(f"{state_path}: no _data_files listed")
    files = [folder / n for n in names]
    for f in files:
        if not f.is_file():
            raise InputError(f"{f}: listed in {state_path} but missing")
    return files


def _open_binary(path: Path) -> BinaryIO:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".bz2":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".xz":
        return lzma.open(path, "rb")  # type: ignore[return-value]
    if suffix in (".zst", ".zstd"):
        import zstandard

        raw = path.open("rb")
        return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)  # type: ignore[return-value]
    return path.open("rb")


def _read_arrow(path: Path) -> pa.Table:
    try:
        with pa.memory_map(str(path)) as src:
            try:
                return pa.ipc.open_stream(src).read_all()
            except pa.ArrowInvalid:
                src.seek(0)
                return pa.ipc.open_file(src).read_all()
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: cannot read Arrow file ({exc})") from None


# --- rows ------------------------------------------------------------------------------------


def text_hash_id(text: str) -> str:
    """Stable id of a text: first 16 hex digits of SHA-1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class _Malformed(Exception):
    pass


class _RowSink:
    """Collects validated rows from all files; one Arrow piece per file."""

    def __init__(self, text_field, id_field, on_error, empty, limit, report: CorpusReport,
                 on_error_flag: str | None = "--on-error skip"):
        self.on_error_flag = on_error_flag
        self.text_field: str = text_field
        self.id_field: str | None = id_field
        self.on_error: str = on_error
        self.empty: str = empty
        self.limit: int | None = limit
        self.report = report
        self.pieces: list[pa.Table] = []
        self.count = 0
        self.seen_ids: dict[str, str] = {}
        self.text_counts: dict[str, int] = {}
        self.field_seen = False
        """Whether a row so far had the text field (else a missing one means a wrong --text-field)."""
        self._reset()

    def _reset(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.meta: dict[str, list[Any]] = {}
        self.meta_source: dict[str, str] = {}

    @property
    def full(self) -> bool:
        """`limit` rows read: kept and skipped ones both count (the first N rows of the input)."""
        return self.limit is not None and self.count + self.report.skipped >= self.limit

    def read(self, path: Path, extra: dict[str, Any]) -> None:
        fmt = _format(path)
        if fmt == "parquet":
            try:
                table = pq.read_table(path)
            except Exception as exc:
                raise InputError(f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
            self._add_table(path, table, extra)
            return
        if fmt == "arrow":
            self._add_table(path, _read_arrow(path), extra)
            return
        rows = self._jsonl_rows(path) if fmt == "jsonl" else self._csv_rows(path)
        for loc, row in rows:
            if self.full:
                break
            try:
                if isinstance(row, _Malformed):
                    raise row
                self._add(loc, row, extra)
            except _Malformed as exc:
                self._malformed(loc, str(exc))
        self._flush(path)

    def _malformed(self, loc: str, reason: str) -> None:
        if self.on_error == "raise":
            hint = f" (use {self.on_error_flag} to skip such rows)" if self.on_error_flag else ""
            raise InputError(f"{loc}: {reason}{hint}")
        self.report.skipped += 1
        if len(self.report.skipped_examples) < _MAX_EXAMPLES:
            self.report.skipped_examples.append(f"{loc}: {reason}")

    def _empty(self, loc: str) -> bool:
        """Record an empty text; True when the row is to be dropped."""
        self.report.empty += 1
        if len(self.report.empty_examples) < _MAX_EXAMPLES:
            self.report.empty_examples.append(loc)
        if self.empty == "error":
            raise InputError(f"{loc}: empty text in field {self.text_field!r}")
        return self.empty == "drop"

    def _make_id(self, rid: Any, text: str, loc: str) -> str | None:
        """The row's id (hash of the text when missing); None for a repeated explicit id."""
        if rid is None:
            base = text_hash_id(text)
            count = self.text_counts.get(base, 0) + 1
            self.text_counts[base] = count
            self.report.hashed_ids += 1
            rid = base if count == 1 else f"{base}~{count}"
        else:
            rid = str(rid)
            if rid in self.seen_ids:
                self._malformed(loc, f"id {rid!r} repeats (first at {self.seen_ids[rid]})")
                return None
        self.seen_ids[rid] = loc
        return rid

    def _jsonl_rows(self, path: Path) -> Iterator[tuple[str, Any]]:
        try:
            with _open_binary(path) as stream:
                raw = _ByteLines(stream)
                seen_content = False
                for lineno, bline in enumerate(raw, start=1):
                    loc = f"{path}:{lineno}"
                    try:
                        line = bline.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        yield loc, _Malformed(_utf8_reason(exc))
                        continue
                    stripped = line.strip()
                    if not stripped:
                        continue
                    if not seen_content:
                        seen_content = True
                        if stripped.startswith("[") and ".jsonl" not in path.suffixes:
                            yield from self._json_array_rows(path, line, raw)
                            return
                    try:
                        row = json.loads(stripped)
                    except json.JSONDecodeError as exc:
                        yield loc, _Malformed(f"invalid JSON ({exc.msg})")
                        continue
                    yield loc, row
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
        except Exception as exc:  # zstandard.ZstdError and other codec errors
            if type(exc).__module__.startswith("zstandard"):
                raise InputError(f"{path}: cannot decompress ({exc})") from None
            raise

    def _json_array_rows(self, path: Path, first: str, raw: _ByteLines) -> Iterator[tuple[str, Any]]:
        rest = raw.read_rest()
        try:
            content = first + rest.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = 2 + rest[: exc.start].count(b"\n")
            raise InputError(f"{path}:{line}: {_utf8_reason(exc)}") from None
        try:
            items = json.loads(content)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        for i, item in enumerate(items):
            yield f"{path} item {i}", item

    def _csv_rows(self, path: Path) -> Iterator[tuple[str, Any]]:
        delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
        csv.field_size_limit(2**31 - 1)
        try:
            with _open_binary(path) as stream:
                lines = _Utf8Lines(_ByteLines(stream))
                reader = csv.reader(lines, delimiter=delimiter)
                try:
                    header = next(reader)
                except StopIteration:
                    return
                if lines.bad:
                    raise InputError(f"{path}:{lines.bad[0][0]}: {lines.bad[0][1]} in the header")
                if self.text_field not in header:
                    raise InputError(
                        f"{path}:1: no column {self.text_field!r} in the header "
                        f"({', '.join(header)}); set --text-field"
                    )
                for values in reader:
                    loc = f"{path}:{reader.line_num}"
                    if lines.bad:  # a record holding a line that is not UTF-8
                        lineno, reason = lines.bad[0]
                        lines.bad.clear()
                        yield f"{path}:{lineno}", _Malformed(reason)
                        continue
                    if not values:
                        continue
                    if len(values) != len(header):
                        yield loc, _Malformed(f"{len(values)} fields, the header has {len(header)}")
                        continue
                    yield loc, dict(zip(header, values, strict=True))
        except csv.Error as exc:
            raise InputError(f"{path}: malformed CSV ({exc})") from None
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None

    def _add(self, loc: str, row: Any, extra: dict[str, Any]) -> None:
        if not isinstance(row, dict):
            raise _Malformed(f"expected a JSON object, got {type(row).__name__}")
        if self.text_field not in row:
            fields = ", ".join(map(str, row)) or "none"
            if not self.field_seen and self.on_error == "raise":  # a wrong --text-field, not one bad row
                raise InputError(f"{loc}: no field {self.text_field!r} (fields: {fields}); set --text-field")
            raise _Malformed(f"no field {self.text_field!r} (fields of the row: {fields})")
        self.field_seen = True
        text = row[self.text_field]
        if text is not None and not isinstance(text, str):
            raise _Malformed(f"field {self.text_field!r} is {type(text).__name__}, expected text")
        rid = row.get(self.id_field) if self.id_field else None
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (str, int))):
            raise _Malformed(f"field {self.id_field!r} is {type(rid).__name__}, expected text or int")
        if (text is None or not text.strip()) and self._empty(loc):
            return
        text = text or ""
        rid = self._make_id(rid, text, loc)
        if rid is None:
            return
        n = len(self.texts)
        self.ids.append(rid)
        self.texts.append(text)
        self.count += 1
        skip = {self.text_field, self.id_field}
        for key, value in list(row.items()) + list(extra.items()):
            if key in skip:
                continue
            name = _meta_name(key)
            col = self.meta.get(name)
            if col is None:
                col = self.meta[name] = [None] * n
                self.meta_source[name] = loc
            col.append(value)
        for col in self.meta.values():
            if len(col) < n + 1:
                col.append(None)

    def _flush(self, path: Path) -> None:
        columns: dict[str, pa.Array] = {
            "id": pa.array(self.ids, pa.string()),
            "text": pa.array(self.texts, pa.string()),
        }
        for name, values in self.meta.items():
            try:
                columns[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise InputError(
                    f"{path}: field {name!r} mixes incompatible types "
                    f"(first seen at {self.meta_source[name]}): {exc}"
                ) from None
        self.pieces.append(pa.table(columns))
        self._reset()

    def _add_table(self, path: Path, table: pa.Table, extra: dict[str, Any]) -> None:
        """Vectorised path for Parquet/Arrow: columns stay Arrow, only ids go through Python."""
        if self.text_field not in table.column_names:
            raise InputError(
                f"{path}: no column {self.text_field!r} (columns: {', '.join(table.column_names)}); "
                "set --text-field"
            )
        col_type = table.schema.field(self.text_field).type
        if not (pa.types.is_string(col_type) or pa.types.is_large_string(col_type)
                or pa.types.is_null(col_type)):
            raise InputError(f"{path}: column {self.text_field!r} has type {col_type}, expected text")
        texts = table[self.text_field].cast(pa.string()).to_pylist()
        raw_ids: list[Any] = [None] * table.num_rows
        if self.id_field and self.id_field in table.column_names:
            id_type = table.schema.field(self.id_field).type
            if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type)
                    or pa.types.is_integer(id_type)):
                raise InputError(
                    f"{path}: column {self.id_field!r} has type {id_type}, expected text or int"
                )
            raw_ids = table[self.id_field].cast(pa.string()).to_pylist()
        keep: list[int] = []
        ids: list[str] = []
        for i, (text, rid) in enumerate(zip(texts, raw_ids, strict=True)):
            if self.full:
                break
            loc = f"{path} row {i}"
            if (text is None or not text.strip()) and self._empty(loc):
                continue
            made = self._make_id(rid, text or "", loc)
            if made is None:
                continue
            keep.append(i)
            ids.append(made)
            self.count += 1
        kept = table.take(pa.array(keep, pa.int64()))
        out = pa.table({
            "id": pa.array(ids, pa.string()),
            "text": kept[self.text_field].cast(pa.string()).fill_null(""),
        })
        for name in kept.column_names:
            if name in (self.text_field, self.id_field):
                continue
            out = out.append_column(_meta_name(name), kept[name])
        for name, value in extra.items():
            out = out.append_column(name, pa.array([value] * out.num_rows))
        self.pieces.append(out)

    def table(self) -> pa.Table:
        pieces = [p for p in self.pieces if p.num_rows] or self.pieces[:1]
        if not pieces:
            return pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
        try:
            return pa.concat_tables(pieces, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InputError(f"{self.report.source}: files disagree on column types ({exc})") from None


class _ByteLines:
    """Lines (with their b"\\n") of a binary stream read in blocks (codec streams lack readline)."""

    def __init__(self, stream: BinaryIO, block: int = 1 << 16) -> None:
        from collections import deque

        self.stream, self.block, self.tail = stream, block, b""
        self.lines: deque[bytes] = deque()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def readline(self) -> bytes:
        while not self.lines:
            chunk = self.stream.read(self.block)
            if not chunk:
                line, self.tail = self.tail, b""
                return line
            parts = (self.tail + chunk).split(b"\n")
            self.tail = parts.pop()
            self.lines.extend(p + b"\n" for p in parts)
        return self.lines.popleft()

    def read_rest(self) -> bytes:
        rest = b"".join(self.lines) + self.tail + self.stream.read()
        self.lines.clear()
        self.tail = b""
        return rest


class _Utf8Lines:
    """Text lines of a binary stream, decoded one by one (for `csv.reader`).

    A line that is not valid UTF-8 is passed on decoded with replacement characters and
    recorded in `bad` as (line number, reason), so the reader can name and skip its record.
    """

    def __init__(self, raw: _ByteLines) -> None:
        self.raw = raw
        self.lineno = 0
        self.bad: list[tuple[int, str]] = []

    def __iter__(self) -> _Utf8Lines:
        return self

    def __next__(self) -> str:
        bline = self.raw.readline()
        if not bline:
            raise StopIteration
        self.lineno += 1
        try:
            return bline.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.bad.append((self.lineno, _utf8_reason(exc)))
            return bline.decode("utf-8", errors="replace")


def _utf8_reason(exc: UnicodeDecodeError) -> str:
    return f"invalid UTF-8 (byte 0x{exc.object[exc.start]:02x} at column {exc.start + 1})"


def _meta_name(key: str) -> str:
    """Metadata columns named like our own `id`/`text` are kept as `orig_id`/`orig_text`."""
    return f"orig_{key}" if key in ("id", "text") else key
