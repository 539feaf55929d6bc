"""Error hints a newcomer meets in the first hour (issue 28, item 9): each names what to do."""

from __future__ import annotations

import json

from saescope.cli.main import run


def _tweets(path, n=200):
    path.write_text("".join(json.dumps({"id": i, "text": f"post {i}", "label": "a" if i % 2 else "b"}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


def test_embed_wrong_text_field_lists_the_fields_and_does_not_suggest_skipping(tmp_path, capsys):
    corpus = _tweets(tmp_path / "tweets.jsonl")
    assert run(["embed", corpus, "--text-field", "content", "--out", tmp_path / "e.parquet"]) == 2
    err = capsys.readouterr().err
    assert "no field 'content'" in err and "fields: id, text, label" in err and "--text-field" in err
    assert "--on-error" not in err  # skipping would skip every row
    assert not (tmp_path / "e.parquet").exists()


def test_on_error_skip_stops_at_the_limit_and_says_every_row_was_skipped(tmp_path, capsys):
    corpus = _tweets(tmp_path / "tweets.jsonl")
    code = run(["embed", corpus, "--text-field", "content", "--on-error", "skip", "--limit", "50",
                "--out", tmp_path / "e.parquet"])
    err = capsys.readouterr().err
    assert code == 2 and "all 50 rows read were malformed and skipped" in err, err
    assert "fields of the row: id, text, label" in err


def test_train_on_a_corpus_says_to_embed_it_first(tmp_path, capsys):
    corpus = _tweets(tmp_path / "tweets.jsonl")
    assert run(["train", corpus, "--out", tmp_path / "sae"]) == 2
    err = capsys.readouterr().err
    assert "this is a text corpus" in err and "saescope embed" in err and "magic bytes" not in err
    assert not (tmp_path / "sae").exists()


def test_curate_help_keeps_the_ray_extra(capsys):
    assert run(["curate", "--help"]) == 0
    assert "saescope[ray]" in capsys.readouterr().out
