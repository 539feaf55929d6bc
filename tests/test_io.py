"""Atomic output helpers: nothing half-written is ever left looking complete."""

from __future__ import annotations

import os

import pytest

from saescope.errors import SaescopeError
from saescope.io import atomic_dir, atomic_path, check_output_dir, read_json, write_json


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash half-way")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_and_sets_umask_permissions(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    old = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            tmp.write_text("new")
    finally:
        os.umask(old)
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o644


def test_atomic_dir_refuses_existing_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    with atomic_dir(out) as d:
        (d / "a").write_text("1")
    with pytest.raises(SaescopeError, match="exists and is not empty"):
        with atomic_dir(out):
            pass
    with pytest.raises(ValueError):
        with atomic_dir(out, overwrite=True) as d:
            (d / "b").write_text("2")
            raise ValueError
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # the old folder survives a failure
    with atomic_dir(out, overwrite=True) as d:
        (d / "b").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b"]


def test_check_output_dir_and_json_errors_name_the_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SaescopeError, match="not a folder"):
        check_output_dir(f, overwrite=True)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SaescopeError, match="bad.json"):
        read_json(bad)
    with pytest.raises(SaescopeError, match="missing.json"):
        read_json(tmp_path / "missing.json")
    write_json(tmp_path / "ok.json", {"a": 1})
    assert read_json(tmp_path / "ok.json") == {"a": 1}
