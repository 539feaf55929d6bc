"""Similarity spaces and the chunked scoring kernel.

A space maps raw input vectors (sentence embeddings or LLM activations) `x` to a representation
`a = enc(x)` and compares rows by the cosine of `a - mu`:

- `embedding`: `a = x`, `mu = 0` (raw cosine, the baseline FineScope should have reported).
- `embedding-centered`: `a = x`, `mu` = the pool's mean embedding. Removing the common
  component that all embeddings of a model share makes the cosine discriminative
  (Mu & Viswanath, "All-but-the-Top", ICLR 2018).
- `sae`: `a` = the SAE code with its latent indices, a sparse row of `scipy.sparse.csr_matrix`;
  cosine between codes counts only latents that fire in both rows.
- `sae-idf`: latent `f` weighted by `idf_f = ln((1 + n) / (1 + df_f)) + 1`, `df_f` the number
  of sampled pool rows where it fires (the smoothed inverse document frequency of
  Sparck Jones, J. Documentation 1972, as in scikit-learn's `TfidfTransformer`).
- `sae-centered`: `sae` with the pool's mean code subtracted, computed without densifying the
  pool: `(a - mu).w = a.w - mu.w` and `|a - mu|^2 = |a|^2 - 2 a.mu + |mu|^2`.
- `sae-enrich`: seed-vs-pool latent enrichment, DSIR's importance weights (Xie et al., "Data
  Selection for Language Models via Importance Resampling", NeurIPS 2023, arXiv:2302.03169)
  with SAE latents in place of hashed n-grams, scored as a multinomial naive Bayes log-likelihood
  ratio (McCallum & Nigam, AAAI-98 workshop on text categorization, 1998). Each latent's share
  of the activation mass, `p_f = sum_i a_if / sum_i |a_i|_1`, is measured among the seeds
  (`p_seed`) and the pool sample (`p_pool`); its weight is
  `w_f = ln((p_seed_f + alpha / M) / (p_pool_f + alpha / M))` (additive smoothing, `M` latents,
  `alpha = ENRICH_ALPHA`), and a row's score is `sum_f a_f w_f / |a|_1`, the mean log-odds of
  its activation mass. The weights are interpretable: the most enriched latents are the
  concepts that set the seeds apart from the pool (`FittedSpace.top_latents`). The similarity
  columns (`centroid_sim`, `max_sim`) are measured in the `sae-centered` space.
- `sae-pu`: a classifier of the seeds against the pool, positive-unlabelled
  learning (Elkan & Noto, KDD 2008) as quality classifiers for pretraining-data filtering are
  trained (Brown et al. 2020, appendix A): an L2 logistic regression (`PU_C`, classes balanced)
  of the seeds (1) against the pool sample (0, unlabelled) on the unit SAE code beside the unit
  centred input, refitted once with the best-scored sample rows as extra positives
  (`PU_FEEDBACK`); the score is its decision function, linear in the code, so each firing
  latent's share of it is exact (`contributions`). Similarity columns as `sae-centered`.
- `embedding-graph` (the default): manifold ranking (Zhou, Weston, Gretton, Bousquet &
  Schoelkopf, "Ranking on Data Manifolds", NIPS 2003) on a k-nearest-neighbour graph of the
  unit centred inputs of the seeds and the pool sample (`GRAPH_K` neighbours, edge weight the
  positive cosine, symmetrised, `S = D^-1/2 W D^-1/2`): `F <- GRAPH_ALPHA S F + (1 - GRAPH_ALPHA) y`
  from `y` = 1 on the seeds, `GRAPH_STEPS` steps (the truncated series of the closed form
  `(I - alpha S)^-1 y`). A row's score is the mean of `F` over its `GRAPH_K` nearest graph nodes,
  weighted by cosine (the induction formula of Delalleau, Bengio & Le Roux, "Efficient
  non-parametric function induction in semi-supervised learning", AISTATS 2005), so rows outside
  the sample are scored in one pass and a row's score does not depend on whether it was sampled
  (a node never counts as its own neighbour: matches with cosine > `1 - 1e-6` are left out).
  The score spreads from the seeds along the pool's own dense regions, so rows of the target
  that are far from the seed centroid but close to other target rows are found.
  Lexical channel (when the seeds and the pool have texts; `SelectionConfig.use_text`): the
  nodes' texts become unit tf-idf rows of hashed word n-grams (`curate.text`), the graph is
  `norm(S_emb + TEXT_WEIGHT S_text)` with `S_text` the normalised `GRAPH_K`-NN graph of their
  cosines (a sum of graphs, as in multi-view graph ranking), a row's induced score averages
  its embedding and its text neighbours with the same weights, and a classifier self-trained
  from the graph's best rows (`GRAPH_FEEDBACK`) adds the words and directions that separate
  the seeds' region from its neighbours; the score is the sum of the two standardised scores.
  With an SAE
  folder, the why-columns split the `sae-enrich` score of the row over its latents (which of
  the concepts that set the seeds apart it carries); the graph score itself belongs to the
  row's neighbours, not to latents. Similarity columns as `embedding-centered`.
- `embedding-pu`: the same classifier on the unit centred input alone (the ablation that
  says what the SAE code adds). Similarity columns as `embedding-centered`.
- `random`: a uniform score from a hash of the row id (the floor); its similarity columns
  are measured in the `embedding` space.

Pool statistics (`mu`, `df`) and k-means centroids are estimated on a uniform sample of the
pool (exact when the sample is the whole pool). Seeds enter as unit vectors `u_j` of the
centred space; the centroid score is the cosine to `mean_j u_j`, the max score is
`max_j cos(a - mu, u_j)` and `nearest_seed` its argmax. All are computed per chunk of pool rows
with one matrix product against `[u_1 .. u_m | centroid | mu | k-means centres]`, so memory is
bounded by `chunk x (m + K + 2)` floats and no seed x pool matrix ever exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from saescope.curate.text import (
    TEXT_FEATURES,
    TEXT_MAX_TERMS,
    fit_idf,
    hashed_counts,
    sparse_knn,
    text_units,
)
from saescope.errors import ConfigError, InputError

DENSE_SPACES = ("embedding-graph", "embedding", "embedding-centered", "embedding-pu", "random")
GRAPH_SPACES = ("embedding-graph",)
GRAPH_K = 20
"""Neighbours per node of the `embedding-graph` kNN graph and per scored row. Chosen with
`GRAPH_ALPHA` on the 4 MMLU domains x seed draws 0-1 of `benchmarks/curate_mmlu.py` (tried 10,
20; 40 for the induction), reported on the 10 subjects, which played no part in it."""
GRAPH_ALPHA = 0.95
"""Propagation weight of manifold ranking (the share of a node's score that comes from its
neighbours; `1 - alpha` from the seeds). Chosen on the same tuning cells (tried 0.5, 0.8, 0.9,
0.95, 0.99; 0.99 over-smooths into neighbouring domains)."""
GRAPH_STEPS = 40
"""Propagation steps (`alpha^40` = 0.13 of the series is cut: the ranking is the truncated
personalised-PageRank series, stable by then)."""
GRAPH_NODES = 50_000
"""At most this many pool-sample rows become graph nodes (beside the seeds): the kNN graph
costs `nodes^2 d` multiply-adds once, and each scored row `nodes x d`."""
TEXT_WEIGHT = 0.5
"""Lexical channel of `embedding-graph` (when seeds and pool have texts): the graph is
`norm(norm(W_emb) + TEXT_WEIGHT norm(W_text))`, `W_text` the `GRAPH_K`-NN graph of the nodes'
tf-idf cosines (`curate.text`). Chosen on the tuning cells of `benchmarks/curate_mmlu.py`
(4 domains and 10 tuning subjects x draws 0-1; tried 0.5 and 1, and a graph on the summed
similarities, which found fewer)."""
GRAPH_TEXT_ALPHA = 0.9
"""`GRAPH_ALPHA` of the graph with the lexical channel (tried 0.9, 0.95 on the same cells)."""
GRAPH_FEEDBACK = 3
"""Self-training after the graph (lexical channel only): the `GRAPH_FEEDBACK x seeds` best
graph-scored sample rows join the seeds as positives of an L2 logistic regression against the
pool sample (`pu_classifier`, C = `GRAPH_FEEDBACK_C`) on the unit centred input beside the unit
tf-idf row, and a row's score is the sum of its standardised graph and classifier scores
(self-training, Yarowsky, ACL 1995; PU feedback, Liu et al., ICDM 2003). It learns which words
and directions separate the seeds' region from its neighbours. Chosen on the tuning cells."""
GRAPH_FEEDBACK_C = 0.1
"""Inverse L2 strength of the self-trained classifier (tried 0.03 and 0.1 on the tuning cells)."""
_GRAPH_BLOCK = 1024
"""Rows per block of the kNN products (memory `block x nodes` floats)."""
PU_SPACES = ("sae-pu", "embedding-pu")
PU_C = 0.03
"""Inverse L2 strength of the PU classifier (scikit-learn's `C`, classes balanced). Chosen on the
4 MMLU domains x seed draws 0-1 of `benchmarks/curate_mmlu.py` (tried 0.01-10; large C
overfits: the pool's own target rows are its negatives; the code alone, without the centred
input block, and cross-fitted classifiers were tried there too and not kept); the README reports it on the 10
subjects, which played no part in choosing it."""
PU_FEEDBACK = 3
"""Pseudo-relevance feedback of the PU classifier: after a first fit, the `PU_FEEDBACK x seeds`
best-scored rows of the pool sample join the positives and the classifier is fitted again
(Rocchio's feedback, Rocchio 1971; self-training in PU learning, Liu et al., ICDM 2003). 0 turns
it off. Chosen with `PU_C` on the same tuning cells (tried 0, 1 and 3)."""
ENRICH_ALPHA = 1.5
"""Additive smoothing of `sae-enrich`, in units of the uniform share `1 / M`. Chosen on the MMLU
benchmark itself (benchmarks/curate_mmlu.py, in-sample): 0.9-1.5 is best at budget 100; larger
values (3) trade budget-100 precision for budget 500-1000; very large ones tend to the difference
of the seed and pool mean codes."""


