"""Model and user text is shown as text: in the terminal, the dashboard and CSV downloads
(issue 27, cases 7, 8 and 15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.cli.main import run

D = 8
ESCAPES = "\x1b]0;pwned\x07\x1b[31mred\x9b2J"
BEACON = "![b](http://127.0.0.1:9/beacon)"


def _vectors(path: Path, X: np.ndarray, prefix: str) -> Path:
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1])
    pq.write_table(pa.table({"id": [f"{prefix}{i}" for i in range(len(X))], "embedding": emb,
                             "text": [f"lava text {prefix}{i}" for i in range(len(X))]}), path)
    return path


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    """sae/ and interpret/ of a tiny run whose every explanation is hostile."""
    root = tmp_path_factory.mktemp("hostile")
    X = np.random.default_rng(0).standard_normal((120, D)).astype(np.float32)
    _vectors(root / "pool.parquet", X, "r")
    _vectors(root / "seeds.parquet", X[:8] + 0.05, "s")
    assert run(["train", root / "pool.parquet", "--out", root / "sae", "--k", "2", "--latents", "16",
                "--steps", "20", "--batch-size", "16", "--quiet"]) == 0
    assert run(["interpret", root / "sae", "--data", root / "pool.parquet", "--out",
                root / "interpret", "--scorer", "none", "--no-progress"]) == 0
    path = root / "interpret" / "latents.parquet"
    table = pq.read_table(path)
    hostile = [f"{ESCAPES} {BEACON} =1+1"] * table.num_rows
    table = table.set_column(table.schema.get_field_index("explanation"), "explanation",
                             pa.array(hostile))
    table = table.set_column(table.schema.get_field_index("status"), "status",
                             pa.array(["ok"] * table.num_rows))
    pq.write_table(table, path)
    return root


def test_curate_prints_explanations_with_control_characters_escaped(hostile_run, tmp_path, capsys):
    r = hostile_run
    capsys.readouterr()
    assert run(["curate", "--seeds", r / "seeds.parquet", "--pool", r / "pool.parquet", "--space",
                "sae", "--sae", r / "sae", "--interpretation", r / "interpret", "--budget", "5",
                "--out", tmp_path / "picked", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "latents that set the seeds apart" in out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "\\x1b]0;pwned\\x07" in out  # shown, escaped


def test_error_messages_escape_control_characters(tmp_path, capsys):
    bad = tmp_path / "nope\x1b]0;title\x07.parquet"
    assert run(["train", bad, "--out", tmp_path / "o"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]0;title\\x07" in err


def _app() -> str:
    import saescope

    return str(Path(saescope.__file__).parent / "dashboard" / "app.py")


def _page(run_dir: Path, monkeypatch, **query: str):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SAESCOPE_RUN_DIR", str(run_dir))
    at = AppTest.from_file(_app(), default_timeout=180)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _shown(at) -> list[str]:
    """The Markdown source of every text element Streamlit renders as Markdown."""
    return [e.value for kind in ("subheader", "warning", "markdown", "caption", "header")
            for e in at.get(kind)]


def test_dashboard_shows_explanations_as_text(hostile_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for stage in ("sae", "interpret"):
        (run_dir / stage).symlink_to(hostile_run / stage)
    lat = pq.read_table(hostile_run / "interpret" / "latents.parquet").to_pandas()
    at = _page(run_dir, monkeypatch, page="Features", latent=str(int(lat["latent"].iloc[0])))
    shown = _shown(at)
    heading = next(s for s in shown if s.startswith("Latent "))
    assert "pwned" in heading  # the explanation is there...
    assert not any("![b](" in s or "\x1b" in s for s in shown), shown  # ...as text


def test_dashboard_latent_query_is_shown_as_text(hostile_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for stage in ("sae", "interpret"):
        (run_dir / stage).symlink_to(hostile_run / stage)
    at = _page(run_dir, monkeypatch, page="Features", latent=BEACON)
    warning = " ".join(w.value for w in at.warning)
    assert "not a latent id" in warning and "beacon" in warning
    assert "![b](" not in warning


HOSTILE_PATH = ("![b](http:", "127.0.0.1:9", "x) **bold**")
"""A run folder whose path holds a Markdown image (a beacon once rendered) and bold text."""


def _every_markdown_value(at) -> list[str]:
    """The source of everything Streamlit renders as Markdown on the page: text elements, the
    sidebar, `st.table` cells and `st.metric` values."""
    shown = [e.value for kind in ("subheader", "warning", "info", "markdown", "caption", "header")
             for e in at.get(kind)]
    shown += [str(v) for t in at.table for v in t.value.to_numpy().ravel()]
    return shown + [str(m.value) for m in at.metric]


def _hostile_copy(hostile_run: Path, tmp_path: Path) -> Path:
    """sae/ and interpret/ of `hostile_run` in a folder with a hostile path, metrics.json's split
    and every latent's status hostile too."""
    import json
    import shutil

    run_dir = tmp_path.joinpath(*HOSTILE_PATH)
    run_dir.mkdir(parents=True)
    for stage in ("sae", "interpret"):
        shutil.copytree(hostile_run / stage, run_dir / stage)
    met = json.loads((run_dir / "sae" / "metrics.json").read_text())
    (run_dir / "sae" / "metrics.json").write_text(json.dumps({**met, "split": f"{BEACON} **bold**"}))
    path = run_dir / "interpret" / "latents.parquet"
    table = pq.read_table(path)
    table = table.set_column(table.schema.get_field_index("status"), "status",
                             pa.array([f"{BEACON} **bold**"] * table.num_rows))
    pq.write_table(table, path)
    return run_dir


