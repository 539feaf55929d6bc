"""Similarity spaces: one module per family of selection methods behind one protocol.

A space maps raw input vectors (sentence embeddings or LLM activations) `x` to a representation
`a = enc(x)` (`base.FittedSpace`: the input or the SAE code, centred or not) and a method
(`base.Space`: fit on the seeds and a pool sample, score a chunk, state / from_state) turns a
chunk of pool rows into the selection score:

- `cosine`: `embedding`, `embedding-centered`, `sae`, `sae-idf`, `sae-centered` (cosine to the
  seed centroid or to the nearest seed);
- `enrich`: `sae-enrich` (DSIR's importance weights on SAE latents);
- `pu`: `sae-pu`, `embedding-pu` (a positive-unlabelled classifier of the seeds);
- `graph`: `embedding-graph`, the default (manifold ranking on a kNN graph of the seeds and a
  pool sample, with the texts' words when there are texts);
- `features`: selection by chosen latents (no seeds);
- `random`: a keyed hash of the id (the floor).

Each family's parameters are a config dataclass (`GraphConfig`, `PUConfig`, `EnrichConfig`)
nested in `SelectionConfig`, saved with the fit and part of the scoring key. Adding a method is
one module with a `Space` subclass decorated with `base.register`, imported here.

Pool statistics (`mu`, the idf) and k-means centroids are estimated on a uniform sample of the
pool (exact when the sample is the whole pool). Seeds enter as unit vectors `u_j` of the centred
space; the centroid score is the cosine to `mean_j u_j`, the max score is
`max_j cos(a - mu, u_j)` and `nearest_seed` its argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from saescope.curate.knn import top_k
from saescope.curate.spaces.base import (
    CENTRED_SPACES,
    DENSE_SPACES,
    FAMILIES,
    ChunkScores,
    FitData,
    FittedSpace,
    Space,
    encode_codes,
)
from saescope.curate.spaces.cosine import idf_weights
from saescope.curate.spaces.enrich import EnrichConfig, enrichment_scores, enrichment_weights
from saescope.curate.spaces.features import FeatureSpace
from saescope.curate.spaces.graph import GraphConfig, manifold_ranking
from saescope.curate.spaces.pu import PUConfig, pu_classifier
from saescope.curate.spaces.random import random_scores
from saescope.curate.text import TEXT_MAX_TERMS
from saescope.errors import ConfigError, InputError
from saescope.linalg import unit_csr, unit_rows

# importing the family modules above registers their methods in FAMILIES
GRAPH_SPACES = ("embedding-graph",)
PU_SPACES = ("sae-pu", "embedding-pu")

__all__ = [
    "CENTRED_SPACES", "DENSE_SPACES", "FAMILIES", "GRAPH_SPACES", "PU_SPACES", "ChunkScores",
    "EnrichConfig", "FitData", "FittedSpace", "GraphConfig", "PUConfig", "Space", "encode_codes",
    "enrichment_scores", "enrichment_weights", "fit_kmeans", "fit_space", "idf_weights",
    "knn_rows", "manifold_ranking", "pu_classifier", "random_scores", "unit_csr", "unit_rows",
]  # fmt: skip


def knn_rows(Q: np.ndarray, B: Any, k: int, device: str = "cpu",
             self_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`curate.knn.top_k` on dense unit rows (kept under its former name)."""
    return top_k(Q, B, k, device, self_index)


