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
    with pytest.raises(SystemExit) as e:
        main(base + ["--seeds", str(root / "seeds.parquet"), "--budget", "5", "--label-field",
                     "label", "--target", "DOMAIN_2"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "'DOMAIN_2' does not occur" in err and "'domain_2'" in err


def test_cli_defaults_are_the_config_defaults():
    """Every option's default and help come from the config dataclasses (one source)."""
    import inspect

    from saescope.cli.curate import OPTION_FIELDS, curate
    from saescope.cli.options import escape_markup, field_of
    from saescope.curate.config import CurateConfig

    params = inspect.signature(curate).parameters
    by_option = {p.default.param_decls[0]: p.default for p in params.values()
                 if p.default.param_decls[0] != "--progress/--no-progress"}
    assert set(by_option) == set(OPTION_FIELDS)
    for opt, dotted in OPTION_FIELDS.items():
        want, _, doc = field_of(CurateConfig, dotted)  # nested family fields too (--graph-k)
        if isinstance(want, list):
            want = ",".join(want) or None
        got = by_option[opt].default
        assert got is ... or got == want, (opt, got, want)
        assert by_option[opt].help == escape_markup(doc)
    assert by_option["--space"].default == "embedding-graph"
    assert "saescope\\[ray]" in by_option["--executor"].help


def test_cli_prints_the_latents_behind_the_selection(files, capsys, tmp_path):
    from saescope.sae import SAEConfig, SparseAutoencoder

    root, _ = files
    sae = SparseAutoencoder(SAEConfig(arch="topk", k=4, num_latents=32), d_in=16)
    sae.save(tmp_path / "sae")
    main(["curate", "--seeds", str(root / "seeds.parquet"), "--pool", str(root / "pool.parquet"),
          "--budget", "50", "--out", str(tmp_path / "o"), "--sae", str(tmp_path / "sae"),
          "--no-progress", "--projection-sample", "0"])
    text = capsys.readouterr().out
    assert "(embedding-graph)" in text and "latents that set the seeds apart" in text
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    first = man["space_info"]["seed_latents"][0]
    assert f"latent {first['latent']:>6}" in text
