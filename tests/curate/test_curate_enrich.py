"""The `sae-enrich` space: hand-computed log-odds weights, scores, the planted domain, manifest."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from saescope.curate import CurateConfig, run_curate
from saescope.curate.spaces import (
    EnrichConfig,
    FittedSpace,
    enrichment_scores,
    enrichment_weights,
    fit_space,
)
from saescope.errors import ConfigError
from saescope.sae import SparseAutoencoder, encode_csr


def test_weights_and_scores_by_hand():
    seeds = sp.csr_matrix(np.array([[2.0, 0, 0], [1, 1, 0]], dtype=np.float32))
    pool = sp.csr_matrix(np.array([[1.0, 0, 1], [0, 2, 0], [0, 0, 1]], dtype=np.float32))
    # seed mass shares 3/4, 1/4, 0; pool shares 1/5, 2/5, 2/5; alpha = 3 -> a = alpha / M = 1
    w = enrichment_weights(seeds, pool, alpha=3.0)
    want = [math.log(1.75 / 1.2), math.log(1.25 / 1.4), math.log(1.0 / 1.4)]
    np.testing.assert_allclose(w, want, rtol=1e-6)
    assert w[0] > 0 > w[1] > w[2]  # latent 0 is enriched among the seeds, 2 never fires there
    # score: mean weight per unit of activation mass; the empty row scores 0
    rows = sp.csr_matrix(np.array([[1.0, 0, 1], [0, 3, 0], [0, 0, 0]], dtype=np.float32))
    np.testing.assert_allclose(enrichment_scores(rows, w), [(want[0] + want[2]) / 2, want[1], 0.0],
                               rtol=1e-6)
    with pytest.raises(ConfigError, match="alpha"):
        enrichment_weights(seeds, pool, alpha=0.0)


def test_space_matches_brute_force_and_round_trips(planted):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    pool, seeds = d.pool_X[:400], d.seed_X
    space = fit_space("sae-enrich", seeds, pool, sae=sae, enrich=EnrichConfig(alpha=2.0))
    got = space.score(pool)
    P = encode_csr(sae, pool).toarray().astype(np.float64)
    S = encode_csr(sae, seeds).toarray().astype(np.float64)
    a = 2.0 / P.shape[1]
    w = np.log((S.sum(0) / S.sum() + a) / (P.sum(0) / P.sum() + a))
    np.testing.assert_allclose(got.score, (P @ w) / P.sum(1), rtol=1e-4, atol=1e-5)
    # the similarity columns are those of sae-centered
    cen = fit_space("sae-centered", seeds, pool, sae=sae).score(pool)
    np.testing.assert_allclose(got.centroid_sim, cen.centroid_sim, atol=1e-6)
    # the fitted state (safetensors + JSON in the pipeline) scores identically
    arrays, meta = space.state()
    again = FittedSpace.from_state(arrays, meta, sae=sae).score(pool)
    np.testing.assert_array_equal(again.score, got.score)
    # chunking does not change the scores
    np.testing.assert_allclose(space.score(pool[:123]).score, got.score[:123], rtol=1e-6)


def test_planted_domain_found_and_enriched_latents_are_its_atoms(planted):
    d = planted.data
    sae = SparseAutoencoder.load(planted.sae)
    space = fit_space("sae-enrich", d.seed_X, d.pool_X, sae=sae)
    s = space.score(d.pool_X).score
    top = np.argsort(-s)[:200]
    assert (d.pool_labels[top] == 0).mean() >= 0.95
    # domain 0's own atoms (not the two shared by all domains) carry the largest weights
    own = set(int(i) for i in d.domain_atoms[0]) - set(int(i) for i in d.domain_atoms[1])
    top_lat = space.top_latents(len(own))
    assert {t["latent"] for t in top_lat} == own
    assert all(t["weight"] > 0 for t in top_lat)
    assert [t["weight"] for t in top_lat] == sorted((t["weight"] for t in top_lat), reverse=True)
    # latents that never fire among the seeds (other domains' atoms): w = ln(a / (p_pool + a)) < 0
    P = encode_csr(sae, d.pool_X).toarray().astype(np.float64)
    silent = (encode_csr(sae, d.seed_X).toarray() == 0).all(axis=0)
    other = np.flatnonzero(silent & (P.sum(0) > 0))
    assert len(other) >= 10 and not set(other.tolist()) & own
    a = 1.5 / P.shape[1]  # ENRICH_ALPHA / M
    want = np.log(a / (P[:, other].sum(0) / P.sum() + a))
    np.testing.assert_allclose(space.method.enrichment[other], want, rtol=1e-4)
    assert (want < 0).all()


def test_cli_pipeline_writes_top_latents(planted, tmp_path):
    out = tmp_path / "cur"
    cfg = CurateConfig(seeds=str(planted.seeds), pool=str(planted.pool), out=str(out), budget=200,
                       space="sae-enrich", sae=str(planted.sae), label_field="label",
                       target=["domain_0"], shard_rows=500, projection_sample=0)
    man = run_curate(cfg, progress=False)
    assert man["metrics"]["precision"] >= 0.95
    disk = json.loads((out / "manifest.json").read_text())
    tops = disk["space_info"]["top_latents"]
    assert len(tops) == 20 and tops[0]["weight"] >= tops[-1]["weight"]
    assert tops[0]["latent"] in set(int(i) for i in planted.data.domain_atoms[0])
