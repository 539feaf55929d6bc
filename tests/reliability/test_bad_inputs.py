"""Every bad input through every command that takes it: exit 2, a message naming the file,
row or field, and no output that looks complete.

One parametrised table, run in-process (`saescope.cli.main.run`) so it stays fast.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from saescope.cli.main import run

D = 8
MARKS = ("cfg.json", "manifest.json", "summary.json", "selected.parquet", "latents.parquet",
         "examples.parquet", "codes.parquet", "e.parquet", "trials.parquet", "sae.safetensors")
"""Completion marks and final outputs: none may exist after a refused run (work files such as
curate's per-shard score sidecars may, as units of resumable work)."""


def _vec_table(X: np.ndarray, text: bool = True) -> pa.Table:
    cols = {"id": [f"r{i}" for i in range(len(X))],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1])}
    if text:
        cols["text"] = [f"text number {i} about lava" for i in range(len(X))]
    return pa.table(cols)


@pytest.fixture(scope="module")
def f(tmp_path_factory) -> dict[str, Path]:
    """The inputs, good and bad, written once."""
    root = tmp_path_factory.mktemp("bad_inputs")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, D)).astype(np.float32)
    files: dict[str, Path] = {"root": root}

    def vec(name: str, M: np.ndarray, text: bool = True) -> None:
        files[name] = root / f"{name}.parquet"
        pq.write_table(_vec_table(M, text), files[name], row_group_size=40)

    vec("good", X)
    vec("seeds", X[:10] + 0.1)
    Xn = X.copy()
    Xn[77, 3] = np.nan
    vec("nan", Xn)
    Xi = X.copy()
    Xi[5, 0] = np.inf
    vec("inf", Xi)
    vec("empty", X[:0])
    vec("wide", rng.standard_normal((40, D + 2)).astype(np.float32))
    np.save(root / "nan.npy", Xn)
    files["nan_npy"] = root / "nan.npy"
    files["zero"] = root / "zero.parquet"
    files["zero"].write_bytes(b"")
    raw = files["good"].read_bytes()
    files["truncated"] = root / "truncated.parquet"
    files["truncated"].write_bytes(raw[: len(raw) // 2])
    files["garbage"] = root / "garbage.parquet"
    files["garbage"].write_bytes(b"this is not parquet at all\n" * 20)
    files["bad_npy"] = root / "bad.npy"
    files["bad_npy"].write_bytes(b"\x93NUMPY garbage")
    # text corpora: invalid UTF-8 on line 3
    files["utf8_jsonl"] = root / "utf8.jsonl"
    files["utf8_jsonl"].write_bytes(b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "ok"}\n'
                                    b'{"id": "c", "text": "caf\xe9"}\n{"id": "d", "text": "last"}\n')
    files["utf8_csv"] = root / "utf8.csv"
    files["utf8_csv"].write_bytes(b"id,text\na,fine\nb,caf\xe9\nc,last\n")
    files["bad_json"] = root / "bad.jsonl"
    files["bad_json"].write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n')
    # already handled before issue 13, kept in the table so they stay handled
    rows = [list(map(float, r)) for r in X[:30]]
    rows[12] = rows[12][:-1]
    files["ragged"] = root / "ragged.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(30)], "embedding": rows}), files["ragged"])
    nulls = [list(map(float, r)) for r in X[:30]]
    nulls[9] = None
    files["nullvec"] = root / "nullvec.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(30)], "embedding": nulls}), files["nullvec"])
    files["novec"] = root / "novec.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["x", "y"], "vec": [[1.0], [2.0]]}), files["novec"])
    dup = _vec_table(X[:20])
    files["dupids"] = root / "dupids.parquet"
    pq.write_table(dup.set_column(0, "id", pa.array(["same"] * 2 + [f"r{i}" for i in range(18)])),
                   files["dupids"])
    files["mixed"] = root / "mixed"
    files["mixed"].mkdir()
    pq.write_table(_vec_table(X[:20]), files["mixed"] / "a.parquet")
    pq.write_table(_vec_table(X[20:40], text=False), files["mixed"] / "b.parquet")
    files["notext"] = root / "notext.jsonl"
    files["notext"].write_text('{"id": "a", "body": "no text field"}\n')
    # an SAE on D dims
    from saescope.sae import SAEConfig, SparseAutoencoder

    sae = SparseAutoencoder(SAEConfig(arch="topk", k=2, num_latents=16), d_in=D,
                            generator=torch.Generator().manual_seed(0))
    sae.save(root / "sae")
    files["sae"] = root / "sae"
    files["bad_sae"] = root / "bad_sae"
    files["bad_sae"].mkdir()
    (files["bad_sae"] / "cfg.json").write_text((root / "sae" / "cfg.json").read_text())
    (files["bad_sae"] / "sae.safetensors").write_bytes(b"\x00" * 10)
    # issue 27: cfg.json field by field, non-finite weights
    good_cfg = json.loads((root / "sae" / "cfg.json").read_text())
    for name, cfg in (("cfg_list", [1, 2]), ("cfg_str", "topk"), ("cfg_d_in", {**good_cfg, "d_in": "abc"}),
                      ("cfg_k_float", {**good_cfg, "k": 2.5}), ("cfg_k_null", {**good_cfg, "k": None}),
                      ("cfg_k_str", {**good_cfg, "k": "4"})):
        files[name] = root / name
        files[name].mkdir()
        (files[name] / "cfg.json").write_text(json.dumps(cfg))
        (files[name] / "sae.safetensors").write_bytes((root / "sae" / "sae.safetensors").read_bytes())
    from safetensors.torch import load_file, save_file

    weights = load_file(str(root / "sae" / "sae.safetensors"))
    weights["encoder.weight"][3, 1] = float("nan")
    files["nan_sae"] = root / "nan_sae"
    files["nan_sae"].mkdir()
    (files["nan_sae"] / "cfg.json").write_text(json.dumps(good_cfg))
    save_file(weights, str(files["nan_sae"] / "sae.safetensors"))
    return files


@dataclass
class Case:
    argv: list[str]
    """Command line; {name} is replaced by the path of fixture file `name`, {out} by the output."""
    expect: tuple[str, ...]
    """Substrings the error message must hold (file, row, field)."""


CURATE = ["curate", "--budget", "5", "--space", "embedding", "--no-progress", "--out", "{out}"]
INTERP = ["interpret", "{sae}", "--out", "{out}", "--no-progress", "--scorer", "none"]
TRAIN = ["train", "--out", "{out}", "--k", "2", "--latents", "16", "--steps", "2", "--quiet"]
TUNE = ["tune", "--trials", "1", "--out", "{out}", "--steps", "2", "--no-progress"]

CASES = {
    # NaN / Inf rows
    "train-nan": Case([*TRAIN, "{nan}"], ("nan.parquet", "row 77", "--drop-nonfinite")),
    "encode-nan": Case(["encode", "{sae}", "{nan_npy}", "--out", "{out}/codes.parquet"],
                       ("nan.npy", "row 77")),
    "interpret-nan": Case([*INTERP, "--data", "{nan}"], ("nan.parquet", "row 77")),
    "tune-nan": Case([*TUNE, "{nan}"], ("nan.parquet", "row 77")),
    "curate-pool-nan": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{nan}"],
                            ("nan.parquet", "row 77", "--drop-nonfinite")),
    "curate-pool-inf": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{inf}"],
                            ("inf.parquet", "row 5")),
    "curate-seeds-nan": Case([*CURATE, "--seeds", "{nan}", "--pool", "{good}"],
                             ("nan.parquet", "seeds", "row 77")),
    "curate-pool-nan-ray": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{nan}",
                                 "--executor", "ray"], ("nan.parquet", "row 77")),
    "curate-pool-nan-workers": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{nan}",
                                     "--workers", "2"], ("nan.parquet", "row 77")),
    # unreadable vector files
    **{f"{cmd}-{kind}": Case(argv, (f"{kind}.parquet", "cannot read Parquet"))
       for kind in ("zero", "truncated", "garbage")
       for cmd, argv in (
           ("train", [*TRAIN, f"{{{kind}}}"]),
           ("encode", ["encode", "{sae}", f"{{{kind}}}", "--out", "{out}/codes.parquet"]),
           ("interpret", [*INTERP, "--data", f"{{{kind}}}"]),
           ("tune", [*TUNE, f"{{{kind}}}"]),
           ("curate-pool", [*CURATE, "--seeds", "{seeds}", "--pool", f"{{{kind}}}"]),
           ("curate-seeds", [*CURATE, "--seeds", f"{{{kind}}}", "--pool", "{good}"]),
       )},
    "train-bad-npy": Case([*TRAIN, "{bad_npy}"], ("bad.npy", "cannot read")),
    "interpret-bad-sae": Case(["interpret", "{bad_sae}", "--data", "{good}", "--out", "{out}"],
                              ("bad_sae",)),
    "curate-bad-sae": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{good}", "--space", "sae",
                            "--sae", "{bad_sae}"], ("bad_sae",)),
    # empty and mismatched inputs
    "interpret-0-rows": Case([*INTERP, "--data", "{empty}"], ("empty.parquet", "no rows")),
    "curate-pool-0-rows": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{empty}"],
                               ("empty.parquet", "empty")),
    "interpret-dim": Case([*INTERP, "--data", "{wide}"], ("wide.parquet", "dimension 10", "8")),
    "encode-dim": Case(["encode", "{sae}", "{wide}", "--out", "{out}/codes.parquet"], ("10", "8")),
    "curate-dim": Case([*CURATE, "--seeds", "{wide}", "--pool", "{good}"],
                       ("dimension mismatch", "wide.parquet")),
    "missing-file-train": Case([*TRAIN, "{root}/nope.parquet"], ("nope.parquet", "not found")),
    "missing-pool": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{root}/nope"], ("nope", "not found")),
    # text corpora: invalid UTF-8 and JSON name file:line; no --on-error hint where absent
    "embed-utf8-jsonl": Case(["embed", "{utf8_jsonl}", "--out", "{out}/e.parquet", "--no-progress"],
                             ("utf8.jsonl:3", "invalid UTF-8", "--on-error skip")),
    "embed-utf8-csv": Case(["embed", "{utf8_csv}", "--out", "{out}/e.parquet", "--no-progress"],
                           ("utf8.csv:3", "invalid UTF-8")),
    "embed-bad-json": Case(["embed", "{bad_json}", "--out", "{out}/e.parquet", "--no-progress"],
                           ("bad.jsonl:2", "invalid JSON")),
    "interpret-texts-utf8": Case([*INTERP, "--data", "{good}", "--texts", "{utf8_jsonl}"],
                                 ("utf8.jsonl:3", "invalid UTF-8")),
    "curate-seeds-utf8": Case([*CURATE, "--seeds", "{utf8_jsonl}", "--pool", "{good}"],
                              ("utf8.jsonl:3", "invalid UTF-8")),
    # already handled: ragged, null and missing vectors, duplicate ids, shards that disagree...
    **{f"{cmd}-{kind}": Case(argv, (f"{kind}.parquet", want))
       for kind, want in (("ragged", "row 12"), ("nullvec", "row 9"), ("novec", "no vector column"))
       for cmd, argv in (
           ("train", [*TRAIN, f"{{{kind}}}"]),
           ("encode", ["encode", "{sae}", f"{{{kind}}}", "--out", "{out}/codes.parquet"]),
           ("interpret", [*INTERP, "--data", f"{{{kind}}}"]),
       )},
    "curate-pool-ragged": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{ragged}"],
                               ("ragged.parquet", "row 12")),
    "curate-pool-dup-ids": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{dupids}"],
                                ("dupids.parquet", "'same'", "more than once")),
    "curate-pool-mixed-shards": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{mixed}"],
                                     ("b.parquet", "differ")),
    "curate-budget-too-large": Case([*CURATE[:2], "500", *CURATE[3:], "--seeds", "{seeds}",
                                     "--pool", "{good}"], ("budget 500", "120 rows")),
    "interpret-latent-out-of-range": Case([*INTERP, "--data", "{good}", "--latents", "3,99"],
                                          ("--latents", "99", "16 latents")),
    "embed-no-text-field": Case(["embed", "{notext}", "--out", "{out}/e.parquet", "--no-progress"],
                                ("notext.jsonl:1", "'text'")),
    # usage errors (typer's own click) are exit 2 as well, not a traceback
    "train-unknown-option": Case([*TRAIN, "{good}", "--checkpoint-every", "3"],
                                 ("No such option", "--checkpoint-every")),
    # dashboard: fails before printing a URL
    "dashboard-missing": Case(["dashboard", "{root}/no-run"], ("no-run", "not a folder")),
    # issue 27: cfg.json validated field by field (9), non-finite weights (10), --threshold nan
    # (11), report --out (12), delphi --hook (13), duplicate ids and --latents 0 (14)
    "encode-cfg-list": Case(["encode", "{cfg_list}", "{good}", "--out", "{out}/codes.parquet"],
                            ("cfg_list/cfg.json", "JSON object", "list")),
    "interpret-cfg-str": Case(["interpret", "{cfg_str}", "--data", "{good}", "--out", "{out}"],
                              ("cfg_str/cfg.json", "JSON object", "str")),
    **{f"{cmd}-{kind}": Case(argv, (f"{kind}/cfg.json", want))
       for kind, want in (("cfg_d_in", "'d_in'"), ("cfg_k_float", "'k'"), ("cfg_k_null", "'k'"),
                          ("cfg_k_str", "'k'"))
       for cmd, argv in (
           ("encode", ["encode", f"{{{kind}}}", "{good}", "--out", "{out}/codes.parquet"]),
           ("interpret", ["interpret", f"{{{kind}}}", "--data", "{good}", "--out", "{out}"]),
           ("curate", [*CURATE, "--seeds", "{seeds}", "--pool", "{good}", "--space", "sae",
                       "--sae", f"{{{kind}}}"]),
       )},
    **{f"{cmd}-nan-weights": Case(argv, ("nan_sae/sae.safetensors", "encoder.weight", "NaN"))
       for cmd, argv in (
           ("encode", ["encode", "{nan_sae}", "{good}", "--out", "{out}/codes.parquet"]),
           ("interpret", ["interpret", "{nan_sae}", "--data", "{good}", "--out", "{out}"]),
           ("curate-sae-pu", [*CURATE, "--seeds", "{seeds}", "--pool", "{good}", "--space",
                              "sae-pu", "--sae", "{nan_sae}"]),
       )},
    "curate-threshold-nan": Case([*CURATE, "--seeds", "{seeds}", "--pool", "{good}",
                                  "--threshold", "nan"], ("--threshold", "nan")),
    "report-out-folder": Case(["report", "{sae}", "--out", "{root}"], ("--out", "is a folder")),
    "report-out-foreign-file": Case(["report", "{sae}", "--out", "{good}"],
                                    ("good.parquet", "not a saescope report", "--overwrite")),
    "export-delphi-hook-outside": Case(["export", "{sae}", "--format", "delphi", "--hook",
                                        "../../../x", "--out", "{out}"], ("--hook", "../../../x")),
    **{f"{cmd}-dup-ids": Case(argv, ("dupids.parquet", "'same'", "more than once"))
       for cmd, argv in (
           ("train", [*TRAIN, "{dupids}"]),
           ("encode", ["encode", "{sae}", "{dupids}", "--out", "{out}/codes.parquet"]),
           ("interpret", [*INTERP, "--data", "{dupids}"]),
       )},
    "train-latents-0": Case(["train", "{good}", "--out", "{out}", "--k", "2", "--latents", "0",
                             "--steps", "2", "--quiet"], ("--latents", ">= 1")),
}
NO_SKIP_HINT = {"interpret-texts-utf8", "curate-seeds-utf8"}


