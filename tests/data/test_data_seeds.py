"""`saescope seeds`: a seed set drawn by a field's value, held out of the pool by id and by text."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from saescope.cli.main import run
from saescope.data.seeds import SeedsConfig, run_seeds
from saescope.errors import ConfigError, InputError


def _corpus(path, n=60):
    rows = [{"id": f"r{i}", "text": f"post number {i} about {'sports' if i % 3 == 0 else 'food'}",
             "label": "sports" if i % 3 == 0 else "food"} for i in range(n)]
    # Two copies of a sports text under other ids: they must leave the pool with their seed.
    rows += [{"id": f"dup{j}", "text": rows[0]["text"], "label": "sports"} for j in range(2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_seeds_are_drawn_by_value_and_held_out_by_id_and_text(tmp_path):
    rows = _corpus(tmp_path / "pool.jsonl")
    out, rest = tmp_path / "seeds.jsonl", tmp_path / "rest.parquet"
    # Every sports row is drawn (22 of them), so the duplicate texts are seeds or repeats of one.
    m = run_seeds(SeedsConfig(pool=str(tmp_path / "pool.jsonl"), where="label=sports", n=22,
                              out=str(out), rest=str(rest)))
    seeds = _read_jsonl(out)
    assert len(seeds) == 22 and {s["label"] for s in seeds} == {"sports"}
    left = pq.read_table(rest).to_pylist()
    seed_ids, seed_texts = {s["id"] for s in seeds}, {s["text"] for s in seeds}
    assert not {r["id"] for r in left} & seed_ids and not {r["text"] for r in left} & seed_texts
    assert len(left) + len(seeds) == len(rows) and m["rest_rows"] == len(left)
    # A smaller draw leaves the other sports rows in the pool, but never a seed's copy.
    m = run_seeds(SeedsConfig(pool=str(tmp_path / "pool.jsonl"), where="label=sports", n=5, seed=3,
                              out=str(tmp_path / "s2.jsonl"), rest=str(tmp_path / "r2.jsonl")))
    seeds, left = _read_jsonl(tmp_path / "s2.jsonl"), _read_jsonl(tmp_path / "r2.jsonl")
    assert len(seeds) == 5 and not {r["text"] for r in left} & {s["text"] for s in seeds}
    assert len(left) == len(rows) - 5 - m["held_out_repeats"]
    assert sum(r["label"] == "sports" for r in left) == 22 - 5 - m["held_out_repeats"]


def test_seeds_from_a_vector_pool_keep_its_columns(tmp_path):
    X = np.arange(40 * 4, dtype=np.float32).reshape(40, 4)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 4)
    pq.write_table(pa.table({"id": [f"v{i}" for i in range(40)], "embedding": emb,
                             "label": [i % 2 for i in range(40)]}), tmp_path / "vec.parquet")
    run_seeds(SeedsConfig(pool=str(tmp_path / "vec.parquet"), where="label=1", n=7,
                          out=str(tmp_path / "s.parquet"), rest=str(tmp_path / "r.parquet")))
    s, r = pq.read_table(tmp_path / "s.parquet"), pq.read_table(tmp_path / "r.parquet")
    assert s.column_names == ["id", "embedding", "label"] and s.num_rows == 7 and r.num_rows == 33
    assert set(s.column("label").to_pylist()) == {1}


def test_seeds_errors_name_fields_values_and_counts(tmp_path, capsys):
    _corpus(tmp_path / "pool.jsonl")
    base = ["seeds", tmp_path / "pool.jsonl", "--out", tmp_path / "s.jsonl", "--rest", tmp_path / "r.jsonl"]
    assert run([*base, "--where", "topic=sports"]) == 2
    err = capsys.readouterr().err
    assert "no field 'topic'" in err and "id, text, label" in err
    assert run([*base, "--where", "label=Sports"]) == 2
    err = capsys.readouterr().err
    assert "'sports' (22)" in err and "'food' (40)" in err
    assert run([*base, "--where", "label=sports", "--n", "23"]) == 2
    assert "only 22 rows match" in capsys.readouterr().err
    assert run([*base, "--where", "label"]) == 2
    assert "FIELD=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "r.jsonl").exists()
    assert run([*base, "--where", "label=sports", "--n", "3"]) == 0
    assert "drew 3 seeds of 22 rows matching label=sports" in capsys.readouterr().out
    assert run([*base, "--where", "label=sports", "--n", "3"]) == 2  # outputs exist: --overwrite
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        SeedsConfig(n=0)
    with pytest.raises(InputError, match="pool not found"):
        run_seeds(SeedsConfig(pool=str(tmp_path / "no.jsonl"), out=str(tmp_path / "a.jsonl"),
                              rest=str(tmp_path / "b.jsonl")))
