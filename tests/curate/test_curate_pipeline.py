"""End-to-end curation on planted domains: precision, outputs, resume, metrics, bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.curate import CurateConfig, compare_spaces, run_curate
from saescope.curate import executors as ex
from saescope.errors import ConfigError, InputError


def _cfg(planted, out, **kw):
    base = dict(seeds=str(planted.seeds), pool=str(planted.pool), out=str(out), budget=200,
                space="sae", sae=str(planted.sae), label_field="label", target=["domain_0"],
                shard_rows=200, projection_sample=300)
    base.update(kw)
    return CurateConfig(**base)


@pytest.fixture(scope="module")
def sae_run(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "cur"
    man = run_curate(_cfg(planted, out, baselines=["embedding", "embedding-centered", "random"]),
                     progress=False)
    return out, man


def test_sae_selection_finds_the_planted_domain(planted, sae_run):
    out, man = sae_run
    n_target = int(planted.data.pool_is_target.sum())
    assert n_target > 300  # the budget (200) can be filled with target rows only
    assert man["metrics"]["precision"] >= 0.95
    assert man["metrics"]["recall"] == pytest.approx(man["metrics"]["precision"] * 200 / n_target)
    assert man["baselines"]["random"]["precision"] < 0.4
    assert set(man["baselines"]) == {"embedding", "embedding-centered", "random"}


def test_outputs_follow_the_contract(planted, sae_run):
    out, man = sae_run
    sel = pq.read_table(out / "selected.parquet")
    assert sel.column_names[:2] == ["id", "label"] and "embedding" not in sel.column_names
    for c in ("score", "centroid_sim", "max_sim", "nearest_seed", "rank"):
        assert c in sel.column_names
    assert "cluster" not in sel.column_names  # no --clusters: no column of -1s
    assert sel["rank"].to_pylist() == list(range(1, 201))
    s = np.array(sel["score"].to_pylist())
    assert (np.diff(s) <= 1e-7).all()  # rank order is score order without quotas
    assert len(list((out / "scores").glob("part-*.parquet"))) == 9
    assert len(list((out / "scores").glob("_part-*.done"))) == 9
    disk = json.loads((out / "manifest.json").read_text())
    assert disk["metrics"]["precision"] == man["metrics"]["precision"]
    for key in ("config", "seed_set_hash", "sae", "threshold", "model", "metrics", "baselines"):
        assert key in disk
    assert len(disk["sae"]["hash"]) == 64 and len(disk["seed_set_hash"]) == 64
    m = disk["metrics"]
    assert sum(m["label_distribution"].values()) == 200
    assert {"avg_similarity", "diversity", "precision", "recall", "f1"} <= set(m)
    proj = pq.read_table(out / "projection.parquet").to_pandas()
    assert list(proj.columns) == ["id", "role", "label", "x", "y"]
    assert (proj.role == "seed").sum() == 40 and (proj.role == "selected").sum() >= 1
    assert proj[proj.role == "seed"].label.eq("domain_0").all()


def test_manifest_metrics_match_brute_force(planted, sae_run):
    out, man = sae_run
    d = planted.data
    ids = pq.read_table(out / "selected.parquet")["id"].to_pylist()
    rows = np.array([int(i.split("-")[1]) for i in ids])
    U = d.pool_X[rows] / np.linalg.norm(d.pool_X[rows], axis=1, keepdims=True)
    S = d.seed_X / np.linalg.norm(d.seed_X, axis=1, keepdims=True)
    G = U @ U.T
    n = len(U)
    m = man["metrics"]
    assert m["diversity"] == pytest.approx(1 - (G.sum() - n) / (n * (n - 1)), abs=1e-6)
    assert m["avg_similarity"] == pytest.approx((U @ S.T).mean(), abs=1e-6)
    assert m["precision"] == pytest.approx(d.pool_is_target[rows].mean())


def test_threshold_is_applied(planted, tmp_path):
    man = run_curate(_cfg(planted, tmp_path / "t", budget=None, threshold=0.5, space="embedding",
                          projection_sample=0), progress=False)
    scores = pq.read_table(tmp_path / "t" / "scores")  # all sidecars
    n_above = int((np.array(scores["score"].to_pylist()) >= 0.5).sum())
    sel = pq.read_table(tmp_path / "t" / "selected.parquet")
    assert 0 < sel.num_rows == n_above == man["n_above_threshold"]
    assert min(sel["score"].to_pylist()) >= 0.5


def test_resume_skips_finished_shards(planted, tmp_path, monkeypatch):
    calls: list[int] = []
    failed: list[bool] = []
    real = ex.score_shard

    def flaky(shard, *a, **kw):
        calls.append(shard.index)
        if shard.index == 3 and not failed:
            failed.append(True)
            raise RuntimeError("interrupted")
        return real(shard, *a, **kw)

    monkeypatch.setattr(ex, "score_shard", flaky)
    cfg = _cfg(planted, tmp_path / "r", space="embedding", projection_sample=0)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_curate(cfg, progress=False)
    assert not (tmp_path / "r" / "manifest.json").exists()
    assert len(list((tmp_path / "r" / "scores").glob("_part-*.done"))) == 3
    calls.clear()
    man = run_curate(cfg, progress=False)
    assert sorted(calls) == list(range(3, 9))  # shards 0-2 were not scored again
    fresh = run_curate(_cfg(planted, tmp_path / "f", space="embedding", projection_sample=0),
                       progress=False)
    assert man["metrics"] == fresh["metrics"]
    with pytest.raises(ConfigError, match="overwrite"):
        run_curate(cfg, progress=False)


def test_quotas_spread_the_selection_over_clusters(planted, tmp_path):
    man = run_curate(_cfg(planted, tmp_path / "q", space="embedding", clusters=4,
                          projection_sample=0), progress=False)
    sel = pq.read_table(tmp_path / "q" / "selected.parquet")
    counts = np.bincount(np.array(sel["cluster"].to_pylist()), minlength=4)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 200
    assert man["clusters"]["k"] == 4 and sum(man["clusters"]["sizes"].values()) == 1500


def test_feature_query_selects_by_explained_latents(planted, tmp_path):
    d = planted.data
    own = [int(i) for i in d.domain_atoms[2][-3:]]  # domain 2's own atoms
    interp = tmp_path / "interp"
    interp.mkdir()
    lat = list(range(len(d.atoms)))
    expl = ["topic: cooking recipes" if i in own else f"something else {i}" for i in lat]
    pq.write_table(pa.table({"latent": pa.array(lat, pa.int32()), "status": ["ok"] * len(lat),
                             "explanation": expl}), interp / "latents.parquet")
    man = run_curate(_cfg(planted, tmp_path / "fq", seeds=None, feature_query="Cooking",
                          interpretation=str(interp), target=["domain_2"], budget=100,
                          projection_sample=0), progress=False)
    assert sorted(man["features"]) == sorted(own)
    assert man["metrics"]["precision"] >= 0.9
    with pytest.raises(ConfigError, match="no explained latent"):
        run_curate(_cfg(planted, tmp_path / "fq2", seeds=None, feature_query="astronomy",
                        interpretation=str(interp)), progress=False)


def test_compare_spaces_api(planted, tmp_path):
    res = compare_spaces(_cfg(planted, tmp_path / "c"), ["sae-idf", "sae-centered"], progress=False)
    assert set(res) == {"sae-idf", "sae-centered"}
    assert all(r["precision"] >= 0.9 for r in res.values())


def test_bad_inputs_are_clear_errors(planted, tmp_path):
    d = planted.data
    seeds16, _ = planted.data.tables()
    small = seeds16.set_column(1, "embedding", pa.array([list(v[:16]) for v in d.seed_X],
                                                        pa.list_(pa.float32(), 16)))
    pq.write_table(small, tmp_path / "s16.parquet")
    with pytest.raises(InputError, match="dimension mismatch: seeds"):
        run_curate(_cfg(planted, tmp_path / "a", seeds=str(tmp_path / "s16.parquet")), progress=False)
    pq.write_table(small.slice(0, 0), tmp_path / "empty.parquet")
    with pytest.raises(InputError, match="empty"):
        run_curate(_cfg(planted, tmp_path / "b", seeds=str(tmp_path / "empty.parquet")), progress=False)
    with pytest.raises(InputError, match="larger than the pool"):
        run_curate(_cfg(planted, tmp_path / "c", budget=1501), progress=False)
    from saescope.sae import SAEConfig, SparseAutoencoder

    SparseAutoencoder(SAEConfig(k=2, num_latents=8), d_in=16).save(tmp_path / "sae16")
    with pytest.raises(InputError, match="dimension mismatch: the SAE"):
        run_curate(_cfg(planted, tmp_path / "d", sae=str(tmp_path / "sae16")), progress=False)
    with pytest.raises(InputError, match="no label column 'topic'"):
        run_curate(_cfg(planted, tmp_path / "e", label_field="topic"), progress=False)
    with pytest.raises(ConfigError, match="needs an SAE"):
        _cfg(planted, tmp_path / "f", sae=None)


def test_dedup_in_the_pipeline(planted, tmp_path):
    d = planted.data
    man = run_curate(_cfg(planted, tmp_path / "dd", space="embedding", dedup=0.9, budget=100,
                          projection_sample=0), progress=False)
    ids = pq.read_table(tmp_path / "dd" / "selected.parquet")["id"].to_pylist()
    rows = np.array([int(i.split("-")[1]) for i in ids])
    U = d.pool_X[rows] / np.linalg.norm(d.pool_X[rows], axis=1, keepdims=True)
    assert len(ids) == man["n_selected"] == 100
    assert (U @ U.T - 2 * np.eye(100)).max() < 0.9