def test_dashboard_overview_shows_the_run_path_as_text(hostile_run, tmp_path, monkeypatch):
    from saescope.safetext import markdown_text

    run_dir = _hostile_copy(hostile_run, tmp_path)
    at = _page(run_dir, monkeypatch, page="Overview")
    shown = _every_markdown_value(at)
    assert not any("![b](" in s or "**bold**" in s for s in shown), shown
    assert any(s == "Run folder: " + markdown_text(run_dir) for s in shown)  # shown, escaped
    assert any(markdown_text(run_dir / "sae") in s for s in shown)  # the stage table
    assert any(markdown_text(f"{BEACON} **bold**") in s for s in shown)  # metrics.json's split
    assert any(s == "run: " + markdown_text(run_dir.name) for s in shown)  # the sidebar


def test_dashboard_pages_show_stored_text_as_text(hostile_run, tmp_path, monkeypatch):
    """A latent's status (a metric value: Markdown), and the notes naming the run folder."""
    run_dir = _hostile_copy(hostile_run, tmp_path)
    lat = pq.read_table(run_dir / "interpret" / "latents.parquet").to_pandas()
    for query in ({"page": "Features", "latent": str(int(lat["latent"].iloc[0]))},
                  {"page": "Curation"}, {"page": "Embedding space"}, {"page": "Hypotheses"}):
        at = _page(run_dir, monkeypatch, **query)
        shown = _every_markdown_value(at)
        assert not any("![b](" in s or "**bold**" in s for s in shown), (query, shown)
        assert any("bold" in s for s in shown), query  # the hostile text is there, escaped


def test_csv_downloads_neutralise_formulas():
    from saescope.dashboard.widgets import to_csv

    df = pd.DataFrame({"id": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\ry", "ok"],
                       "score": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    import csv
    import io

    raw = to_csv(df).decode("utf-8")
    assert "'\ry" in raw  # (pandas leaves a CR unquoted: not read back below)
    rows = list(csv.reader(io.StringIO(raw.replace("\r", ""), newline="")))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)",
                                        "'\tx", "'y", "ok"]
    assert rows[2][1] == "-2.0"  # numbers stay numbers
