"""Why a row was chosen (why-columns, seed latents, seed ids) and the edges of selection:
no-evidence rows, random tie-breaks, unknown targets, seed duplicates; the PU space."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.curate import CurateConfig, run_curate
from saescope.curate.select import candidate_order
from saescope.curate.spaces import FittedSpace, encode_codes, fit_space
from saescope.errors import InputError
from saescope.sae import SparseAutoencoder


def _cfg(planted, out, **kw):
    base = dict(seeds=str(planted.seeds), pool=str(planted.pool), out=str(out), budget=100,
                sae=str(planted.sae), label_field="label", target=["domain_0"],
                shard_rows=500, projection_sample=0)
    base.update(kw)
    return CurateConfig(**base)


def _interpretation(root, num_latents: int):
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"latent": list(range(num_latents)),
                             "explanation": [f"concept number {j}" for j in range(num_latents)],
                             "status": ["ok"] * num_latents}), root / "latents.parquet")
    return root


@pytest.mark.parametrize("space", ["sae-pu", "sae-enrich"])
def test_contributions_split_the_score_exactly(planted, space):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    fs = fit_space(space, d.seed_X, d.pool_X, sae=sae)
    X = d.pool_X[:50]
    C = fs.contributions(encode_codes(sae, X))
    # the sae-pu score also has the classifier's centred-input block (not a latent's share)
    want = fs.score(X).score - _input_part(fs, X)
    np.testing.assert_allclose(np.asarray(C.sum(axis=1)).ravel(), want, rtol=1e-4, atol=1e-5)


def _input_part(fs: FittedSpace, X: np.ndarray) -> np.ndarray:
    from saescope.curate.spaces import unit_rows

    pu = fs.method
    if getattr(pu, "pu_coef_input", None) is None:
        return np.zeros(len(X))
    return unit_rows(X, pu.input_mean) @ pu.pu_coef_input


def test_selected_rows_say_why(planted, tmp_path):
    interp = _interpretation(tmp_path / "interp", 32)
    out = tmp_path / "cur"
    man = run_curate(_cfg(planted, out, interpretation=str(interp), explain_latents=3), progress=False)
    sel = pq.read_table(out / "selected.parquet")
    assert sel.column_names[-3:] == ["top_latents", "top_contributions", "top_explanations"]
    lats = sel["top_latents"].to_pylist()
    contrib = sel["top_contributions"].to_pylist()
    assert all(1 <= len(r) <= 3 for r in lats)
    assert all(c == sorted(c, reverse=True) and min(c) > 0 for c in contrib)
    assert sel["top_explanations"].to_pylist()[0] == [f"concept number {j}" for j in lats[0]]
    # the selected domain-0 rows are explained by domain 0's atoms
    own = set(int(i) for i in planted.data.domain_atoms[0])
    assert np.mean([r[0] in own for r in lats]) >= 0.9
    # nearest_seed is a seed id
    seed_ids = set(pq.read_table(planted.seeds, columns=["id"])["id"].to_pylist())
    assert set(sel["nearest_seed"].to_pylist()) <= seed_ids
    info = json.loads((out / "manifest.json").read_text())["space_info"]
    top = info["seed_latents"]
    assert top[0]["explanation"] == f"concept number {top[0]['latent']}"
    assert top[0]["latent"] in own and info["why_columns"] == ["top_latents", "top_contributions",
                                                               "top_explanations"]
    assert man["space"] == "embedding-graph"  # the default space


def test_feature_selection_skips_rows_without_evidence(planted, tmp_path):
    d = planted.data
    atom = int(d.domain_atoms[3][-1])
    out = tmp_path / "f"
    man = run_curate(_cfg(planted, out, seeds=None, features=[atom], budget=1000, target=None,
                          label_field=None), progress=False)
    sel = pq.read_table(out / "selected.parquet")
    codes = encode_codes(SparseAutoencoder.load(planted.sae), d.pool_X)
    fires = int((codes[:, atom].toarray().ravel() > 0).sum())
    assert 0 < fires < 1000
    assert sel.num_rows == fires == man["metrics"]["n_candidates"]
    assert min(sel["score"].to_pylist()) > 0
    assert man["metrics"]["n_without_evidence"] == len(d.pool_X) - fires


def test_ties_are_broken_at_random_by_the_seed():
    ids = np.array([f"id-{i:03d}" for i in range(200)])
    score = np.zeros(200)
    score[:5] = 1.0
    by_id = candidate_order(ids, score)
    assert by_id[:5].tolist() == [0, 1, 2, 3, 4] and by_id[5:].tolist() == list(range(5, 200))
    a, b = candidate_order(ids, score, tie_seed=0), candidate_order(ids, score, tie_seed=1)
    assert set(a[:5]) == set(range(5))  # ties never jump over a better score
    assert a[5:].tolist() != list(range(5, 200)) and a[5:].tolist() != b[5:].tolist()
    assert candidate_order(ids[::-1], score[::-1], tie_seed=0).tolist() == [199 - i for i in a]


def test_unknown_target_lists_the_values(planted, tmp_path):
    with pytest.raises(InputError, match=r"target 'Domain_0' does not occur in column 'label' "
                                         r"\(values: 'domain_0', 'domain_1'"):
        run_curate(_cfg(planted, tmp_path / "x", target=["Domain_0"]), progress=False)


def test_seed_duplicates_are_never_selected(planted, tmp_path):
    seeds = pq.read_table(planted.seeds)
    seeds = seeds.append_column("text", pa.array([f"seed text {i}" for i in range(seeds.num_rows)]))
    pq.write_table(seeds, tmp_path / "seeds.parquet")
    pool = pq.read_table(planted.pool)
    texts = [f"pool text {i}" for i in range(pool.num_rows)]
    # a copy of seed 0 in the pool under another id: the best possible match
    dup = pool.slice(0, 1).set_column(1, "embedding", seeds.slice(0, 1)["embedding"])
    pool = pa.concat_tables([pool, dup.set_column(0, "id", pa.array(["copy-of-seed"]))])
    pool = pool.append_column("text", pa.array([*texts, " seed text 0 "]))
    pq.write_table(pool, tmp_path / "pool.parquet")
    for space in ("embedding", "sae-pu"):
        out = tmp_path / space
        man = run_curate(_cfg(planted, out, seeds=str(tmp_path / "seeds.parquet"),
                              pool=str(tmp_path / "pool.parquet"), space=space), progress=False)
        assert "copy-of-seed" not in pq.read_table(out / "selected.parquet")["id"].to_pylist()
        assert man["metrics"]["n_seed_duplicates_excluded"] == 1
        assert man["metrics"]["seed_duplicate_ids"] == ["copy-of-seed"]


def test_pu_space_finds_the_domain_and_round_trips(planted):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    fs = fit_space("sae-pu", d.seed_X, d.pool_X, sae=sae)
    s = fs.score(d.pool_X).score
    assert d.pool_is_target[np.argsort(-s)[:200]].mean() >= 0.95
    arrays, meta = fs.state()
    assert {"pu_coef", "pu_coef_input", "input_mean"} <= set(arrays)
    again = FittedSpace.from_state(arrays, meta, sae=sae)
    np.testing.assert_array_equal(again.score(d.pool_X).score, s)
    dense = fit_space("embedding-pu", d.seed_X, d.pool_X)
    assert dense.method.pu_coef is None and dense.method.pu_coef_input is not None
    assert d.pool_is_target[np.argsort(-dense.score(d.pool_X).score)[:200]].mean() >= 0.9


def test_a_dominant_dimension_is_warned_about_once(planted, tmp_path, caplog):
    """Once per curation, whatever the number of baseline spaces (it was once per space)."""
    pool = pq.read_table(planted.pool)
    X = np.stack(pool["embedding"].to_numpy(zero_copy_only=False)).astype(np.float32)
    X[:, 3] = 50 + 10 * np.random.default_rng(0).normal(size=len(X))  # a "massive activation"
    from saescope.data.shards import vectors_to_arrow

    pq.write_table(pool.set_column(1, "embedding", vectors_to_arrow(X)), tmp_path / "pool.parquet")
    with caplog.at_level("WARNING"):
        run_curate(_cfg(planted, tmp_path / "o", pool=str(tmp_path / "pool.parquet"),
                        space="embedding-centered", sae=None, baselines=["embedding", "random"]),
                   progress=False)
    warned = [r.getMessage() for r in caplog.records if "dimensions hold" in r.getMessage()]
    assert len(warned) == 1 and "3 (" in warned[0] and "Standardise each dimension" in warned[0]


def test_text_seeds_against_an_activation_pool_name_the_flags(tmp_path, capsys):
    """Issue 28: "dimension mismatch: seeds have 384, pool has 576" and nothing more, although
    the pool file records the model and layer its activations come from."""
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saescope.cli.main import run

    X = np.random.default_rng(0).normal(size=(30, 12)).astype(np.float32)
    t = pa.table({"id": [f"p{i}" for i in range(30)], "text": [f"pool text {i}" for i in range(30)],
                  "embedding": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 12)})
    meta = {b"saescope.model": b"smollm2", b"saescope.layer": b"15", b"saescope.pooling": b"mean"}
    pq.write_table(t.replace_schema_metadata(meta), tmp_path / "pool.parquet")
    (tmp_path / "seeds.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "text": f"a seed about cells {i}"})
                                                  + "\n" for i in range(3)))
    code = run(["curate", "--seeds", tmp_path / "seeds.jsonl", "--pool", tmp_path / "pool.parquet",
                "--budget", "5", "--out", tmp_path / "out", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "dimension mismatch" in err
    assert "activations of smollm2 at layer 15" in err and "--embedder minilm" in err
    assert "add `--activations-model smollm2 --layer 15`" in err
