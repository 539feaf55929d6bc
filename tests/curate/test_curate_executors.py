"""Executors agree: in-process, a pool of processes, and Ray Data on a local Ray instance."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from saescope.curate import CurateConfig, run_curate
from saescope.io import STATE_FILE


def _cfg(planted, out, **kw):
    base = dict(seeds=str(planted.seeds), pool=str(planted.pool), out=str(out), budget=150,
                space="sae-centered", sae=str(planted.sae), label_field="label",
                target=["domain_0"], shard_rows=200, clusters=3, projection_sample=0)
    base.update(kw)
    return CurateConfig(**base)


@pytest.fixture(scope="module")
def local_run(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "cur"
    man = run_curate(_cfg(planted, out), progress=False)
    return pq.read_table(out / "selected.parquet"), man


def _same(a, b):
    assert a["id"].to_pylist() == b["id"].to_pylist()
    assert a["rank"].to_pylist() == b["rank"].to_pylist()
    assert ("cluster" in a.column_names) == ("cluster" in b.column_names)
    if "cluster" in a.column_names:
        assert a["cluster"].to_pylist() == b["cluster"].to_pylist()
    np.testing.assert_allclose(np.array(a["score"].to_pylist()), np.array(b["score"].to_pylist()),
                               atol=1e-6)


def test_process_pool_matches_in_process(planted, tmp_path):
    # a dense space keeps the spawned workers light (no torch import)
    a, b = tmp_path / "one", tmp_path / "two"
    man_a = run_curate(_cfg(planted, a, space="embedding-centered"), progress=False)
    man_b = run_curate(_cfg(planted, b, space="embedding-centered", workers=2), progress=False)
    _same(pq.read_table(a / "selected.parquet"), pq.read_table(b / "selected.parquet"))
    assert man_a["metrics"] == man_b["metrics"]


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_matches_local(planted, tmp_path, local_run, ray_local):
    out = tmp_path / "ray"
    man = run_curate(_cfg(planted, out, executor="ray"), progress=False)
    _same(pq.read_table(out / "selected.parquet"), local_run[0])
    for key, value in local_run[1]["metrics"].items():
        assert man["metrics"][key] == (pytest.approx(value) if isinstance(value, float) else value)
    assert man["pool"]["shards"] == 3  # Ray shards are whole files
    assert len(list((out / "scores").glob("_part-*.done"))) == 3



def test_ray_resumes_by_part(planted, tmp_path, local_run, ray_local):
    out = tmp_path / "ray"
    run_curate(_cfg(planted, out, executor="ray"), progress=False)
    scores = out / "scores"
    kept = {p.name: p.stat().st_mtime_ns for p in scores.glob("part-*.parquet") if p.name != "part-00001.parquet"}
    # an interrupted run: no manifest yet (the unfinished-run state file still there), part 1 lost
    for name in ("manifest.json", "part-00001.parquet", "_part-00001.done"):
        (out / name if name == "manifest.json" else scores / name).unlink()
    (out / STATE_FILE).write_text(json.dumps({"fingerprint": None}) + "\n")
    run_curate(_cfg(planted, out, executor="ray"), progress=False)
    assert {name: (scores / name).stat().st_mtime_ns for name in kept} == kept  # not redone
    assert (scores / "_part-00001.done").is_file()
    _same(pq.read_table(out / "selected.parquet"), local_run[0])