def _fill(argv: list[str], f: dict[str, Path], out: Path) -> list[str]:
    names = {k: str(v) for k, v in f.items()} | {"out": str(out)}
    return [a.format(**names) for a in argv]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, f, tmp_path, capsys):
    case = CASES[name]
    out = tmp_path / "out"
    code = run(_fill(case.argv, f, out))
    cap = capsys.readouterr()
    assert code == 2, cap.err[-2000:]
    err = cap.err.strip().splitlines()
    assert err and err[-1].lower().startswith("error: "), cap.err[-2000:]
    for want in case.expect:
        assert want in err[-1], (want, err[-1])
    if name in NO_SKIP_HINT:
        assert "--on-error" not in err[-1]
    assert "http://" not in cap.out  # no URL printed for a dashboard that will not start
    if out.exists():
        for mark in MARKS:
            assert not list(out.rglob(mark)), (mark, sorted(out.rglob("*")))


def test_dashboard_busy_port(f, tmp_path, capsys):
    from saescope.io import write_json

    run_dir = tmp_path / "run"
    (run_dir / "sae").mkdir(parents=True)
    for name in ("cfg.json", "sae.safetensors"):
        (run_dir / "sae" / name).write_bytes((f["sae"] / name).read_bytes())
    write_json(run_dir / "x.json", {})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = run(["dashboard", run_dir, "--port", port])
    cap = capsys.readouterr()
    assert code == 2 and f"127.0.0.1:{port}" in cap.err and "--port" in cap.err
    assert "http://" not in cap.out