class ChunkScores(NamedTuple):
    """Scores of one chunk of pool rows (all length n)."""

    score: np.ndarray
    """float32: the selection score (centroid_sim or max_sim, a feature sum, or random)."""
    centroid_sim: np.ndarray
    """float32: cosine to the seed centroid in the space (NaN without seeds)."""
    max_sim: np.ndarray
    """float32: cosine to the nearest seed (NaN without seeds)."""
    nearest_seed: np.ndarray
    """int32: row of the nearest seed in the seed set (-1 without seeds)."""
    cluster: np.ndarray
    """int32: k-means cluster (-1 without clustering)."""


@dataclass
class FittedSpace:
    """A space fitted on the seeds and a pool sample; `score` is applied to pool chunks."""

    name: str
    """Space name (see module docstring)."""
    aggregate: str
    """`centroid` or `max`: which similarity is the score."""
    seed_units: np.ndarray | None
    """float32 [m, D] unit seed rows in the centred space (None for feature selection w/o seeds)."""
    centroid: np.ndarray | None
    """float32 [D] unit direction of the mean of `seed_units`."""
    mean: np.ndarray | None
    """float32 [D] centring offset `mu` (None: no centring)."""
    weights: np.ndarray | None
    """float32 [M] per-latent weights (idf) applied to SAE codes (None: unweighted)."""
    cluster_centers: np.ndarray | None
    """float32 [K, D] k-means centres of unit (uncentred) rows (None: no clustering)."""
    features: np.ndarray | None
    """int64 latent indices: score = sum of their raw activations (None: similarity score)."""
    enrichment: np.ndarray | None = None
    """float32 [M] log-odds weights of `sae-enrich`: score = codes @ w / |codes|_1 (None: unused)."""
    pu_coef: np.ndarray | None = None
    """float32 [M] classifier weights on the unit SAE code (`sae-pu`; None: unused)."""
    pu_coef_input: np.ndarray | None = None
    """float32 [d] classifier weights on the unit centred input `(x - input_mean) / |x - input_mean|`."""
    input_mean: np.ndarray | None = None
    """float32 [d] pool mean of the raw inputs (centring of the classifier's input block)."""
    graph_nodes: np.ndarray | None = None
    """float32 [n, d] unit centred inputs of the graph's nodes (`embedding-graph`; seeds first)."""
    graph_scores: np.ndarray | None = None
    """float32 [n] manifold-ranking score of each graph node."""
    text_field: str | None = None
    """Text column of the lexical channel of `embedding-graph` (None: embeddings only)."""
    text_idf: np.ndarray | None = None
    """float32 [TEXT_FEATURES] idf of the hashed word n-grams (`curate.text`), fitted on the nodes."""
    text_nodes: sp.csr_matrix | None = None
    """[n, TEXT_FEATURES] unit tf-idf rows of the nodes' texts (seeds first)."""
    text_max_terms: int = 0
    """N-grams kept per text, the highest-weighted (`curate.text.prune_rows`; 0: all, as in spaces
    saved before the option existed)."""
    graph_coef: np.ndarray | None = None
    """float32 [d + TEXT_FEATURES] self-trained classifier on the unit centred input and the unit
    tf-idf row (`GRAPH_FEEDBACK`)."""
    graph_fuse: np.ndarray | None = None
    """float64 [4] (mean, sd) of the induced graph score and of the classifier over the pool
    sample: the final score is the sum of the two standardised scores."""
    random_seed: int = 0
    """Seed of the `random` space's hash."""
    sae: Any = None
    """The SparseAutoencoder for SAE spaces (not serialised: loaded from its folder)."""
    device: str = "cpu"
    """Where products run: `cpu` (numpy/scipy) or `cuda` (torch)."""

    # ------------------------------------------------------------------ representation
    @property
    def sparse(self) -> bool:
        return self.name not in DENSE_SPACES

    @property
    def dim(self) -> int:
        """Dimension of the space's rows (latents for SAE spaces, the input dimension otherwise)."""
        if self.seed_units is not None:
            return int(self.seed_units.shape[1])
        if self.mean is not None:
            return len(self.mean)
        return int(self.sae.num_latents if self.sparse else self.sae.d_in)

    def encode(self, X: np.ndarray, explain: bool = False
               ) -> tuple[np.ndarray | sp.csr_matrix, sp.csr_matrix | None]:
        """(space rows `a` before centring, raw SAE codes or None) for raw inputs X [n, d]. A dense
        space returns codes when its score needs them (feature selection) or, with `explain`, when
        an SAE explains its rows (`embedding-graph` given an SAE): scoring the pool skips them."""
        if not self.sparse:
            need = self.features is not None or (explain and self.sae is not None
                                                 and self.enrichment is not None)
            codes = encode_codes(self.sae, X, self.device) if need else None
            return np.asarray(X, dtype=np.float32), codes
        codes = encode_codes(self.sae, X, self.device)
        if self.weights is None:
            return codes, codes
        weighted = codes.copy()
        weighted.data *= self.weights[weighted.indices]
        return weighted, codes

    def norms(self, A: np.ndarray | sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(|a|, |a - mu|) per row, float64."""
        if sp.issparse(A):
            sq = np.asarray(A.multiply(A).sum(axis=1), dtype=np.float64).ravel()
        else:
            sq = np.einsum("ij,ij->i", A, A).astype(np.float64)
        raw = np.sqrt(np.maximum(sq, 0.0))
        if self.mean is None:
            return raw, raw
        if sp.issparse(A):
            amu = np.asarray(A @ self.mean.astype(np.float64), dtype=np.float64).ravel()
            csq = sq - 2.0 * amu + float(np.dot(self.mean, self.mean))
            return raw, np.sqrt(np.maximum(csq, 0.0))
        C = A - self.mean
        return raw, np.sqrt(np.einsum("ij,ij->i", C, C).astype(np.float64))

    def unit_sum(self, A: np.ndarray | sp.csr_matrix) -> tuple[np.ndarray, int]:
        """(sum of unit centred rows, number of non-zero rows): the running sums of the metrics."""
        _, nc = self.norms(A)
        nz = nc > 0
        inv = np.zeros_like(nc)
        inv[nz] = 1.0 / nc[nz]
        if sp.issparse(A):
            s = np.asarray(A.T @ inv, dtype=np.float64).ravel()
        else:
            s = A.astype(np.float64).T @ inv
        if self.mean is not None:
            s = s - self.mean.astype(np.float64) * inv.sum()
        return s, int(nz.sum())

    # ------------------------------------------------------------------ scoring
    def _columns(self) -> tuple[np.ndarray, int]:
        """Right-hand matrix [D, m + 1 + K]: unit seeds, centroid, k-means centres; cluster column."""
        cols = []
        if self.seed_units is not None:
            cols += [self.seed_units, self.centroid[None, :]]
        cl_col = sum(len(c) for c in cols)
        if self.cluster_centers is not None:
            cols.append(self.cluster_centers)
        if not cols:
            return np.zeros((self.dim, 0), dtype=np.float32), cl_col
        return np.ascontiguousarray(np.concatenate(cols).T, dtype=np.float32), cl_col

    def score(self, X: np.ndarray, ids: np.ndarray | None = None,
              texts: Sequence[str | None] | None = None) -> ChunkScores:
        """Scores of raw pool inputs X [n, d] (ids are needed by the `random` space, the rows'
        texts by an `embedding-graph` fitted with its lexical channel)."""
        n = len(X)
        if X.ndim != 2 or (n and X.shape[1] != self.input_dim):
            raise InputError(f"pool vectors have dimension {X.shape[-1]}, expected {self.input_dim}")
        if self.text_field is not None and (texts is None or len(texts) != n):
            raise ValueError(f"this space scores rows with their texts (column {self.text_field!r})")
        A, codes = self.encode(X)
        W, cl_col = self._cached_columns()
        G = _product(A, W, self.device)
        raw_norm, c_norm = self.norms(A)
        nz = c_norm > 0
        inv = np.zeros(n, dtype=np.float32)
        inv[nz] = 1.0 / c_norm[nz]
        m = 0 if self.seed_units is None else len(self.seed_units)
        if m:
            S = G[:, : m + 1]
            if self.mean is not None:
                S -= self._seed_mu[None, :]  # (a - mu).u = a.u - mu.u
            # argmax is unchanged by the positive per-row scale 1 / |a - mu|
            nearest = S[:, :m].argmax(axis=1).astype(np.int32) if n else np.zeros(0, np.int32)
            max_sim = (S[np.arange(n), nearest] * inv).astype(np.float32)
            centroid_sim = (S[:, m] * inv).astype(np.float32)
        else:
            nearest = np.full(n, -1, dtype=np.int32)
            max_sim = np.full(n, np.nan, dtype=np.float32)
            centroid_sim = np.full(n, np.nan, dtype=np.float32)
        if self.cluster_centers is not None:
            # argmin |a/|a| - c_k|^2 = argmax a.c_k - |a| |c_k|^2 / 2 (|a| > 0)
            half = 0.5 * np.einsum("ij,ij->i", self.cluster_centers, self.cluster_centers)
            cl = G[:, cl_col:] - raw_norm[:, None].astype(np.float32) * half[None, :]
            cluster = cl.argmax(axis=1).astype(np.int32) if n else np.zeros(0, np.int32)
        else:
            cluster = np.full(n, -1, dtype=np.int32)
        if self.features is not None:
            score = np.asarray(codes[:, self.features].sum(axis=1), dtype=np.float32).ravel()
        elif self.graph_scores is not None:
            score = self.graph_score(X, texts)
        elif self.enrichment is not None:
            score = enrichment_scores(codes, self.enrichment)
        elif self.name in PU_SPACES:
            score = self.pu_scores(X, codes)
        elif self.name == "random":
            if ids is None:
                raise ValueError("the random space needs row ids")
            score = random_scores(ids, self.random_seed)
        else:
            score = centroid_sim if self.aggregate == "centroid" else max_sim
        return ChunkScores(score, centroid_sim, max_sim, nearest, cluster)

    @property
    def input_dim(self) -> int:
        if self.sparse:
            return int(self.sae.d_in)
        return self.dim

    def _cached_columns(self) -> tuple[np.ndarray, int]:
        if getattr(self, "_cols", None) is None:
            W, cl_col = self._columns()
            self._cols = (W, cl_col)
            if self.seed_units is not None and self.mean is not None:
                self._seed_mu = (self.mean.astype(np.float64) @ W[:, :cl_col]).astype(np.float32)
        return self._cols

    def graph_score(self, X: np.ndarray, texts: Sequence[str | None] | None = None) -> np.ndarray:
        """The `embedding-graph` score: the induced graph score, plus (lexical channel) the
        standardised self-trained classifier beside the standardised induced score."""
        if self.text_field is None:
            return self.graph_induction(X)
        T = text_units(texts, self.text_idf, self.text_max_terms)  # type: ignore[arg-type]
        f = self.graph_induction(X, T).astype(np.float64)
        z = self.graph_classifier(X, T)
        mf, sf, mz, sz = self.graph_fuse  # type: ignore[misc]
        return ((f - mf) / sf + (z - mz) / sz).astype(np.float32)

    def graph_classifier(self, X: np.ndarray, T: sp.csr_matrix) -> np.ndarray:
        """Decision function (without intercept) of the self-trained classifier, float64 [n]."""
        d = len(self.mean)  # type: ignore[arg-type]
        U = unit_rows(X, self.mean).astype(np.float64)
        return U @ self.graph_coef[:d] + T @ self.graph_coef[d:].astype(np.float64)  # type: ignore[index]

    def graph_induction(self, X: np.ndarray, T: sp.csr_matrix | None = None) -> np.ndarray:
        """Cosine-weighted mean of the graph scores of each row's `GRAPH_K` nearest nodes; with
        the lexical channel (`T`, the rows' unit tf-idf), `(e + TEXT_WEIGHT t) / (1 + TEXT_WEIGHT)`
        of the means over the embedding (`e`) and the text (`t`) neighbours, as the graph's edges."""
        U = unit_rows(X, self.mean)
        k = min(GRAPH_K, len(self.graph_nodes))
        if len(X) == 0 or k < 1:
            return np.zeros(len(X), dtype=np.float32)
        if getattr(self, "_nodes_tensor", None) is None:  # moved to the device once, not per chunk
            import torch

            self._nodes_tensor = torch.from_numpy(np.ascontiguousarray(self.graph_nodes)).to(self.device)
        nbr, cos = knn_rows(U, self._nodes_tensor, k, self.device)
        e = _weighted_mean(np.maximum(cos, 0.0), self.graph_scores[nbr])
        if T is None or self.text_nodes is None:
            return e.astype(np.float32)
        nbr_t, cos_t = sparse_knn(T, self.text_nodes, k)
        t = _weighted_mean(cos_t, self.graph_scores[nbr_t])
        return ((e + TEXT_WEIGHT * t) / (1.0 + TEXT_WEIGHT)).astype(np.float32)

    def pu_scores(self, X: np.ndarray, codes: sp.csr_matrix | None) -> np.ndarray:
        """Decision function of the PU classifier (without its intercept, which ranks nothing)."""
        score = np.zeros(len(X), dtype=np.float64)
        if self.pu_coef is not None:
            score += np.asarray(unit_csr(codes) @ self.pu_coef.astype(np.float64)).ravel()
        if self.pu_coef_input is not None:
            score += unit_rows(X, self.input_mean).astype(np.float64) @ self.pu_coef_input.astype(np.float64)
        return score.astype(np.float32)

    @property
    def latent_weights(self) -> np.ndarray | None:
        """Per-latent weight of the score, when it is linear in the code: the `sae-enrich`
        log-odds or the `sae-pu` classifier weights (None for the cosine spaces)."""
        return self.enrichment if self.enrichment is not None else self.pu_coef

    def top_latents(self, n: int = 20) -> list[dict[str, float]]:
        """The `n` latents that most set the seeds apart from the pool (largest weight first):
        `sae-enrich` log-odds, `sae-pu` classifier weights, or the largest entries of the seed
        centroid in the cosine SAE spaces; [] in the dense spaces."""
        w = self.latent_weights
        if w is None and self.sparse and self.centroid is not None:
            w = self.centroid
        if w is None:
            return []
        order = np.argsort(-w, kind="stable")[:n]
        return [{"latent": int(j), "weight": float(w[j])} for j in order]

    def contributions(self, codes: sp.csr_matrix) -> sp.csr_matrix:
        """Per-row, per-latent share of the score (same sparsity as `codes`): why a row scored.

        Linear scores split exactly over the firing latents: `sae-enrich` `a_f w_f / |a|_1`,
        `sae-pu` `(a_f / |a|) w_f`, feature selection `a_f` for the chosen latents. The cosine
        spaces use `a'_f c_f / |a' - mu|` (`a'` the weighted code, `c` the seed centroid), the
        firing latents' part of the cosine.
        """
        C = sp.csr_matrix(codes, dtype=np.float64, copy=True)
        if self.features is not None:
            keep = np.isin(C.indices, self.features)
            C.data = np.where(keep, C.data, 0.0)
        elif self.enrichment is not None:
            l1 = np.asarray(abs(codes).sum(axis=1), dtype=np.float64).ravel()
            C = sp.diags(np.divide(1.0, l1, out=np.zeros_like(l1), where=l1 > 0)) @ C
            C.data *= self.enrichment[C.indices]
        elif self.pu_coef is not None:
            C = unit_csr(C)
            C.data *= self.pu_coef[C.indices]
        elif self.sparse and self.centroid is not None:
            if self.weights is not None:
                C.data *= self.weights[C.indices]
            _, c_norm = self.norms(C)
            C = sp.diags(np.divide(1.0, c_norm, out=np.zeros_like(c_norm), where=c_norm > 0)) @ C
            C.data *= self.centroid[C.indices]
        else:
            C.data[:] = 0.0
        C = sp.csr_matrix(C)
        C.eliminate_zeros()
        return C

    # ------------------------------------------------------------------ (de)serialisation
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, metadata) for safetensors + JSON; the SAE is referenced by folder elsewhere."""
        arrays = {
            k: np.ascontiguousarray(getattr(self, k))
            for k in ("seed_units", "centroid", "mean", "weights", "cluster_centers", "features",
                      "enrichment", "pu_coef", "pu_coef_input", "input_mean", "graph_nodes",
                      "graph_scores", "text_idf", "graph_coef", "graph_fuse")
            if getattr(self, k) is not None
        }
        if self.text_nodes is not None:
            T = sp.csr_matrix(self.text_nodes)
            arrays.update(text_nodes_data=np.ascontiguousarray(T.data, dtype=np.float32),
                          text_nodes_indices=np.ascontiguousarray(T.indices, dtype=np.int64),
                          text_nodes_indptr=np.ascontiguousarray(T.indptr, dtype=np.int64))
        meta = {"name": self.name, "aggregate": self.aggregate, "random_seed": self.random_seed,
                "needs_sae": self.sae is not None, "text_field": self.text_field,
                "text_max_terms": self.text_max_terms}
        return arrays, meta

    @staticmethod
    def from_state(arrays: dict[str, np.ndarray], meta: dict[str, Any], sae: Any = None,
                   device: str = "cpu") -> FittedSpace:
        text_nodes = None
        if "text_nodes_data" in arrays:
            text_nodes = sp.csr_matrix(
                (arrays["text_nodes_data"], arrays["text_nodes_indices"], arrays["text_nodes_indptr"]),
                shape=(len(arrays["text_nodes_indptr"]) - 1, TEXT_FEATURES))
        return FittedSpace(
            name=meta["name"], aggregate=meta["aggregate"], random_seed=int(meta["random_seed"]),
            seed_units=arrays.get("seed_units"), centroid=arrays.get("centroid"),
            mean=arrays.get("mean"), weights=arrays.get("weights"),
            cluster_centers=arrays.get("cluster_centers"), features=arrays.get("features"),
            enrichment=arrays.get("enrichment"), pu_coef=arrays.get("pu_coef"),
            pu_coef_input=arrays.get("pu_coef_input"), input_mean=arrays.get("input_mean"),
            graph_nodes=arrays.get("graph_nodes"), graph_scores=arrays.get("graph_scores"),
            text_field=meta.get("text_field"), text_idf=arrays.get("text_idf"), text_nodes=text_nodes,
            text_max_terms=int(meta.get("text_max_terms") or 0),
            graph_coef=arrays.get("graph_coef"), graph_fuse=arrays.get("graph_fuse"),
            sae=sae, device=device,
        )


def _weighted_mean(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row-wise `sum w v / sum w` (0 where the weights sum to 0), float64."""
    w = w.astype(np.float64)
    num = (w * values).sum(axis=1)
    den = w.sum(axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _product(A: np.ndarray | sp.csr_matrix, W: np.ndarray, device: str) -> np.ndarray:
    """A @ W as float32 [n, W.shape[1]]: numpy/scipy on CPU, torch on CUDA."""
    if W.shape[1] == 0:
        return np.zeros((A.shape[0], 0), dtype=np.float32)
    if device.startswith("cuda"):
        import torch

        Wt = torch.from_numpy(W).to(device)
        if sp.issparse(A):
            At = torch.sparse_csr_tensor(
                torch.from_numpy(A.indptr.astype(np.int64)), torch.from_numpy(A.indices.astype(np.int64)),
                torch.from_numpy(A.data.astype(np.float32)), size=A.shape,
            ).to(device)
        else:
            At = torch.from_numpy(np.ascontiguousarray(A)).to(device)
        return (At @ Wt).cpu().numpy()
    if sp.issparse(A):
        return np.asarray(A @ W, dtype=np.float32)
    return np.asarray(A, dtype=np.float32) @ W


def encode_codes(sae: Any, X: np.ndarray, device: str = "cpu") -> sp.csr_matrix:
    """SAE codes of X as float32 CSR [n, M] (zeros dropped), via `saescope.sae.encode_csr`."""
    from saescope.sae import encode_csr

    if len(X) == 0:
        return sp.csr_matrix((0, int(sae.num_latents)), dtype=np.float32)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not X.flags.writeable:  # torch warns on read-only arrays (zero-copy Arrow buffers)
        X = X.copy()
    codes = encode_csr(sae, X)
    codes = sp.csr_matrix(codes, dtype=np.float32)
    codes.eliminate_zeros()
    return codes


def random_scores(ids: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) scores from a keyed hash of each id: independent of sharding and order."""
    key = str(seed).encode()
    out = np.empty(len(ids), dtype=np.float64)
    for i, x in enumerate(ids):
        h = hashlib.blake2b(str(x).encode(), digest_size=8, key=key).digest()
        out[i] = int.from_bytes(h, "little") / 2.0**64
    return out.astype(np.float32)


# ---------------------------------------------------------------------------- fitting
def unit_rows(A: np.ndarray | sp.csr_matrix, mean: np.ndarray | None) -> np.ndarray:
    """Dense float32 unit rows of `A - mean` (zero rows stay zero); for small matrices only."""
    D = A.toarray() if sp.issparse(A) else np.array(A, dtype=np.float32)
    if mean is not None:
        D = D - mean[None, :]
    n = np.linalg.norm(D, axis=1, keepdims=True)
    return np.divide(D, n, out=np.zeros_like(D), where=n > 0).astype(np.float32)


def unit_csr(A: sp.csr_matrix) -> sp.csr_matrix:
    """Rows of a sparse matrix scaled to unit L2 norm (zero rows stay zero)."""
    sq = np.asarray(A.multiply(A).sum(axis=1), dtype=np.float64).ravel()
    n = np.sqrt(sq)
    return sp.csr_matrix(sp.diags(np.divide(1.0, n, out=np.zeros_like(n), where=n > 0)) @ A)


def knn_rows(Q: np.ndarray, B: Any, k: int, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosines) [n, k] of the `k` rows of unit `B` most similar to each unit row of `Q`,
    leaving out matches with cosine > 1 - 1e-6 (a row is never its own neighbour). In torch on
    `device` (its top-k is several times faster than numpy's argpartition on a CPU, and on a GPU
    the products stay there: only the `[n, k]` results come back); blocks of `4 x _GRAPH_BLOCK`
    rows bound the memory to `block x len(B)` floats. `B` may already be a tensor on `device`."""
    import torch

    Bt = B if isinstance(B, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(B, dtype=np.float32)).to(device)
    nbr, cos = [np.zeros((0, k), dtype=np.int64)], [np.zeros((0, k), dtype=np.float32)]
    with torch.no_grad():
        for lo in range(0, len(Q), 4 * _GRAPH_BLOCK):
            q = torch.from_numpy(np.ascontiguousarray(Q[lo:lo + 4 * _GRAPH_BLOCK], dtype=np.float32))
            G = q.to(device) @ Bt.T
            G.masked_fill_(G > 1.0 - 1e-6, float("-inf"))
            v, i = torch.topk(G, k, dim=1)
            nbr.append(i.cpu().numpy().astype(np.int64))
            cos.append(v.cpu().numpy().astype(np.float32))
    c = np.concatenate(cos)
    c[~np.isfinite(c)] = 0.0
    return np.concatenate(nbr), c


def manifold_ranking(nodes: np.ndarray, n_seeds: int, k: int | None = None, alpha: float | None = None,
                     steps: int | None = None, device: str = "cpu",
                     text_nodes: sp.csr_matrix | None = None) -> np.ndarray:
    """Manifold-ranking scores (Zhou et al., NIPS 2003) of unit rows `nodes`, the first `n_seeds`
    of them the queries: kNN graph with positive-cosine weights, symmetrised by the maximum,
    normalised `D^-1/2 W D^-1/2`, then `steps` of `F <- alpha S F + (1 - alpha) y` (None: the
    module's `GRAPH_K`, `GRAPH_ALPHA` (`GRAPH_TEXT_ALPHA` with texts), `GRAPH_STEPS`). With
    `text_nodes` (unit tf-idf rows of the same nodes), `S = norm(S_emb + TEXT_WEIGHT S_text)`."""
    k = GRAPH_K if k is None else k
    if alpha is None:
        alpha = GRAPH_ALPHA if text_nodes is None else GRAPH_TEXT_ALPHA
    steps = GRAPH_STEPS if steps is None else steps
    if not 0 < alpha < 1:
        raise ConfigError(f"manifold ranking alpha must be in (0, 1), got {alpha}")
    n = len(nodes)
    k = min(k, n - 1)
    y = np.zeros(n)
    y[:n_seeds] = 1.0
    if k < 1:  # a single node: nothing to spread to
        return y.astype(np.float32)
    S = _normalised(_knn_graph(*knn_rows(nodes, nodes, k, device)))
    if text_nodes is not None:
        S = _normalised(S + TEXT_WEIGHT * _normalised(_knn_graph(*sparse_knn(text_nodes, text_nodes, k))))
    F = y.copy()
    for _ in range(steps):
        F = alpha * (S @ F) + (1.0 - alpha) * y
    return F.astype(np.float32)


def _knn_graph(nbr: np.ndarray, cos: np.ndarray) -> sp.csr_matrix:
    """Symmetric (by the maximum) kNN graph with the positive cosines as edge weights."""
    n, k = nbr.shape
    W = sp.csr_matrix((np.maximum(cos, 0.0).ravel(), nbr.ravel(), np.arange(0, n * k + 1, k)),
                      shape=(n, n))
    return sp.csr_matrix(W.maximum(W.T))


def _normalised(W: sp.csr_matrix) -> sp.csr_matrix:
    """`D^-1/2 W D^-1/2` (isolated nodes stay 0)."""
    d = np.asarray(W.sum(axis=1), dtype=np.float64).ravel()
    inv = np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
    return sp.csr_matrix(sp.diags(inv) @ W @ sp.diags(inv))


def pu_classifier(seed_F: np.ndarray | sp.csr_matrix, pool_F: np.ndarray | sp.csr_matrix,
                  C: float = PU_C, seed: int = 0) -> np.ndarray:
    """Weights of an L2 logistic regression of the seeds (label 1) against a pool sample (label 0).

    Positive-unlabelled learning (Elkan & Noto, "Learning classifiers from only positive and
    unlabeled data", KDD 2008): the pool is unlabelled, not negative, but under their
    "selected completely at random" assumption `p(seed | x)` is proportional to `p(target | x)`,
    so the classifier's ranking of the pool is the ranking by the probability of being on
    target. This is how quality classifiers for pretraining-data filtering are trained
    (reference text against unfiltered web text, GPT-3 appendix A, Brown et al. 2020). Classes
    are weighted to equal total weight (`class_weight="balanced"`), so `C` does not depend on
    the pool size. The intercept is dropped: it does not change the ranking.
    """
    from sklearn.linear_model import LogisticRegression

    if C <= 0:
        raise ConfigError(f"PU classifier C must be > 0, got {C}")
    stack = sp.vstack if sp.issparse(pool_F) else np.vstack
    F = stack([seed_F, pool_F])
    y = np.r_[np.ones(seed_F.shape[0]), np.zeros(pool_F.shape[0])]
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000, random_state=seed)
    model.fit(F, y)
    return model.coef_.ravel().astype(np.float32)


def enrichment_weights(seed_codes: sp.csr_matrix, pool_codes: sp.csr_matrix,
                       alpha: float = ENRICH_ALPHA) -> np.ndarray:
    """Per-latent log-odds `ln((p_seed + alpha/M) / (p_pool + alpha/M))` of activation-mass shares.

    `p_f = sum_i |a_if| / sum_i |a_i|_1` over the seeds and over the pool sample; the additive
    (Lidstone) smoothing `alpha / M` keeps latents that never fire among the seeds finite. DSIR's
    importance weights (Xie et al. 2023, arXiv:2302.03169) in SAE feature space; the score
    `enrichment_scores` is then multinomial naive Bayes (McCallum & Nigam 1998).
    """
    if alpha <= 0:
        raise ConfigError(f"enrichment smoothing alpha must be > 0, got {alpha}")
    m = seed_codes.shape[1]

    def shares(codes: sp.csr_matrix) -> np.ndarray:
        mass = np.bincount(codes.indices, weights=np.abs(codes.data).astype(np.float64), minlength=m)
        total = mass.sum()
        return mass / total if total > 0 else mass

    a = alpha / m
    return np.log((shares(seed_codes) + a) / (shares(pool_codes) + a)).astype(np.float32)


def enrichment_scores(codes: sp.csr_matrix, w: np.ndarray) -> np.ndarray:
    """`sum_f a_f w_f / |a|_1` per row (mean log-odds of the activation mass; 0 for empty rows)."""
    num = np.asarray(codes @ w.astype(np.float64), dtype=np.float64).ravel()
    l1 = np.asarray(abs(codes).sum(axis=1), dtype=np.float64).ravel()
    return np.divide(num, l1, out=np.zeros_like(num), where=l1 > 0).astype(np.float32)


def idf_weights(codes: sp.csr_matrix) -> np.ndarray:
    """Smoothed idf per latent: ln((1 + n) / (1 + df)) + 1 (Sparck Jones 1972; scikit-learn)."""
    n = codes.shape[0]
    df = np.bincount(codes.indices, minlength=codes.shape[1]).astype(np.float64)
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


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
    alpha: float = ENRICH_ALPHA,
    pu_c: float = PU_C,
    pu_input: bool = True,
    pu_feedback: int = PU_FEEDBACK,
    seed_texts: Sequence[str | None] | None = None, pool_texts: Sequence[str | None] | None = None,
    text_field: str = "text",
    text_max_terms: int = TEXT_MAX_TERMS,
    progress: bool = False,
) -> FittedSpace:
    """Fit a space on the seeds' raw inputs and a uniform sample of the pool's raw inputs.

    The sample gives the pool mean (centred spaces), latent frequencies (`sae-idf`), latent
    mass shares (`sae-enrich`, smoothed by `alpha`) and the k-means centres (`clusters > 0`,
    fitted with scikit-learn on unit rows of the sample). `embedding-graph` given `seed_texts`
    and `pool_texts` (column `text_field`) adds their lexical channel and scores with texts
    (`text_max_terms` n-grams per text at most, the highest-weighted; 0: all);
    `progress` shows its stages (minutes on a CPU at `GRAPH_NODES` nodes) on stderr."""
    features = _check_fit_inputs(name, seeds_X, pool_sample_X, sae, features)
    proto = FittedSpace(name=name, aggregate=aggregate, seed_units=None, centroid=None, mean=None,
                        weights=None, cluster_centers=None, features=None, random_seed=seed,
                        sae=sae, device=device, text_max_terms=text_max_terms)
    sample_A, _ = proto.encode(pool_sample_X)
    if name == "sae-idf":
        proto.weights = idf_weights(sample_A)
        sample_A, _ = proto.encode(pool_sample_X)
    if name in ("embedding-centered", "sae-centered", "sae-enrich") + PU_SPACES + GRAPH_SPACES:
        proto.mean = np.asarray(sample_A.mean(axis=0), dtype=np.float32).ravel()
    if seeds_X is not None:
        seeds_A, _ = proto.encode(seeds_X)
        U = unit_rows(seeds_A, proto.mean)
        c = U.astype(np.float64).mean(axis=0)
        cn = np.linalg.norm(c)
        proto.seed_units = U
        proto.centroid = (c / cn if cn > 0 else c).astype(np.float32)
        if name == "sae-enrich":
            proto.enrichment = enrichment_weights(seeds_A, sample_A, alpha)
        if name in GRAPH_SPACES:
            texts = _text_pair(seed_texts, pool_texts, len(seeds_X), len(pool_sample_X))
            _fit_graph(proto, seeds_X, pool_sample_X, U, seed, texts, text_field, progress)
        if name in PU_SPACES:
            _fit_pu(proto, seeds_X, pool_sample_X, seeds_A, sample_A, pu_c, pu_input, seed)
            m = min(pu_feedback * len(seeds_X), len(pool_sample_X) // 2)
            if m > 0:
                sample_codes = sample_A if sp.issparse(sample_A) else None
                top = np.argsort(-proto.pu_scores(pool_sample_X, sample_codes), kind="stable")[:m]
                _fit_pu(proto, np.vstack([seeds_X, pool_sample_X[top]]), pool_sample_X,
                        _stack(seeds_A, sample_A[top]), sample_A, pu_c, pu_input, seed)
    if clusters:
        proto.cluster_centers = fit_kmeans(sample_A, clusters, seed)
    if features is not None:
        proto.features = features
    return proto


def _check_fit_inputs(name: str, seeds_X: np.ndarray | None, pool_X: np.ndarray, sae: Any,
                      features: np.ndarray | list[int] | None) -> np.ndarray | None:
    """`fit_space`'s argument checks (ConfigError / InputError); the features as int64 ids."""
    from saescope.curate.config import SPACES

    if name not in SPACES:
        raise ConfigError(f"space: unknown {name!r} (choose from {', '.join(SPACES)})")
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
               n_seeds: int, n_pool: int) -> tuple[list, list] | None:
    """(seed texts, sample texts) as lists, None unless both are given; one text per row."""
    if seed_texts is None or pool_texts is None:
        return None
    if len(seed_texts) != n_seeds or len(pool_texts) != n_pool:
        raise ValueError("seed_texts / pool_texts must have one text per row")
    return list(seed_texts), list(pool_texts)


