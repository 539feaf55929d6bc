from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from saescope.data.corpus import read_corpus, read_corpus_with_report, text_hash_id
from saescope.data.vectors import read_vectors
from saescope.errors import ConfigError, InputError

ROWS = [
    {"id": "a", "text": "The mitochondria is the powerhouse of the cell.", "title": "Cell", "n": 1},
    {"id": "b", "text": "Paris is the capital of France.", "title": "France", "n": 2},
    {"id": "c", "text": "Integrals sum infinitely many small pieces.", "title": "Calculus", "n": 3},
]


def _jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _check_rows(table: pa.Table) -> None:
    assert table.column_names[:2] == ["id", "text"]
    assert table["id"].to_pylist() == ["a", "b", "c"]
    assert table["text"].to_pylist() == [r["text"] for r in ROWS]
    assert table["title"].to_pylist() == ["Cell", "France", "Calculus"]
    assert table["n"].to_pylist() == [1, 2, 3]


def test_jsonl_plain_gz_zst(tmp_path: Path) -> None:
    content = _jsonl(ROWS)
    plain = tmp_path / "c.jsonl"
    plain.write_text(content)
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(content.encode()))
    zst = tmp_path / "c.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(content.encode()))
    for path in (plain, gz, zst):
        _check_rows(read_corpus(path))


def test_csv_and_parquet(tmp_path: Path) -> None:
    csv_path = tmp_path / "c.csv"
    lines = ["id,text,title,n"] + [f'{r["id"]},"{r["text"]}",{r["title"]},{r["n"]}' for r in ROWS]
    csv_path.write_text("\n".join(lines) + "\n")
    t = read_corpus(csv_path)
    assert t["text"].to_pylist() == [r["text"] for r in ROWS]
    assert t["n"].to_pylist() == ["1", "2", "3"]  # CSV values stay text

    tsv = tmp_path / "c.tsv"
    tsv.write_text("id\ttext\nx\tcomma, inside\n")
    assert read_corpus(tsv)["text"].to_pylist() == ["comma, inside"]
    arr = tmp_path / "c.json"
    arr.write_text(json.dumps(ROWS, indent=2))
    _check_rows(read_corpus(arr))

    pq_path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), pq_path)
    _check_rows(read_corpus(pq_path))


def test_folder_of_mixed_shards(tmp_path: Path) -> None:
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "part-0.jsonl").write_text(_jsonl(ROWS[:2]))
    pq.write_table(pa.Table.from_pylist(ROWS[2:]), tmp_path / "shards" / "part-1.parquet")
    (tmp_path / "shards" / ".hidden.jsonl").write_text(_jsonl([{"id": "z", "text": "no"}]))
    _check_rows(read_corpus(tmp_path / "shards"))


def test_hf_save_to_disk_folder_and_dict(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ROWS)
    ds.save_to_disk(str(tmp_path / "ds"))
    _check_rows(read_corpus(tmp_path / "ds"))

    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS[:2]), "test": datasets.Dataset.from_list(ROWS[2:])}
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    t = read_corpus(tmp_path / "dd")
    assert sorted(t["id"].to_pylist()) == ["a", "b", "c"]
    assert dict(zip(t["id"].to_pylist(), t["hf_split"].to_pylist(), strict=True)) == {
        "a": "train", "b": "train", "c": "test"
    }


def test_text_and_id_fields_and_hash_ids(tmp_path: Path) -> None:
    rows = [{"body": "alpha", "text": "meta"}, {"body": "beta"}, {"body": "alpha"}]
    path = tmp_path / "c.jsonl"
    path.write_text(_jsonl(rows))
    t, report = read_corpus_with_report(path, text_field="body")
    h = text_hash_id("alpha")
    assert h == __import__("hashlib").sha1(b"alpha").hexdigest()[:16]
    # A repeated text gets a suffix so ids stay unique; a clashing `text` field is kept renamed.
    assert t["id"].to_pylist() == [h, text_hash_id("beta"), f"{h}~2"]
    assert t["text"].to_pylist() == ["alpha", "beta", "alpha"]
    assert t["orig_text"].to_pylist() == ["meta", None, None]
    assert report.hashed_ids == 3
    # Stable: the same file gives the same ids.
    assert read_corpus(path, text_field="body")["id"].equals(t["id"])
    # Integer ids become strings.
    path2 = tmp_path / "ints.jsonl"
    path2.write_text(_jsonl([{"doc": 7, "text": "x"}, {"doc": 8, "text": "y"}]))
    assert read_corpus(path2, id_field="doc")["id"].to_pylist() == ["7", "8"]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(_jsonl(ROWS[:1]) + "{not json\n" + _jsonl(ROWS[1:2]) + "[1, 2]\n" + '{"title": "x"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: invalid JSON"):
        read_corpus(path)
    t, report = read_corpus_with_report(path, on_error="skip")
    assert t["id"].to_pylist() == ["a", "b"]
    assert report.skipped == 3
    assert report.skipped_examples[0].startswith(f"{path}:2:")
    assert "no field 'text'" in report.skipped_examples[2]
    assert f"{path}:5" in report.skipped_examples[2]


def test_other_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "types.jsonl"
    path.write_text(_jsonl([{"id": "a", "text": 5}]))
    with pytest.raises(InputError, match=r"types\.jsonl:1: field 'text' is int"):
        read_corpus(path)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(_jsonl([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]))
    with pytest.raises(InputError, match=r"dup\.jsonl:2: id 'a' repeats \(first at .*dup\.jsonl:1\)"):
        read_corpus(dup)
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("id,text\n1,hello\n2,a,b\n3,world\n")
    with pytest.raises(InputError, match=r"c\.csv:3: 3 fields, the header has 2"):
        read_corpus(csv_path)
    assert read_corpus(csv_path, on_error="skip")["id"].to_pylist() == ["1", "3"]
    with pytest.raises(InputError, match=r"no column 'body' in the header"):
        read_corpus(csv_path, text_field="body")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(_jsonl([{"text": "x", "tag": 1}, {"text": "y", "tag": {"a": 1}}]))
    with pytest.raises(InputError, match=r"field 'tag' mixes incompatible types"):
        read_corpus(mixed)
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"p\.parquet: no column 'text'"):
        read_corpus(tmp_path / "p.parquet")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown corpus format"):
        read_corpus(tmp_path / "x.txt")
    with pytest.raises(InputError, match="file not found"):
        read_corpus(tmp_path / "missing.jsonl")
    trunc = tmp_path / "t.jsonl.gz"
    trunc.write_bytes(gzip.compress(_jsonl(ROWS).encode())[:-10])
    with pytest.raises(InputError, match=r"t\.jsonl\.gz: cannot read"):
        read_corpus(trunc)
    with pytest.raises(ConfigError):
        read_corpus(path, on_error="ignore")