def test_torn_train_log_and_resume(f, tmp_path, monkeypatch):
    """A torn last line in train_log.jsonl (full disk, power loss) is dropped on --resume."""
    import saescope.sae.train as train_mod

    (tmp_path / "cfg.json").write_text(json.dumps({"checkpoint_every": 2, "log_every": 1}))

    def argv(out):
        return ["train", f["good"], "--out", out, "--k", "2", "--latents", "16", "--steps", "4",
                "--batch-size", "20", "--config", tmp_path / "cfg.json", "--quiet"]

    assert run(argv(tmp_path / "ref")) == 0
    ref = (tmp_path / "ref" / "train_log.jsonl").read_text()
    real_log = train_mod.Tracker.log

    def crash_at_3(self, step, line):
        if step == 3:
            raise RuntimeError("power loss")
        real_log(self, step, line)

    monkeypatch.setattr(train_mod.Tracker, "log", crash_at_3)
    out = tmp_path / "o"
    with pytest.raises(RuntimeError, match="power loss"):
        run(argv(out))
    monkeypatch.setattr(train_mod.Tracker, "log", real_log)
    log = out / "train_log.jsonl"
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and (out / "checkpoint" / "state.json").is_file()
    log.write_text("\n".join(lines[:2]) + "\n" + lines[2][:17])  # the third line torn
    assert run([*argv(out), "--resume"]) == 0
    assert log.read_text() == ref


