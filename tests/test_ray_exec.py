"""Embed and encode with Ray Data on a local Ray instance: same vectors and codes as locally, resume."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'saescope[ray]')")

from saescope.errors import InputError  # noqa: E402
from saescope.ray_exec import RayConfig, done_marker, embed_files, encode_files, part_path  # noqa: E402

TEXTS = [f"{w} number {i} is about {t}" for i, (w, t) in enumerate(
    (w, t) for w in ("Cats", "Stocks", "Rain", "Chess", "Bread") for t in ("sleep", "markets", "maps"))]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def _corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    half = len(TEXTS) // 2
    pq.write_table(pa.table({"id": [f"a{i}" for i in range(half)], "text": TEXTS[:half],
                             "topic": ["x"] * half}), folder / "a.parquet")
    rest = TEXTS[half:]
    pq.write_table(pa.table({"id": [f"b{i}" for i in range(len(rest))], "text": rest,
                             "topic": ["y"] * len(rest)}), folder / "b.parquet")
    return folder


def test_embed_matches_local(tmp_path):
    from saescope.data.embed import Embedder

    corpus, out = _corpus(tmp_path), tmp_path / "emb"
    cfg = RayConfig(actors=1, batch_size=8)
    stats = embed_files(corpus, out, ray=cfg, device="cpu", progress=False)
    assert stats == {"parts": 2, "done": 2, "rows": len(TEXTS)}
    table = pq.read_table([part_path(out, 0), part_path(out, 1)])
    assert table.column_names == ["id", "embedding", "text", "topic"]
    assert table["id"].to_pylist() == [f"a{i}" for i in range(7)] + [f"b{i}" for i in range(8)]
    X = np.asarray(table["embedding"].to_pylist(), dtype=np.float32)
    local = Embedder(device="cpu").encode(TEXTS)
    np.testing.assert_allclose(X, local, atol=2e-5)
    from saescope.cli.main import run

    assert run(["embed", corpus, "--out", out, "--executor", "ray", "--val-fraction", "0.1"]) == 2
    # another model or settings on the same folder is refused (before any Ray work)
    with pytest.raises(InputError, match="another job"):
        embed_files(corpus, out, ray=cfg, device="cpu", normalize=False, progress=False)


def test_encode_matches_local_and_resumes(tmp_path):
    import torch

    from saescope.data.shards import vectors_to_arrow
    from saescope.sae.config import SAEConfig
    from saescope.sae.encode import write_codes_parquet
    from saescope.sae.model import SparseAutoencoder

    sae = SparseAutoencoder(SAEConfig(k=4, num_latents=40), d_in=12,
                            generator=torch.Generator().manual_seed(0))
    sae.save(tmp_path / "sae")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 12)).astype(np.float32)
    ids = [f"r{i}" for i in range(90)]
    vec = tmp_path / "vec"
    vec.mkdir()
    for j, sl in enumerate((slice(0, 50), slice(50, 90))):
        pq.write_table(pa.table({"id": ids[sl], "embedding": vectors_to_arrow(X[sl])}),
                       vec / f"part-{j:05d}.parquet")
    out = tmp_path / "codes"
    stats = encode_files(tmp_path / "sae", vec, out, ray=RayConfig(actors=1, batch_size=16),
                         progress=False)
    assert stats["rows"] == 90
    ours = pq.read_table([part_path(out, 0), part_path(out, 1)])
    write_codes_parquet(sae.requires_grad_(False), X, tmp_path / "local.parquet", ids=np.array(ids),
                        progress=False)
    local = pq.read_table(tmp_path / "local.parquet")
    assert ours["id"].to_pylist() == ids
    assert ours["sae_idx"].to_pylist() == local["sae_idx"].to_pylist()
    np.testing.assert_allclose(np.concatenate(ours["sae_val"].to_pylist()),
                               np.concatenate(local["sae_val"].to_pylist()), rtol=1e-6)
    # resume: only the missing part is recomputed
    before = part_path(out, 0).stat().st_mtime_ns
    part_path(out, 1).unlink()
    done_marker(out, 1).unlink()
    from saescope.cli.main import run

    assert run(["encode", tmp_path / "sae", vec, "--out", out, "--executor", "ray",
                "--actors", "1", "--batch-size", "16", "--quiet"]) == 0  # the CLI, resuming
    assert done_marker(out, 1).read_text().strip() == '{"rows": 40}'
    assert part_path(out, 0).stat().st_mtime_ns == before
    assert pq.read_table(part_path(out, 1)).equals(ours.slice(50))
    # an actor's error reaches the caller as saescope's InputError (the CLI: one line, exit 2)
    nan = tmp_path / "nan"
    nan.mkdir()
    Xn = X[:20].copy()
    Xn[3, 2] = np.nan
    pq.write_table(pa.table({"id": ids[:20], "embedding": vectors_to_arrow(Xn)}), nan / "p.parquet")
    with pytest.raises(InputError, match="NaN"):
        encode_files(tmp_path / "sae", nan, tmp_path / "o3", ray=RayConfig(actors=1), progress=False)
    with pytest.raises(InputError, match="d_in"):
        bad = tmp_path / "bad"
        bad.mkdir()
        pq.write_table(pa.table({"id": ["x"], "embedding": vectors_to_arrow(X[:1, :5])}),
                       bad / "p.parquet")
        encode_files(tmp_path / "sae", bad, tmp_path / "o2", ray=RayConfig(actors=1))
