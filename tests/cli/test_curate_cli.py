"""`saescope curate` on planted-domain vectors: outputs, baselines, and clear errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from saescope.cli.main import main
from saescope.data.synthetic import planted_domains


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("curate_cli")
    data = planted_domains(n_seed=30, n_pool=800, d=16, num_domains=4, seed_domains=(2,), seed=3)
    seeds, pool = data.tables()
    pq.write_table(seeds, root / "seeds.parquet")
    pq.write_table(pool, root / "pool.parquet", row_group_size=200)
    np.save(root / "seeds16.npy", data.seed_X[:, :8])
    return root, data


def test_cli_writes_selection_and_baselines(files, capsys):
    root, data = files
    out = root / "out"
    main(["curate", "--seeds", str(root / "seeds.parquet"), "--pool", str(root / "pool.parquet"),
          "--budget", "100", "--out", str(out), "--space", "embedding-centered",
          "--aggregate", "max", "--label-field", "label", "--target", "domain_2",
          "--baselines", "embedding,random", "--jsonl", "--no-progress", "--projection-sample", "50"])
    text = capsys.readouterr().out
    assert "selected 100 of 800 rows" in text and "baseline random" in text
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["aggregate"] == "max" and man["config"]["space"] == "embedding-centered"
    assert man["metrics"]["precision"] > 0.9 > man["baselines"]["random"]["precision"]
    sel = pq.read_table(out / "selected.parquet")
    assert sel.num_rows == 100 and sel["score"].to_pylist() == sel["max_sim"].to_pylist()
    lines = (out / "selected.jsonl").read_text().splitlines()
    assert len(lines) == 100 and json.loads(lines[0])["rank"] == 1


def test_cli_bad_input_exits_2_with_a_message(files, capsys):
    root, _ = files
    base = ["curate", "--pool", str(root / "pool.parquet"), "--out", str(root / "bad"),
            "--space", "embedding", "--no-progress"]
    with pytest.raises(SystemExit) as e:
        main(base + ["--seeds", str(root / "seeds16.npy"), "--budget", "10"])
    assert e.value.code == 2
    assert "dimension mismatch" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(base + ["--seeds", str(root / "seeds.parquet"), "--budget", "801"])
    assert e.value.code == 2 and "larger than the pool" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(base + ["--seeds", str(root / "seeds.parquet"), "--budget", "5", "--space", "sae"])
    assert e.value.code == 2 and "--sae" in capsys.readouterr().err