def _fit_graph(space: FittedSpace, seeds_X: np.ndarray, pool_X: np.ndarray, seed_units: np.ndarray,
               seed: int, texts: tuple[list, list] | None = None, text_field: str = "text",
               progress: bool = False) -> None:
    """Graph nodes (the unit centred seeds, then at most `GRAPH_NODES` sample rows) and their
    manifold-ranking scores; with `texts` (seeds', sample's), the lexical channel and the
    self-trained classifier; with an SAE, the `sae-enrich` weights that explain the rows."""
    from tqdm.auto import tqdm

    rows = np.arange(len(pool_X))
    if len(rows) > GRAPH_NODES:
        rows = np.sort(np.random.default_rng(seed).choice(rows, GRAPH_NODES, replace=False))
    nodes = np.vstack([seed_units, unit_rows(pool_X[rows], space.mean)]).astype(np.float32)
    space.graph_nodes = nodes
    n_stages = 1 + (texts is not None) + (space.sae is not None)  # graph, classifier, explanations
    with tqdm(total=n_stages, desc=f"fit {space.name} ({len(nodes):,} nodes)", unit="stage",
              disable=not progress) as bar:
        bar.set_postfix_str("graph (embeddings + words)" if texts is not None else "graph")
        if texts is None:
            space.graph_scores = manifold_ranking(nodes, len(seeds_X), device=space.device)
        else:
            counts = (hashed_counts(texts[0]), hashed_counts(texts[1]))
            node_counts = sp.vstack([counts[0], counts[1][rows]]).tocsr()
            space.text_idf = fit_idf(node_counts)
            space.text_nodes = text_units(node_counts, space.text_idf, space.text_max_terms)
            space.graph_scores = manifold_ranking(nodes, len(seeds_X), device=space.device,
                                                  text_nodes=space.text_nodes)
        bar.update()
        if texts is not None:
            bar.set_postfix_str("classifier")
            _fit_feedback(space, seeds_X, pool_X, counts, seed)
            space.text_field = text_field
            bar.update()
        if space.sae is not None:
            bar.set_postfix_str("explanations")
            space.enrichment = enrichment_weights(encode_codes(space.sae, seeds_X, space.device),
                                                  encode_codes(space.sae, pool_X, space.device))
            bar.update()