def test_empty_texts_reported(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(_jsonl([{"text": "x"}, {"text": ""}, {"text": "   "}, {"text": None}, {"text": "y"}]))
    t, report = read_corpus_with_report(path)
    assert t["text"].to_pylist() == ["x", "y"]
    assert report.empty == 3 and report.empty_dropped
    assert report.empty_examples == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert any("3 empty texts dropped" in m for m in report.messages())
    kept = read_corpus(path, empty="keep")
    assert kept["text"].to_pylist() == ["x", "", "   ", "", "y"]
    with pytest.raises(InputError, match=r"e\.jsonl:2: empty text"):
        read_corpus(path, empty="error")
    # Parquet nulls/empties go through the same rule.
    pq.write_table(pa.table({"text": ["a", None, ""]}), tmp_path / "e.parquet")
    t2, rep2 = read_corpus_with_report(tmp_path / "e.parquet")
    assert t2.num_rows == 1 and rep2.empty == 2


def test_limit(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(_jsonl(ROWS))
    assert read_corpus(path, limit=2)["id"].to_pylist() == ["a", "b"]


def test_cohere_wikipedia_layout(tmp_path: Path) -> None:
    """Cohere wikipedia-22-12 Parquet (id, title, text, url, wiki_id, views, paragraph_id, langs, emb)."""
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((4, 768)).astype(np.float32)
    table = pa.table(
        {
            "id": pa.array([0, 1, 2, 3], pa.int32()),
            "title": ["Alan Turing", "Alan Turing", "Ada Lovelace", "Ada Lovelace"],
            "text": ["Turing was a mathematician.", "He worked at Bletchley.", "Ada wrote notes.", "She met Babbage."],
            "url": ["https://en.wikipedia.org/wiki?curid=1"] * 4,
            "wiki_id": pa.array([1, 1, 2, 2], pa.int32()),
            "views": pa.array([100.0, 100.0, 50.0, 50.0], pa.float32()),
            "paragraph_id": pa.array([0, 1, 0, 1], pa.int32()),
            "langs": pa.array([10, 10, 5, 5], pa.int32()),
            "emb": pa.array(emb.tolist(), pa.list_(pa.float32())),
        }
    )
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(table, path)
    vt = read_vectors(path)
    np.testing.assert_array_equal(vt.X, emb)
    assert vt.ids.tolist() == [0, 1, 2, 3]
    assert vt.meta["title"].to_pylist()[2] == "Ada Lovelace"
    corpus = read_corpus(path)
    assert corpus["id"].to_pylist() == ["0", "1", "2", "3"]
    assert corpus["title"].to_pylist() == table["title"].to_pylist()


def test_invalid_utf8_names_the_line_and_skip_skips_it(tmp_path: Path) -> None:
    """Issue 13: decode per line, name `file:line`, and let --on-error skip skip the row."""
    jl = tmp_path / "c.jsonl"
    jl.write_bytes(b'{"id": "a", "text": "one"}\n{"id": "b", "text": "caf\xe9"}\n{"id": "c", "text": "three"}\n')
    with pytest.raises(InputError, match=r"c\.jsonl:2: invalid UTF-8 .*--on-error skip"):
        read_corpus(jl)
    with pytest.raises(InputError) as exc:
        read_corpus(jl, on_error_flag=None)  # a command without --on-error suggests nothing
    assert "--on-error" not in str(exc.value)
    t, report = read_corpus_with_report(jl, on_error="skip")
    assert t["id"].to_pylist() == ["a", "c"] and report.skipped == 1
    assert report.skipped_examples[0].startswith(f"{jl}:2: invalid UTF-8")
    gz = tmp_path / "c.csv.gz"
    gz.write_bytes(gzip.compress(b'id,text\na,one\nb,"two\nlines \xff"\nc,three\n'))
    with pytest.raises(InputError, match=r"c\.csv\.gz:4: invalid UTF-8"):
        read_corpus(gz)
    assert read_corpus(gz, on_error="skip")["id"].to_pylist() == ["a", "c"]