@pytest.mark.parametrize("where", ["pool", "seeds"])
def test_curate_drop_nonfinite_equals_the_clean_input(f, tmp_path, capsys, where):
    """--drop-nonfinite leaves the NaN row out and selects as if it had never been there."""
    clean = tmp_path / "clean.parquet"
    t = pq.read_table(f["nan"])
    pq.write_table(t.filter(pa.array([i != 77 for i in range(t.num_rows)])), clean, row_group_size=40)
    if where == "pool":
        args = {"--seeds": f["seeds"], "--pool": f["nan"]}, {"--seeds": f["seeds"], "--pool": clean}
    else:
        args = {"--seeds": f["nan"], "--pool": f["good"]}, {"--seeds": clean, "--pool": f["good"]}
    outs = []
    for i, a in enumerate(args):
        out = tmp_path / f"o{i}"
        argv = ["curate", *[x for kv in a.items() for x in kv], "--budget", "7", "--space",
                "embedding", "--out", out, "--no-progress", "--projection-sample", "20"]
        assert run([*argv, "--drop-nonfinite"] if i == 0 else argv) == 0
        outs.append(out)
    assert "dropped 1" in capsys.readouterr().err
    sel = [pq.read_table(o / "selected.parquet").select(["id", "score", "rank"]) for o in outs]
    assert sel[0].equals(sel[1])
    man = [json.loads((o / "manifest.json").read_text()) for o in outs]
    assert man[0]["pool"]["rows"] == man[1]["pool"]["rows"]
    assert man[0]["n_seeds"] == man[1]["n_seeds"]


