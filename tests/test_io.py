"""Atomic output helpers: nothing half-written is ever left looking complete."""

from __future__ import annotations

import os

import numpy as np
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
    assert _names(out) == ["a"]  # the old folder survives a failure
    with atomic_dir(out, overwrite=True) as d:
        (d / "b").write_text("2")
    assert _names(out) == ["b"]


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


# --- crash safety (issue 13) -------------------------------------------------------------------
from saescope.errors import ConfigError, InputError  # noqa: E402
from saescope.io import (  # noqa: E402
    LOCK_FILE,
    MARKER,
    STATE_FILE,
    append_jsonl,
    open_output,
    read_jsonl,
    recover_dir,
    remove_leftovers,
    replace_dir,
)


def _folder(path, name):
    path.mkdir()
    (path / name).write_text(name)
    return path


@pytest.mark.parametrize("exchange", [True, False])
def test_replace_dir_swaps_with_and_without_exchange(tmp_path, monkeypatch, exchange):
    import saescope.io as io_mod

    if not exchange:
        monkeypatch.setattr(io_mod, "_exchange", lambda a, b: False)
    dst = _folder(tmp_path / "ckpt", "old")
    src = _folder(tmp_path / ".ckpt.abcdefgh.tmp", "new")
    replace_dir(src, dst)
    assert [p.name for p in dst.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # old one removed


def test_kill_between_the_two_renames_is_recovered(tmp_path):
    """Without renameat2 the swap is two renames; a kill between them leaves only .NAME.old."""
    old = _folder(tmp_path / ".ckpt.old", "step-10")
    _folder(tmp_path / ".ckpt.zzzzzzzz.tmp", "step-20")  # the new one, never renamed
    assert recover_dir(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "step-10").is_file() and not old.exists()
    assert not recover_dir(tmp_path / "ckpt")  # nothing to do the second time
    with atomic_dir(tmp_path / "ckpt", overwrite=True, owned=True) as d:  # the next write cleans up
        (d / "step-30").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_remove_leftovers_only_touches_temporaries_of_that_target(tmp_path):
    keep = ["a.json", ".a.json.x.tmp", ".ab.json.abcdefgh.tmp", "a.jsonabcdefgh.tmp"]
    gone = [".a.json.abcdefgh.tmp", ".a.json.old"]
    for name in keep + gone:
        (tmp_path / name).write_text("x")
    removed = remove_leftovers(tmp_path / "a.json")
    assert sorted(p.name for p in removed) == sorted(gone)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_atomic_path_removes_leftovers_of_killed_writes(tmp_path):
    stale = tmp_path / ".out.txt.k1ll3d00.tmp"
    stale.write_text("half")
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_read_jsonl_drops_a_torn_last_line_only(tmp_path):
    log = tmp_path / "log.jsonl"
    assert read_jsonl(log) == []
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "fv')
    assert read_jsonl(log) == [{"step": 1}, {"step": 2}]
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}')  # whole, only the newline lost
    assert [r["step"] for r in read_jsonl(log)] == [1, 2, 3]
    log.write_text('{"step": 1}\n{"ste\n{"step": 3}\n')
    with pytest.raises(InputError, match=r"log\.jsonl:2: invalid JSON"):
        read_jsonl(log)


def test_append_jsonl_after_a_crash_never_leaves_a_torn_line_mid_file(tmp_path):
    log = tmp_path / "work.jsonl"
    append_jsonl(log, [{"latent": 0}, {"latent": 1, "x": np.float32(0.5)}])
    assert read_jsonl(log) == [{"latent": 0}, {"latent": 1, "x": 0.5}]
    with open(log, "a") as f:
        f.write('{"latent": 2, "expl')  # killed during an append
    append_jsonl(log, [{"latent": 2}])
    assert read_jsonl(log) == [{"latent": 0}, {"latent": 1, "x": 0.5}, {"latent": 2}]
    with open(log, "a") as f:
        f.write('{"latent": 3}')  # whole, only the newline lost: kept
    append_jsonl(log, [{"latent": 4}])
    assert [r["latent"] for r in read_jsonl(log)] == [0, 1, 2, 3, 4]
    assert log.read_text().endswith('{"latent": 3}\n{"latent": 4}\n')


def _names(folder):
    return sorted(p.name for p in folder.iterdir() if p.name not in (LOCK_FILE, MARKER))


def test_open_output_policy(tmp_path):
    out = tmp_path / "run"
    job = open_output(out, fingerprint={"lr": 1})
    assert job.resume is False and job.work == out and (out / STATE_FILE).is_file()
    (out / "part-0.parquet").write_text("x")
    job.release()
    with open_output(out, fingerprint={"lr": 1}) as job:  # same job: resume
        assert job.resume is True
        (out / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match="finished run"):
        open_output(out, fingerprint={"lr": 1})
    foreign = tmp_path / "foreign"
    _folder(foreign, "notes.txt")
    with pytest.raises(ConfigError, match=r"not a saescope output.*notes\.txt"):
        open_output(foreign)
    with pytest.raises(ConfigError, match=r"not a saescope output.*notes\.txt"):
        open_output(foreign, overwrite=True)
    assert _names(foreign) == ["notes.txt"] and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        open_output(tmp_path / "file")


def test_open_output_resume_rules(tmp_path):
    out = tmp_path / "run"
    open_output(out, fingerprint={"lr": 1}).release()
    (out / "part-0.parquet").write_text("x")
    with pytest.raises(ConfigError, match="--resume"):
        open_output(out, resume=False, fingerprint={"lr": 1})
    with pytest.raises(ConfigError, match="other settings"):
        open_output(out, fingerprint={"lr": 2})


def test_open_output_state_only_folder_is_fresh_and_finish_removes_the_state(tmp_path):
    out = tmp_path / "run"
    open_output(out, fingerprint={"lr": 1}).release()
    # Killed before writing anything: other settings and resume=False start afresh.
    open_output(out, resume=False, fingerprint={"lr": 2}).release()
    assert read_json(out / STATE_FILE) == {"fingerprint": {"lr": 2}}
    (out / STATE_FILE).write_text('{"finger')  # torn while written: still nothing written yet
    job = open_output(out, fingerprint={"lr": 3})
    (out / "cfg.json").write_text("{}")
    job.finish()
    assert _names(out) == ["cfg.json"]
    assert read_json(out / MARKER)["entries"] == ["cfg.json"]
    with pytest.raises(ConfigError, match=r"finished training run \(cfg\.json\); use --overwrite"):
        open_output(out, complete="cfg.json", what="training run")