def fit_space(
    name: str,
    seeds_X: np.ndarray | None,
    pool_sample_X: np.ndarray,
    sae: Any = None,
    aggregate: str = "centroid",
    clusters: int = 0,
    features: np.ndarray | list[int] | None = None,
    seed: int = 0,
    device: str = "cpu",
    graph: GraphConfig | None = None,
    pu: PUConfig | None = None,
    enrich: EnrichConfig | None = None,
    seed_texts: Sequence[str | None] | None = None,
    pool_texts: Sequence[str | None] | None = None,
    text_field: str = "text",
    text_max_terms: int = TEXT_MAX_TERMS,
    pool_ids: np.ndarray | None = None,
    seed_codes: sp.csr_matrix | None = None,
    pool_codes: sp.csr_matrix | None = None,
    progress: bool = False,
    seeded: tuple | None = None,
    cascade_share: float | None = None,
    pool_rows: int | None = None,
) -> FittedSpace:
    """Fit a space on the seeds' raw inputs and a uniform sample of the pool's raw inputs.

    The sample gives the pool mean (centred spaces), latent frequencies (`sae-idf`) and the
    k-means centres (`clusters > 0`, fitted with scikit-learn on unit rows of the sample); the
    method (`FAMILIES[name]`, or feature selection given `features`) is fitted with its config
    (`graph`, `pu`, `enrich`; None: the defaults). `embedding-graph` given `seed_texts` and
    `pool_texts` (column `text_field`) adds their lexical channel and scores with texts
    (`text_max_terms` n-grams per text at most, the highest-weighted; 0: all); `pool_ids` (the
    sample's ids) let it leave a sampled row out of its own neighbours when it is scored.
    `seed_codes` / `pool_codes`: the SAE codes of the seeds / the sample when the caller has them
    (they are not computed again). `progress` shows the graph's stages on stderr. `seeded`: (raw
    inputs, texts, ids[, ranks]) of the seeds' nearest pool rows (`graph.seeded_rows`): extra nodes
    of `embedding-graph` with `node_sample` seeded and candidates of its `second_pass` (other
    spaces ignore them). `cascade_share`: the budget's share of the pool, for the two-stage scoring
    of `embedding-graph` (`GraphConfig.cascade`; None: every row scored in full). `pool_rows`: rows
    of the whole pool (`GraphConfig.index` auto; None: the sample is the pool)."""
    features = _check_fit_inputs(name, seeds_X, pool_sample_X, sae, features)
    if features is not None:
        method: Space = FeatureSpace(features)
    else:
        family = FAMILIES[name]
        given = {GraphConfig: graph, PUConfig: pu, EnrichConfig: enrich}
        method = family(given.get(family.config_class)) if family.config_class else family()
    rep = FittedSpace(name=name, aggregate=aggregate, seed_units=None, centroid=None, mean=None,
                      weights=None, cluster_centers=None, method=method, sae=sae, device=device)
    codes: dict[str, sp.csr_matrix | None] = {"seeds": seed_codes, "pool": pool_codes}
    Xs = {"seeds": seeds_X, "pool": pool_sample_X}

    def encode(which: str) -> sp.csr_matrix:
        if codes[which] is None:
            codes[which] = encode_codes(sae, Xs[which], device)
        return codes[which]  # type: ignore[return-value]

    sample_A, _ = rep.encode(pool_sample_X, codes=pool_codes if rep.sparse else None)
    if rep.sparse:
        codes["pool"] = sample_A
    if name == "sae-idf":
        rep.weights = idf_weights(sample_A)
        sample_A, _ = rep.encode(pool_sample_X, codes=encode("pool"))
    if name in CENTRED_SPACES:
        rep.mean = np.asarray(sample_A.mean(axis=0), dtype=np.float32).ravel()
    seeds_A = None
    if seeds_X is not None:
        seeds_A, raw = rep.encode(seeds_X, codes=seed_codes if rep.sparse else None)
        if rep.sparse:
            codes["seeds"] = raw
        U = unit_rows(seeds_A, rep.mean)
        c = U.astype(np.float64).mean(axis=0)
        cn = np.linalg.norm(c)
        rep.seed_units = U
        rep.centroid = (c / cn if cn > 0 else c).astype(np.float32)
    texts = _text_pair(seed_texts, pool_texts, seeds_X, len(pool_sample_X))
    data = FitData(seeds_X, pool_sample_X, seeds_A, sample_A, encode, seed,
                   *(texts or (None, None)), pool_ids=pool_ids, text_field=text_field,
                   text_max_terms=text_max_terms, progress=progress, cascade_share=cascade_share,
                   pool_rows=pool_rows)
    if seeded is not None:
        data.seeded_X, data.seeded_ids = seeded[0], seeded[2]
        data.seeded_texts = list(seeded[1]) if seeded[1] is not None else None
        data.seeded_rank = seeded[3] if len(seeded) > 3 else None
    method.fit(data, rep)
    if clusters:
        rep.cluster_centers = fit_kmeans(sample_A, clusters, seed)
    return rep


def _check_fit_inputs(name: str, seeds_X: np.ndarray | None, pool_X: np.ndarray, sae: Any,
                      features: np.ndarray | list[int] | None) -> np.ndarray | None:
    """`fit_space`'s argument checks (ConfigError / InputError); the features as int64 ids."""
    if name not in FAMILIES or name == "features":
        names = ", ".join(n for n in FAMILIES if n != "features")
        raise ConfigError(f"space: unknown {name!r} (choose from {names})")
    if (name not in DENSE_SPACES or features is not None) and sae is None:
        raise ConfigError(f"space {name!r} needs an SAE")
    d = pool_X.shape[1]
    if seeds_X is not None:
        if len(seeds_X) == 0:
            raise InputError("the seed set is empty")
        if seeds_X.shape[1] != d:
            raise InputError(f"seeds have dimension {seeds_X.shape[1]}, the pool has {d}")
    if sae is not None and int(sae.d_in) != d:
        raise InputError(f"the SAE expects inputs of dimension {sae.d_in}, the pool has {d}")
    if features is None:
        return None
    ids = np.asarray(features, dtype=np.int64)
    bad = ids[(ids < 0) | (ids >= int(sae.num_latents))]
    if len(bad):
        raise ConfigError(f"features: latent {int(bad[0])} out of range (the SAE has {sae.num_latents})")
    return ids


def _text_pair(seed_texts: Sequence[str | None] | None, pool_texts: Sequence[str | None] | None,
               seeds_X: np.ndarray | None, n_pool: int) -> tuple[list, list] | None:
    """(seed texts, sample texts) as lists, None unless both are given; one text per row."""
    if seed_texts is None or pool_texts is None or seeds_X is None:
        return None
    if len(seed_texts) != len(seeds_X) or len(pool_texts) != n_pool:
        raise ValueError("seed_texts / pool_texts must have one text per row")
    return list(seed_texts), list(pool_texts)


def fit_kmeans(A: np.ndarray | sp.csr_matrix, k: int, seed: int) -> np.ndarray:
    """k-means (scikit-learn, k-means++ init) on the unit rows of a sample; dense [k, D] centres."""
    from sklearn.cluster import KMeans

    if A.shape[0] < k:
        raise ConfigError(f"clusters={k} but the pool sample has only {A.shape[0]} rows")
    U = sp.csr_matrix(unit_csr(A), dtype=np.float32) if sp.issparse(A) else unit_rows(A, None)
    km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100)
    km.fit(U)
    return np.asarray(km.cluster_centers_, dtype=np.float32)