def test_interpret_says_when_latents_n_is_clamped(f, tmp_path, capsys):
    """`--latents 99999` on a 16-latent SAE interprets the live ones and says so."""
    out = tmp_path / "i"
    assert run(["interpret", f["sae"], "--data", f["good"], "--out", out, "--latents", "99999",
                "--scorer", "none", "--no-progress"]) == 0
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    n = summary["counts"]["latents_selected"]
    assert 0 < n <= 16
    assert f"--latents 99999: only {n} latents fire" in err


def test_finite_parquet_keeps_ids_of_a_pool_without_id_column(tmp_path):
    """Dropping rows must not shift the `row-<global row>` ids of a pool that has no id column."""
    from saescope.curate.shards import pool_layout, read_rows
    from saescope.data.vectors import finite_parquet
    from saescope.errors import InputError

    X = np.arange(60, dtype=np.float32).reshape(30, 2)
    X[[4, 21], 1] = [np.nan, -np.inf]
    pool = tmp_path / "pool"
    pool.mkdir()
    for name, part in (("a", X[:10]), ("b", X[10:])):
        emb = pa.FixedSizeListArray.from_arrays(pa.array(part.ravel()), 2)
        pq.write_table(pa.table({"embedding": emb}), pool / f"{name}.parquet", row_group_size=5)
    with pytest.raises(InputError, match=r"a\.parquet: 2 rows contain NaN or Inf \(first at row 4\)"):
        finite_parquet(pool, tmp_path / "clean", drop=False)
    path, dropped = finite_parquet(pool, tmp_path / "clean", drop=True)
    assert dropped == 2 and path == tmp_path / "clean"
    assert sorted(p.name for p in path.iterdir()) == ["_source.json", "a.parquet", "b.parquet"]
    assert pq.ParquetFile(path / "b.parquet").metadata.num_row_groups == 4  # same row groups
    layout = pool_layout(path, shard_rows=5)
    ids = [i for s in layout.shards for i in read_rows(s, layout)["id"].to_pylist()]
    assert ids == [f"row-{i}" for i in range(30) if i not in (4, 21)]
    with pytest.raises(InputError) as exc:  # a command without --drop-nonfinite: no such hint
        finite_parquet(pool / "a.parquet", tmp_path / "x", drop=None)
    assert "row 4" in str(exc.value) and "--drop-nonfinite" not in str(exc.value)
    before = (path / "a.parquet").stat().st_mtime_ns
    assert finite_parquet(pool, tmp_path / "clean", drop=True)[0] == path  # reused as it is
    assert (path / "a.parquet").stat().st_mtime_ns == before
    X[0, 0] = 100.0  # the pool changes: the copy is made again
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X[:10].ravel()), 2)
    pq.write_table(pa.table({"embedding": emb}), pool / "a.parquet", row_group_size=5)
    finite_parquet(pool, tmp_path / "clean", drop=True)
    first = pq.read_table(path / "a.parquet")["embedding"][0].as_py()
    assert first == [100.0, 1.0]
    ok = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"embedding": pa.FixedSizeListArray.from_arrays(pa.array(X[:4].ravel()), 2)}), ok)
    assert finite_parquet(ok, tmp_path / "y") == (ok, 0)  # clean input: read in place, no copy
    assert not (tmp_path / "y").exists()
