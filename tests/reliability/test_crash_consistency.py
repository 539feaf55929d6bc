"""SIGKILL before every rename of train, embed, curate, interpret and tune; rerun; compare.

For each command: one uninterrupted run (traced, to count its renames per syscall), then for
every N a run killed by strace on entry to its N-th rename (the rename never happens), a
check that nothing it left looks complete, a rerun (or `--resume`), and a check that the rerun
equals the uninterrupted run and left no hidden temporaries. See crashkit.py for the harness.
Inputs are tiny so each run takes well under a second in the fork server.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from crashkit import sweep

from saescope.data.synthetic import oracle_sae

pytestmark = pytest.mark.timeout(600)


def _assert_clean(result):
    assert result["points"] > 0, result
    assert not result["failures"], json.dumps(result["failures"], indent=1)[:6000]
    assert not result["not_killed"], result  # every N the whole run reaches kills it


NO_EXCHANGE = "import saescope.io as io\nio._exchange = lambda a, b: False\n"


@pytest.mark.parametrize("swap", ["exchange", "two-renames"])
def test_train_with_checkpoints(fork_server, tmp_path, swap):
    """`two-renames`: the swap where renameat2 is missing (.checkpoint.old, recovered on resume)."""
    X = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    (tmp_path / "cfg.json").write_text(json.dumps({"checkpoint_every": 5, "log_every": 5}))
    argv = ["train", tmp_path / "x.npy", "--out", "out", "--latents", "32", "--k", "4",
            "--steps", "15", "--batch-size", "32", "--config", tmp_path / "cfg.json", "--quiet"]
    result = sweep(fork_server, tmp_path / "runs", argv, marks=["cfg.json"], volatile={"seconds"},
                   resume_argv=[*argv, "--resume"], prefix_ok={"train_log.jsonl"},
                   prelude=NO_EXCHANGE if swap == "two-renames" else "")
    # two checkpoints (the second swapped in), latent_stats, metrics, manifest, the SAE, cfg.json
    want = {"rename": 6, "renameat": 3, "renameat2": 1} if swap == "exchange" else \
        {"rename": 8, "renameat": 3}
    assert result["counts"] == want
    print(result)
    _assert_clean(result)


def test_embed_shards(fork_server, tmp_path):
    rows = [{"id": f"d{i}", "text": f"document {i} about {w}"}
            for i, w in enumerate(["lava", "violin", "senate", "glacier", "parser"] * 2)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["embed", tmp_path / "c.jsonl", "--out", "out", "--shard-size", "4", "--device", "cpu",
            "--no-progress"]
    result = sweep(fork_server, tmp_path / "runs", argv, marks=[], volatile=set())
    print(result)
    _assert_clean(result)


def test_curate_shards_and_baselines(fork_server, tmp_path):
    from saescope.data.synthetic import planted_domains

    data = planted_domains(n_seed=20, n_pool=300, d=16, num_domains=3, seed_domains=(0,),
                           atoms_per_domain=4, k=2, seed=1)
    seeds, pool = data.tables()
    pq.write_table(seeds, tmp_path / "seeds.parquet")
    (tmp_path / "pool").mkdir()
    pq.write_table(pool, tmp_path / "pool" / "a.parquet", row_group_size=150)  # two shards
    oracle_sae(data.atoms, k=2).save(tmp_path / "sae")
    argv = ["curate", "--seeds", tmp_path / "seeds.parquet", "--pool", tmp_path / "pool",
            "--sae", tmp_path / "sae", "--budget", "30", "--out", "out", "--shard-rows", "150",
            "--baselines", "embedding", "--label-field", "label", "--target", "domain_0",
            "--projection-sample", "40", "--device", "cpu", "--no-progress"]
    result = sweep(fork_server, tmp_path / "runs", argv, marks=["manifest.json"],
                   volatile={"created", "timings"})
    print(result)
    _assert_clean(result)


def test_interpret_llm_through_fault_server(fork_server, tmp_path):
    from fault_server import FaultServer, Oracle
    from synth import TOPICS, corpus

    texts, topic = corpus(n=60, seed=0)
    d = len(TOPICS) + 2
    X = np.zeros((len(texts), d), np.float32)
    X[np.arange(len(texts)), topic] = 1.0 + np.random.default_rng(0).random(len(texts))
    oracle_sae(np.eye(d, dtype=np.float32), k=1).save(tmp_path / "sae")
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), d)
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(len(texts))], "text": texts,
                             "embedding": emb}), tmp_path / "data.parquet")
    fast = ("import saescope.interpret.llm as m\n"
            "real = m.OpenAIBackend.__post_init__\n"
            "def fast(self):\n"
            "    real(self)\n"
            "    self.backoff_base, self.backoff_max, self.max_retries = 0.01, 0.05, 5\n"
            "m.OpenAIBackend.__post_init__ = fast\n")
    with FaultServer(Oracle(TOPICS), hang_seconds=1.5, retry_after="0.01") as srv:
        argv = ["interpret", tmp_path / "sae", "--data", tmp_path / "data.parquet", "--out", "out",
                "--explainer", "llm", "--scorer", "detection", "--llm-base-url", srv.base_url,
                "--llm-model", "oracle", "--llm-timeout", "1", "--cache", "cache.db",
                "--no-progress"]
        result = sweep(fork_server, tmp_path / "runs", argv, marks=["summary.json"],
                       volatile={"created", "seconds", "llm_calls", "llm_cache_hits",
                                 "llm_failures", "llm_stats", "token_counts", "cost_estimate"},
                       prelude=fast, before_run=srv.attempts.clear)  # faults in every run
        assert sum(srv.faults_sent.values()) >= 5 * result["points"]
    print(result)
    _assert_clean(result)


def test_tune(fork_server, tmp_path):
    X = np.random.default_rng(0).standard_normal((400, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    argv = ["tune", tmp_path / "x.npy", "--trials", "1", "--out", "out", "--archs", "topk",
            "--expansions", "2", "--target-l0", "2", "--steps", "3", "--batch-size", "64",
            "--startup-trials", "1", "--device", "cpu", "--no-progress"]
    result = sweep(fork_server, tmp_path / "runs", argv, marks=["summary.json"],
                   volatile={"seconds", "datetime_start", "storage"},
                   skip={"study.db"})
    print(result)
    _assert_clean(result)


def test_train_overwrite_killed_before_each_rename(fork_server, tmp_path):
    """`train --overwrite` onto a finished SAE, killed before each of its renames: the folder is
    always the old SAE or the new one, whole (issue 27, case 2); the rerun finishes the new one
    and leaves no hidden temporaries."""
    import shutil

    from crashkit import RENAME_SYSCALLS, diff_trees, leftovers

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", rng.standard_normal((200, 8)).astype(np.float32))
    common = ["--latents", "16", "--k", "2", "--steps", "6", "--batch-size", "32", "--quiet"]
    old = tmp_path / "old"
    old.mkdir()
    assert fork_server.run(["train", tmp_path / "a.npy", "--out", "out", *common], old,
                           tmp_path / "old.log")["code"] == 0
    argv = ["train", tmp_path / "b.npy", "--out", "out", "--overwrite", *common]
    volatile = {"seconds", "created"}
    ref = tmp_path / "ref"
    shutil.copytree(old, ref)
    traced = fork_server.run(argv, ref, tmp_path / "ref.log", trace=True)
    assert traced["code"] == 0 and diff_trees(ref / "out", old / "out", volatile)
    points = [(sc, n) for sc in RENAME_SYSCALLS for n in range(1, traced["counts"].get(sc, 0) + 1)]
    assert len(points) >= 5, traced
    failures = {}
    for sc, n in points:
        run_dir = tmp_path / f"{sc}-{n}"
        shutil.copytree(old, run_dir)
        killed = fork_server.run(argv, run_dir, tmp_path / f"{sc}-{n}.log", inject=(sc, n))
        problems = [] if killed["killed"] else ["not killed"]
        if diff_trees(run_dir / "out", old / "out", volatile) and \
                diff_trees(run_dir / "out", ref / "out", volatile):
            problems.append("neither the old output nor the new one")
        again = fork_server.run(argv, run_dir, tmp_path / f"{sc}-{n}.rerun.log")
        if again["code"] != 0:
            problems.append(f"rerun exit {again['code']}")
        problems += diff_trees(run_dir / "out", ref / "out", volatile)
        problems += [f"leftover {p}" for p in leftovers(run_dir)]
        if problems:
            failures[f"{sc}-{n}"] = problems
        shutil.rmtree(run_dir, ignore_errors=True)
    assert not failures, failures