def _fit_feedback(space: FittedSpace, seeds_X: np.ndarray, pool_X: np.ndarray,
                  counts: tuple[sp.csr_matrix, sp.csr_matrix], seed: int) -> None:
    """The self-trained classifier (`GRAPH_FEEDBACK`) and the standardisation of the two scores
    over the pool sample (`graph_fuse`); `counts`: the seeds' and the sample's `hashed_counts`."""
    T_seed = text_units(counts[0], space.text_idf, space.text_max_terms)  # type: ignore[arg-type]
    T_pool = text_units(counts[1], space.text_idf, space.text_max_terms)  # type: ignore[arg-type]
    f = space.graph_induction(pool_X, T_pool).astype(np.float64)
    feats_pool = sp.hstack([sp.csr_matrix(unit_rows(pool_X, space.mean)), T_pool]).tocsr()
    feats_seed = sp.hstack([sp.csr_matrix(unit_rows(seeds_X, space.mean)), T_seed]).tocsr()
    m = min(GRAPH_FEEDBACK * len(seeds_X), len(pool_X) // 2)
    top = np.argsort(-f, kind="stable")[:m]
    space.graph_coef = pu_classifier(sp.vstack([feats_seed, feats_pool[top]]).tocsr(), feats_pool,
                                     GRAPH_FEEDBACK_C, seed)
    z = space.graph_classifier(pool_X, T_pool)
    space.graph_fuse = np.array([f.mean(), _sd(f), z.mean(), _sd(z)], dtype=np.float64)


def _sd(a: np.ndarray) -> float:
    s = float(a.std())
    return s if s > 0 else 1.0


def _stack(A: np.ndarray | sp.csr_matrix, B: np.ndarray | sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
    return sp.vstack([A, B]).tocsr() if sp.issparse(A) else np.vstack([A, B])


def _fit_pu(space: FittedSpace, seeds_X: np.ndarray, pool_X: np.ndarray,
            seeds_A: np.ndarray | sp.csr_matrix, pool_A: np.ndarray | sp.csr_matrix,
            C: float, with_input: bool, seed: int) -> None:
    """The PU classifier's features: the unit SAE code (`sae-pu`) beside the unit centred input
    (both blocks of norm 1, so neither dominates by scale); `embedding-pu` uses the input only."""
    blocks_s, blocks_p = [], []
    if space.name == "sae-pu":
        blocks_s.append(unit_csr(sp.csr_matrix(seeds_A)))
        blocks_p.append(unit_csr(sp.csr_matrix(pool_A)))
    if space.name == "embedding-pu" or with_input:
        space.input_mean = np.asarray(pool_X.mean(axis=0), dtype=np.float32)
        blocks_s.append(sp.csr_matrix(unit_rows(seeds_X, space.input_mean)))
        blocks_p.append(sp.csr_matrix(unit_rows(pool_X, space.input_mean)))
    w = pu_classifier(sp.hstack(blocks_s).tocsr(), sp.hstack(blocks_p).tocsr(), C, seed)
    m = 0
    if space.name == "sae-pu":
        m = int(seeds_A.shape[1])
        space.pu_coef = w[:m]
    if space.input_mean is not None:
        space.pu_coef_input = w[m:]


def fit_kmeans(A: np.ndarray | sp.csr_matrix, k: int, seed: int) -> np.ndarray:
    """k-means (scikit-learn, k-means++ init) on the unit rows of a sample; dense [k, D] centres."""
    from sklearn.cluster import KMeans

    if A.shape[0] < k:
        raise ConfigError(f"clusters={k} but the pool sample has only {A.shape[0]} rows")
    if sp.issparse(A):
        norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        U = sp.diags(inv.astype(np.float32)) @ A
        U = sp.csr_matrix(U, dtype=np.float32)
    else:
        U = unit_rows(A, None)
    km = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100)
    km.fit(U)
    return np.asarray(km.cluster_centers_, dtype=np.float32)
