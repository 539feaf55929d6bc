"""Output folders never eat a user's files, keep the old output until the new one is complete,
and have one writer at a time (issue 27, cases 1-3).

Each test runs the real command line (in-process `run`, or `python -m saescope.cli.main` where
two processes are the point) on tiny inputs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.cli.main import run

D = 8


def _vectors(path: Path, X: np.ndarray, prefix: str = "r") -> Path:
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1])
    pq.write_table(pa.table({"id": [f"{prefix}{i}" for i in range(len(X))], "embedding": emb,
                             "text": [f"text {prefix}{i}" for i in range(len(X))]}), path)
    return path


@pytest.fixture
def data(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, D)).astype(np.float32)
    src = tmp_path / "src"
    src.mkdir()
    return {"pool": _vectors(src / "pool.parquet", X),
            "seeds": _vectors(src / "seeds.parquet", X[:6] + 0.05, "s"),
            "seeds_b": _vectors(src / "seeds_b.parquet", X[40:46] + 0.05, "t"),
            "wide": _vectors(src / "wide.parquet", rng.standard_normal((6, D + 2)).astype(np.float32))}


def _train(data_path: Path | str, out: Path | str, *extra: str) -> list[str]:
    return ["train", str(data_path), "--out", str(out), "--k", "2", "--latents", "16",
            "--steps", "3", "--batch-size", "16", "--quiet", *extra]


def _curate(seeds: Path, pool: Path, out: Path | str, *extra: str) -> list[str]:
    return ["curate", "--seeds", str(seeds), "--pool", str(pool), "--out", str(out),
            "--budget", "5", "--space", "embedding", "--no-progress", *extra]


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes (hidden bookkeeping included)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _visible(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in _tree(root).items() if not any(s.startswith(".") for s in Path(k).parts)}


def _user_folder(path: Path) -> dict[str, bytes]:
    (path / "logs").mkdir(parents=True, exist_ok=True)
    (path / "thesis.tex").write_text("\\documentclass{article} years of work")
    (path / "logs" / "run.log").write_text("log")
    return _tree(path)


def _error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# ----------------------------------------------------------------- case 1: never eat user files
def test_overwrite_never_replaces_the_current_folder(data, tmp_path, monkeypatch, capsys):
    work = tmp_path / "thesis"
    before = _user_folder(work)
    monkeypatch.chdir(work)
    assert run(_train(data["pool"], ".", "--overwrite")) == 2
    msg = _error(capsys)
    assert "current folder" in msg
    assert _tree(work) == before


def test_overwrite_never_replaces_a_folder_of_foreign_files(data, tmp_path, capsys):
    ud = tmp_path / "ud"
    before = _user_folder(ud)
    assert run(_train(data["pool"], ud, "--overwrite")) == 2
    msg = _error(capsys)
    assert str(ud) in msg and "not a saescope output" in msg and "thesis.tex" in msg
    assert _tree(ud) == before


@pytest.mark.parametrize("command", ["curate", "train", "interpret"])
def test_overwrite_never_replaces_the_folder_of_its_inputs(data, tmp_path, capsys, command):
    """`--out inp --overwrite` where inp holds the inputs (and an unrelated file)."""
    inp = tmp_path / "inp"
    inp.mkdir()
    for name in ("seeds", "pool"):
        (inp / f"{name}.parquet").write_bytes(data[name].read_bytes())
    (inp / "notes.txt").write_text("mine")
    if command == "interpret":
        assert run(_train(data["pool"], tmp_path / "sae")) == 0
        capsys.readouterr()
    before = _tree(inp)
    argv = {"curate": _curate(inp / "seeds.parquet", inp / "pool.parquet", inp, "--overwrite"),
            "train": _train(inp / "pool.parquet", inp, "--overwrite"),
            "interpret": ["interpret", str(tmp_path / "sae"), "--data", str(inp / "pool.parquet"),
                          "--out", str(inp), "--scorer", "none", "--no-progress", "--overwrite"]}
    assert run(argv[command]) == 2
    assert str(inp) in _error(capsys)
    assert _tree(inp) == before


def test_overwrite_never_replaces_a_saescope_output_holding_an_input(data, tmp_path, capsys):
    """The SAE folder is saescope's own output, but it is this run's input."""
    sae = tmp_path / "sae"
    assert run(_train(data["pool"], sae)) == 0
    before = _tree(sae)
    argv = ["interpret", str(sae), "--data", str(data["pool"]), "--out", str(sae),
            "--scorer", "none", "--no-progress", "--overwrite"]
    capsys.readouterr()
    assert run(argv) == 2
    msg = _error(capsys)
    assert "holds the input" in msg and str(sae) in msg
    assert _tree(sae) == before


def test_overwrite_refuses_an_output_a_user_added_files_to(data, tmp_path, capsys):
    out = tmp_path / "picked"
    assert run(_curate(data["seeds"], data["pool"], out)) == 0
    (out / "my-notes.md").write_text("keep me")
    before = _tree(out)
    capsys.readouterr()
    assert run(_curate(data["seeds_b"], data["pool"], out, "--overwrite")) == 2
    msg = _error(capsys)
    assert "did not write" in msg and "my-notes.md" in msg
    assert _tree(out) == before


# ------------------------------------------------- case 2: the old output stays until replaced
def test_failed_overwrite_keeps_the_old_output(data, tmp_path, capsys):
    out = tmp_path / "picked"
    assert run(_curate(data["seeds"], data["pool"], out)) == 0
    before = _visible(out)
    capsys.readouterr()
    assert run(_curate(data["wide"], data["pool"], out, "--overwrite")) == 2  # dimension mismatch
    assert "dimension" in _error(capsys)
    assert _visible(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".picked")) == []
    # a successful --overwrite replaces it whole
    assert run(_curate(data["seeds_b"], data["pool"], out, "--overwrite")) == 0
    after = _visible(out)
    assert after.keys() == before.keys() and after["selected.parquet"] != before["selected.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".picked")) == []


def test_crashed_overwrite_keeps_the_old_output(data, tmp_path, monkeypatch):
    """An interpret run that crashes (not a user error) half-way leaves the old output as it was."""
    import saescope.interpret.pipeline as pipeline

    assert run(_train(data["pool"], tmp_path / "sae")) == 0
    out = tmp_path / "interp"
    argv = ["interpret", str(tmp_path / "sae"), "--data", str(data["pool"]), "--out", str(out),
            "--scorer", "none", "--no-progress"]
    assert run(argv) == 0
    before = _visible(out)

    def crash(*args, **kwargs):
        raise RuntimeError("interpret crash")

    monkeypatch.setattr(pipeline, "write_examples", crash)
    with pytest.raises(RuntimeError, match="interpret crash"):
        run([*argv, "--overwrite"])
    assert _visible(out) == before
    monkeypatch.undo()
    assert run([*argv, "--overwrite"]) == 0  # the lock of the crashed run was released


def test_failed_train_overwrite_keeps_the_old_sae(data, tmp_path, monkeypatch):
    import saescope.sae.train as train

    out = tmp_path / "sae"
    assert run(_train(data["pool"], out)) == 0
    before = _visible(out)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(train, "_write_outputs", crash)
    with pytest.raises(OSError, match="disk full"):
        run(_train(data["seeds_b"], out, "--overwrite"))
    assert _visible(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".sae")) == []


# --------------------------------------------------------------- case 3: one writer per folder
def _cli(*argv: str | Path, cwd: Path) -> subprocess.Popen:
    import saescope

    env = dict(os.environ, PYTHONPATH=str(Path(saescope.__file__).parents[1]), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "saescope.cli.main", *map(str, argv)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_writer_is_refused_and_a_killed_writers_lock_is_released(data, tmp_path, capsys):
    """Process A trains into `out` (a long run); process B, another `train --overwrite` into the
    same folder, exits 2 naming A; once A is killed, the folder is free again."""
    out = tmp_path / "sae"
    a = _cli(*_train(data["pool"], out)[:-5], "--steps", "1000000", "--batch-size", "16", "--quiet",
             cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while not (out / ".saescope-state.json").is_file():  # A holds the folder and is training
            assert a.poll() is None and time.time() < deadline, a.communicate()
            time.sleep(0.2)
        b = _cli(*_train(data["seeds_b"], out, "--overwrite"), cwd=tmp_path)
        _, err = b.communicate(timeout=120)
        assert b.returncode == 2, err[-2000:]
        assert "another saescope process" in err and f"pid {a.pid}" in err and str(out) in err
        assert a.poll() is None  # A was not disturbed
    finally:
        a.send_signal(signal.SIGKILL)
        a.communicate()
    assert run(_train(data["seeds_b"], out, "--overwrite")) == 0  # the kernel released A's lock
    assert not (out / ".saescope-state.json").exists()
    assert (out / ".saescope-lock").read_bytes() == b""  # the holder's command line erased


def test_a_second_writer_of_an_output_file_is_refused(data, tmp_path):
    """embed, encode and activations write one Parquet file (and `<out>.manifest.json` beside it):
    process A embeds into `out.parquet` and is stopped (SIGSTOP) once it holds the output; an
    embed, an encode and an activations run into the same file each exit 2 naming A and write
    nothing; once A is killed, the file is free (the kernel released its lock)."""
    from saescope.io import file_lock_path, hold_output_files

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": f"text number {i}"}) + "\n"
                              for i in range(400)))
    assert run(_train(data["pool"], tmp_path / "sae")) == 0
    out = tmp_path / "out.parquet"
    lock = file_lock_path(out)
    a = _cli("embed", corpus, "--out", out, "--no-progress", cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while (a.poll() is None and time.time() < deadline
               and f'"pid": {a.pid}' not in (lock.read_text() if lock.exists() else "")):
            time.sleep(0.05)
        a.send_signal(signal.SIGSTOP)  # A frozen mid-run (its model still loading), holding the lock
        assert a.poll() is None and not out.exists(), a.communicate()  # (today's code: A ran to the end)
        for argv in (("embed", corpus, "--out", out, "--no-progress"),
                     ("encode", tmp_path / "sae", data["pool"], "--out", out, "--quiet"),
                     ("activations", corpus, "--layer", "1", "--layer", "2", "--out", out, "--no-progress")):
            b = _cli(*argv, cwd=tmp_path)
            _, err = b.communicate(timeout=300)
            assert b.returncode == 2, (argv[0], err[-2000:])
            assert "another saescope process" in err and f"pid {a.pid}" in err and str(out) in err, err
            assert not out.exists() and not out.with_name(out.name + ".manifest.json").exists()
    finally:
        a.send_signal(signal.SIGKILL)
        a.communicate()
    with hold_output_files(out):  # A's lock went with A
        pass
    assert not lock.exists()  # a released lock leaves no file beside the output


def test_two_curations_started_together_leave_one_consistent_output(data, tmp_path):
    """Two different curations into one --out: one wins, the other exits 2; the folder is the
    winner's whole (its manifest and its selection), never a mix."""
    out = tmp_path / "picked"
    runs = {name: _cli(*_curate(data[name], data["pool"], out), cwd=tmp_path)
            for name in ("seeds", "seeds_b")}
    codes = {name: (p.wait(timeout=300), p.communicate()[1]) for name, p in runs.items()}
    assert sorted(c for c, _ in codes.values()) == [0, 2], codes
    winner = next(name for name, (c, _) in codes.items() if c == 0)
    loser_err = next(err for c, err in codes.values() if c == 2)
    assert "another saescope process" in loser_err or "finished curation" in loser_err
    solo = tmp_path / "solo"
    assert run(_curate(data[winner], data["pool"], solo)) == 0
    manifest, want = (json.loads((d / "manifest.json").read_text()) for d in (out, solo))
    assert manifest["seed_set_hash"] == want["seed_set_hash"]
    assert pq.read_table(out / "selected.parquet")["id"].to_pylist() == \
        pq.read_table(solo / "selected.parquet")["id"].to_pylist()
