"""`embedding-graph` (the default): manifold ranking on a kNN graph, scored by induction.

Manifold ranking (Zhou, Weston, Gretton, Bousquet & Schoelkopf, "Ranking on Data Manifolds",
NIPS 2003) on a k-nearest-neighbour graph of the unit centred inputs of the seeds and the pool
sample (`GraphConfig.k` neighbours, edge weight the positive cosine, symmetrised,
`S = D^-1/2 W D^-1/2`): `F <- alpha S F + (1 - alpha) y` from `y` = 1 on the seeds, `steps` steps
(the truncated series of the closed form `(I - alpha S)^-1 y`). A row's score is the mean of `F`
over its `k` nearest graph nodes, weighted by cosine (the induction formula of Delalleau, Bengio &
Le Roux, "Efficient non-parametric function induction in semi-supervised learning", AISTATS
2005), so rows outside the sample are scored in one pass and a row's score does not depend on
whether it was sampled: a sampled row never counts as its own neighbour, by identity (its id),
not by value, so an exact copy of a seed keeps the seed as its best neighbour. The score spreads
from the seeds along the pool's own dense regions, so rows of the target that are far from the
seed centroid but close to other target rows are found.

Lexical channel (when the seeds and the pool have texts; `SelectionConfig.use_text`): the nodes'
texts become unit tf-idf rows of hashed word n-grams (`curate.text`), the graph is
`norm(S_emb + text_weight S_text)` with `S_text` the normalised `k`-NN graph of their cosines (a
sum of graphs, as in multi-view graph ranking), a row's induced score averages its embedding and
its text neighbours with the same weights, and a classifier self-trained from the graph's best
rows (`feedback`) adds the words and directions that separate the seeds' region from its
neighbours; the score is the sum of the two standardised scores. With an SAE, the why-columns
split the `sae-enrich` score of the row over its latents (which of the concepts that set the
seeds apart it carries); the graph score itself belongs to the row's neighbours, not to latents.
Similarity columns as `embedding-centered`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from saescope.curate.knn import (
    ann_top_k,
    hnsw_index,
    index_from_array,
    index_to_array,
    rerank_sparse,
    shortlist_sparse,
    top_k,
)
from saescope.curate.spaces.base import Chunk, FitData, FittedSpace, Space, register
from saescope.curate.spaces.cascade import Cascade, fit_cascade, seed_cosines
from saescope.curate.spaces.enrich import ExplainedByEnrichment, enrichment_weights
from saescope.curate.spaces.pu import pu_classifier
from saescope.curate.text import TEXT_FEATURES, fit_idf, hashed_counts, text_units
from saescope.errors import ConfigError
from saescope.linalg import unit_rows

INDEXES = ("auto", "exact", "approx")
"""`GraphConfig.index` choices."""


@dataclass
class GraphConfig:
    """Parameters of `embedding-graph` (saved with the fit, part of the scoring key)."""

    k: int = 20
    """Neighbours per node of the kNN graph and per scored row. Chosen with `alpha` on the 4 MMLU
    domains x seed draws 0-1 of `benchmarks/curate_mmlu.py` (tried 10, 20; 40 for the induction),
    reported on the 10 subjects, which played no part in it."""
    alpha: float = 0.95
    """Propagation weight of manifold ranking without texts (the share of a node's score that
    comes from its neighbours; `1 - alpha` from the seeds). Chosen on the same tuning cells (tried
    0.5, 0.8, 0.9, 0.95, 0.99; 0.99 over-smooths into neighbouring domains)."""
    text_alpha: float = 0.9
    """Propagation weight of the graph with the lexical channel (tried 0.9, 0.95 on the tuning
    cells of the lexical channel)."""
    steps: int = 40
    """Propagation steps (`alpha^40` = 0.13 of the series is cut: the ranking is the truncated
    personalised-PageRank series, stable by then)."""
    nodes: int = 50_000
    """At most this many pool-sample rows become graph nodes (beside the seeds): the kNN graph
    costs `nodes^2 d` multiply-adds once, and each scored row `nodes x d`."""
    text_weight: float = 0.5
    """Weight of the lexical graph: `norm(norm(W_emb) + text_weight norm(W_text))`. Chosen on the
    tuning cells of `benchmarks/curate_mmlu.py` (4 domains and 10 tuning subjects x draws 0-1;
    tried 0.5 and 1, and a graph on the summed similarities, which found fewer)."""
    feedback: int = 3
    """Self-training after the graph (lexical channel only): the `feedback x seeds` best
    graph-scored sample rows join the seeds as positives of an L2 logistic regression against the
    pool sample on the unit centred input beside the unit tf-idf row (self-training, Yarowsky,
    ACL 1995; PU feedback, Liu et al., ICDM 2003). Chosen on the tuning cells."""
    feedback_c: float = 0.1
    """Inverse L2 strength of the self-trained classifier (tried 0.03 and 0.1 on the tuning cells)."""
    index: str = "auto"
    """Neighbour search of the node graph and of the scored rows: `exact` (every node compared,
    the reference), `approx` (a faiss HNSW index over the nodes' embeddings; a row's text
    neighbours are found among its embedding neighbours and a shortlist from an inverted index
    over the nodes' n-grams, re-ranked by their exact tf-idf cosine) or `auto`: `approx` when the
    pool is larger than the node sample (the caller gives `FitData.pool_rows`; there exact costs
    `nodes x d` a pool row and the fit `nodes^2 d` twice, minutes at 50,000 nodes), `exact` when
    every pool row can be a node (the demo; MMLU at fit sample 1). The fitted space saves the
    index it used. On the 14 targets x 5 draws of `benchmarks/curate_approx_mmlu.py --all`
    (every pool row a node) approx was -.001 / -.002 from exact at p@100 / p@500; at 1/10 and
    1/50 of the pool see docs/results/curation.md."""
    ef_search: int = 21
    """`approx`: HNSW candidate list per query (at least `k + 1`; larger: closer to exact,
    slower). With `text_query_terms` and `text_shortlist`, chosen on 4 MMLU tuning subjects x draw
    0 of `benchmarks/curate_approx_mmlu.py --tuning` (tried 32 / 8 / 16 and 21 / 4 / 16: equal
    precision, the second cheaper), reported on the held-out subjects (docs/results/curation.md)."""
    text_shortlist: int = 16
    """`approx` with texts: nodes shortlisted per row by the inverted index (beside the row's
    embedding neighbours), then re-ranked by their exact cosine."""
    text_query_terms: int = 4
    """`approx` with texts: the row's highest-weighted n-grams whose posting lists make the
    shortlist (fewer: shorter lists, cheaper, rougher)."""
    fit_shortlist: int = 64
    """`approx` with texts: `text_shortlist` for the text neighbours of the nodes themselves (the
    graph that manifold ranking spreads over), searched once at fit time, so it can afford a
    longer shortlist than the scored rows. With `fit_query_terms` chosen without labels, by the
    share of the exact 20 text neighbours found among 50,000 jittered MMLU rows
    (`benchmarks/curate_approx_recall.py`; tried 16 / 4, 32 / 8, 64 / 16: 46% / 63% / 81% of
    them, 88% / 95% / 98.5% of their cosine mass), reported on the MMLU benchmark's 14 targets x
    5 draws (docs/results/curation.md)."""
    fit_query_terms: int = 16
    """`approx` with texts: `text_query_terms` for the nodes' own text neighbours (fit time)."""
    node_sample: str = "seeded"
    """Which pool rows become nodes: `uniform` (a uniform draw of the pool sample) or `seeded`
    (the same, plus each seed's `seed_neighbours` nearest pool rows by centred cosine, found by a
    first pass over the whole pool, `seeded_rows`, so a rare target that the uniform sample
    barely holds still has nodes around the seeds). Rows already in the sample are not added
    twice, and the uniform draw shrinks to keep `nodes`: when the whole pool is the sample the
    nodes, and the scores, are those of `uniform` (and `saescope curate` skips the first pass).
    `seeded` with `second_pass` 20 and `feedback_from` nodes is the default: with the graph
    sampling 1/10 of the pool it kept 104% / 95% of the full-graph gain over the centred
    baseline on the 10 MMLU tuning subjects x draw 0 (uniform: 59% / 49%; seeded alone 100% / 78%;
    `benchmarks/curate_mmlu.py --fit-sample 1,0.1 --tuning-subjects 10 --graph-variants ...`),
    reported on the held-out subjects in docs/results/curation.md."""
    seed_neighbours: int = 60
    """`seeded`: nearest pool rows added per seed. Chosen on 5 MMLU tuning subjects x draw 0 of
    `benchmarks/curate_mmlu.py --fit-sample 1,0.1 --tuning-subjects 5` (tried 20, 60), reported
    on the 10 held-out subjects (docs/results/curation.md)."""
    second_pass: int = 20
    """Rows per seed added as nodes by a second pass (0: none): the graph is fitted, scores the
    first pass's shortlist (each seed's `shortlist` nearest pool rows), and is fitted again with
    the best-scored shortlist rows that are not nodes yet as more nodes (the graph's own best
    rows densify the target's region that a uniform sample covers thinly). 20 against 0 on the
    10 MMLU tuning subjects x draw 0 at 1/10 of the pool (kept 104% / 95% of the full-graph gain
    against 104% / 90%, see `node_sample`). Admitting a shortlist row only if the first graph
    scores it at least the 5% or 25% quantile of its scores of the seeds' `seed_neighbours`
    nearest rows was tried on the same rows (105% / 96%, 102% / 94%: within one draw's noise)
    and not kept: the second pass adds no row of another topic where the shortlist holds more
    of the target than it adds (docs/results/curation.md)."""
    shortlist: int = 200
    """`second_pass`: nearest pool rows per seed that the first pass keeps as its candidates
    (the one value tried)."""
    feedback_from: str = "nodes"
    """Where the self-trained classifier's pseudo-positives come from: `sample` (the best induced
    rows of the uniform pool sample, which at scale holds few target rows) or `nodes` (of the
    sample and the first pass's node rows; the unlabelled rows stay the uniform sample). Chosen
    on the tuning subjects with `node_sample` (seeded: 100% / 78% kept with `sample`, 104% / 90%
    with `nodes`)."""
    cascade: str = "auto"
    """Two-stage scoring (`curate.spaces.cascade`): `auto` scores every row with a cheap linear
    proxy of the graph score first and only the rows it cannot rule out with the full graph, when
    the caller gives the budget's share of the pool (`saescope curate` does so only for a plain
    top-budget selection of a pool larger than the node sample); `off`: every row in full (the
    reference)."""
    cascade_depth: float = 1.5
    """The cut is calibrated on the sample rows whose full score is in the top `cascade_depth x
    budget` rows' share of the sample (the rows that could reach the budget, with room)."""
    cascade_margin: float = 1.0
    """The cut keeps `1 + cascade_margin` times the share of sample rows whose proxy reaches
    that of the `cascade_recall` quantile of those rows (a margin for the pool's rows that the
    sample does not hold)."""
    cascade_recall: float = 0.9
    """Share of those sample rows, the ones the proxy ranks highest, that the cut is set to keep
    (1: every one; lower: rows that the graph ranks high and the proxy low may be given up).
    Chosen with `cascade_depth` 1.5 and `cascade_margin` 1 (the only depth tried; margins 0.5
    and 1, recalls 1, .99, .95, .9) on the 10 MMLU tuning subjects x draw 0 at 1/10 and 1/50 of
    the pool (no setting moved p@100 or p@500 by more than .002; .9 with margin 1 rescored the
    fewest rows while keeping at least 99% of the full scores' top 100 and 98% of the top 500)
    and on the synthetic 200,000-row pool of `benchmarks/curate_pool_scale.py` (recall 1 had
    to rescore 93% of it, .9 rescored 4.6%); docs/results/curation.md."""
    cascade_min_rows: int = 100
    """Calibrate on at least this many of the sample's best rows (a tiny budget share would leave
    a handful)."""
    cascade_ridge: float = 1.0
    """L2 strength of the proxy's ridge regression on the sample. The proxy's features (unit
    centred input, cosines to the nearest seed and to the seed centroid) and this strength were
    chosen on 5 MMLU tuning subjects x draw 0 at 1/10 of the pool and the synthetic pool, among
    the centred cosine, the nearest-seed cosine, the classifier's embedding part, logistic
    regressions on the sample's top rows and ridge regressions (1, 10, 100; on the features or
    on the input alone): it needed the fewest rows rescored to keep every top row."""

    split_index: bool = True
    """`approx` with first-pass nodes: the first pass's rows get an HNSW index of their own beside
    that of the seeds and the uniform sample (`knn.PartedIndex`: both searched, merged by
    cosine). In one index that dense cluster traps the greedy search of rows of other topics on
    noisy vectors, which then get the cluster as neighbours and a high score. On the synthetic
    pool of `benchmarks/curate_pool_scale.py` (precision at 40% of the target; chosen on these
    rows, docs/results/curation.md): 1M rows with the graph on 1/20: .991 split, .941 in one
    index (exact: 1.000); 200k rows on 1/20, 1/40, 1/200: 1.000, 1.000, .9985 split, .996,
    .9985, .995 in one index. With the seeds in the first pass's index instead: 1M .912 (their
    chance cosines then always compete). No effect without first-pass nodes or with `index`
    exact."""

    def __post_init__(self) -> None:
        for name in ("k", "steps", "nodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"graph.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("alpha", "text_alpha"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"manifold ranking {name} must be in (0, 1), got {getattr(self, name)}")
        if self.text_weight < 0 or self.feedback < 0:
            raise ConfigError("graph.text_weight and graph.feedback must be >= 0")
        if not self.feedback_c > 0:
            raise ConfigError(f"graph.feedback_c must be > 0, got {self.feedback_c}")
        if self.index not in INDEXES:
            raise ConfigError(f"graph.index: unknown {self.index!r} (choose from {', '.join(INDEXES)})")
        if min(self.ef_search, self.text_shortlist, self.text_query_terms, self.fit_shortlist,
               self.fit_query_terms) < 1:
            raise ConfigError("graph.ef_search, text_shortlist, text_query_terms, fit_shortlist and "
                              "fit_query_terms must be >= 1")
        if self.node_sample not in ("uniform", "seeded"):
            raise ConfigError(f"graph.node_sample: unknown {self.node_sample!r} (choose from uniform, seeded)")
        if self.feedback_from not in ("sample", "nodes"):
            raise ConfigError(f"graph.feedback_from: unknown {self.feedback_from!r} (choose from sample, nodes)")
        if self.second_pass < 0 or self.shortlist < 1:
            raise ConfigError("graph.second_pass must be >= 0 and graph.shortlist >= 1")
        if self.seed_neighbours < 1:
            raise ConfigError(f"graph.seed_neighbours must be >= 1, got {self.seed_neighbours}")
        if self.cascade not in ("auto", "off"):
            raise ConfigError(f"graph.cascade: unknown {self.cascade!r} (choose from auto, off)")
        if not self.cascade_depth > 0 or self.cascade_margin < 0 or self.cascade_min_rows < 1 or self.cascade_ridge < 0 \
                or not 0 < self.cascade_recall <= 1:
            raise ConfigError("graph.cascade_depth must be > 0, graph.cascade_margin and graph.cascade_ridge >= 0, "
                              "graph.cascade_min_rows >= 1, graph.cascade_recall in (0, 1]")


@register
class GraphSpace(ExplainedByEnrichment, Space):
    """Manifold ranking on the nodes, induced to any row (see the module docstring)."""

    names = ("embedding-graph",)
    config_class = GraphConfig

    def __init__(self, cfg: GraphConfig | None = None) -> None:
        self.cfg = cfg or GraphConfig()
        """Parameters (saved with the fit)."""
        self.graph_nodes: np.ndarray | None = None
        """float32 [n, d] unit centred inputs of the nodes (seeds first)."""
        self.graph_scores: np.ndarray | None = None
        """float32 [n] manifold-ranking score of each node."""
        self.node_ids: pa.StringArray | None = None
        """Ids of the pool-sample nodes (after the seeds), for the identity rule (None: unknown)."""
        self.text_field: str | None = None
        """Text column of the lexical channel (None: embeddings only)."""
        self.text_idf: np.ndarray | None = None
        """float32 [TEXT_FEATURES] idf of the hashed word n-grams, fitted on the nodes."""
        self.text_nodes: sp.csr_matrix | None = None
        """[n, TEXT_FEATURES] unit tf-idf rows of the nodes' texts (seeds first)."""
        self.text_max_terms = 0
        """N-grams kept per text (`curate.text.prune_rows`; 0: all, as in fits saved before)."""
        self.graph_coef: np.ndarray | None = None
        """float32 [d + TEXT_FEATURES] self-trained classifier on the unit centred input and the
        unit tf-idf row."""
        self.graph_fuse: np.ndarray | None = None
        """float64 [4] (mean, sd) of the induced score and of the classifier over the pool sample."""
        self.enrichment: np.ndarray | None = None
        """float32 [M] `sae-enrich` weights that explain the rows (with an SAE; None: no SAE)."""
        self.mean: np.ndarray | None = None
        """float32 [d] centring of the inputs (the representation's pool mean)."""
        self.device = "cpu"
        """Where the embedding products run."""
        self.ann: Any = None
        """The faiss HNSW index over `graph_nodes` (`index` approx; None: exact search)."""
        self._text_index: sp.csr_matrix | None = None
        """`text_nodes` transposed, the inverted index of `approx` (built when first needed)."""
        self.cascade: Cascade | None = None
        """The first stage of two-stage scoring (`GraphConfig.cascade`; None: every row in full)."""
        self._sample_full: np.ndarray | None = None
        """The pool sample's full scores from the last fit of the classifier (not saved)."""

    # ------------------------------------------------------------------ fit
    def fit(self, data: FitData, rep: FittedSpace) -> None:
        """Nodes (the unit centred seeds, then at most `nodes` sample rows, then the first pass's
        seed neighbours with `node_sample` seeded) and their scores; with texts, the lexical
        channel and the self-trained classifier; with `second_pass`, the graph fitted again with
        the first graph's best-scored shortlist rows as more nodes; with an SAE, the weights that
        explain the rows."""
        from tqdm.auto import tqdm

        self.mean, self.device, self.text_max_terms = rep.mean, rep.device, data.text_max_terms
        texts = data.seed_texts is not None and data.pool_texts is not None
        if texts and data.seeded_X is not None and data.seeded_texts is None:
            raise ConfigError("graph.node_sample seeded / second_pass with texts needs the first pass's texts")
        self.cfg = replace(self.cfg, index=resolve_index(self.cfg, len(data.pool_X), data.pool_rows))
        extra = self._seeded_extra(data)
        passes = 1 + (self.cfg.second_pass > 0 and data.seeded_X is not None)
        rows = np.arange(len(data.pool_X))
        budget = max(1, self.cfg.nodes - len(extra) - (passes - 1) * self.cfg.second_pass * len(data.seeds_X))
        if len(rows) > budget:
            rows = np.sort(np.random.default_rng(data.seed).choice(rows, budget, replace=False))
        counts = None
        if texts:
            counts = (hashed_counts(data.seed_texts), hashed_counts(data.pool_texts),
                      hashed_counts(data.seeded_texts) if data.seeded_X is not None else None)
        n_stages = passes * (1 + texts) + (rep.sae is not None)  # graph, classifier, explanations
        with tqdm(total=n_stages, desc=f"fit {rep.name}", unit="stage", disable=not data.progress) as bar:
            self._fit_nodes(data, rep, rows, extra, counts, bar)
            if passes == 2:
                more = self._second_pass_rows(data, extra, counts)
                if len(more):  # none when every shortlist row is a node already
                    self._fit_nodes(data, rep, rows, np.union1d(extra, more), counts, bar)
            if data.cascade_share is not None and self.cfg.cascade == "auto":
                self._fit_cascade(data, rep, data.cascade_share)
            if rep.sae is not None:
                bar.set_postfix_str("explanations")
                self.enrichment = enrichment_weights(data.encode("seeds"), data.encode("pool"))
                bar.update()

    def _drop_caches(self) -> None:
        """Forget what scoring derived from the nodes (the device copy, the inverted index): a
        refit (`second_pass`) changes them."""
        self._nodes_tensor = None
        self._text_index = None

    def _seeded_extra(self, data: FitData) -> np.ndarray:
        """Positions in `data.seeded_X` of the first pass's rows that become nodes beside the
        sample (`node_sample` seeded: each seed's `seed_neighbours` nearest, by `seeded_rank`)
        whose id is not a sample row's; empty otherwise."""
        if self.cfg.node_sample != "seeded" or data.seeded_X is None or not len(data.seeded_X):
            return np.zeros(0, dtype=np.int64)
        keep = np.ones(len(data.seeded_X), dtype=bool)
        if data.seeded_rank is not None:
            keep &= np.asarray(data.seeded_rank) < self.cfg.seed_neighbours
        if data.pool_ids is not None and data.seeded_ids is not None:
            have = {str(i) for i in np.asarray(data.pool_ids)}
            keep &= np.array([str(i) not in have for i in np.asarray(data.seeded_ids)], dtype=bool)
        return np.flatnonzero(keep)[: max(0, self.cfg.nodes - 1)]

    def _fit_nodes(self, data: FitData, rep: FittedSpace, rows: np.ndarray, extra: np.ndarray,
                   counts: tuple | None, bar: Any) -> None:
        """The graph on the seeds, the sample's `rows` and the first pass's `extra` rows: nodes,
        ids, lexical channel, manifold-ranking scores and (texts) the self-trained classifier."""
        m = len(rep.seed_units)
        d = rep.seed_units.shape[1]
        self.graph_nodes = np.vstack([rep.seed_units, unit_rows(data.pool_X[rows], rep.mean),
                                      unit_rows(data.seeded_X[extra], rep.mean) if len(extra)
                                      else np.zeros((0, d), np.float32)])
        if data.pool_ids is not None:
            ids = [str(i) for i in np.asarray(data.pool_ids)[rows]]
            if len(extra):
                ids += [str(i) for i in np.asarray(data.seeded_ids)[extra]]
            self.node_ids = pa.array(ids, pa.string())
        bar.set_description(f"fit {rep.name} ({len(self.graph_nodes):,} nodes)")
        bar.set_postfix_str("graph (embeddings + words)" if counts is not None else "graph")
        if counts is not None:
            parts = [counts[0], counts[1][rows]] + ([counts[2][extra]] if len(extra) else [])
            node_counts = sp.vstack(parts).tocsr()
            self.text_idf = fit_idf(node_counts)
            self.text_nodes = text_units(node_counts, self.text_idf, self.text_max_terms)
        if self.cfg.index == "approx":
            parts = None
            if self.cfg.split_index and len(extra):  # the first pass's rows apart
                parts = [np.arange(m + len(rows)), m + len(rows) + np.arange(len(extra))]
            self.ann = hnsw_index(self.graph_nodes, parts)
        self._drop_caches()
        self.graph_scores = manifold_ranking(self.graph_nodes, m, cfg=self.cfg, device=self.device,
                                             text_nodes=self.text_nodes, ann=self.ann)
        bar.update()
        if counts is not None:
            bar.set_postfix_str("classifier")
            sample_self = np.full(len(data.pool_X), -1, dtype=np.int64)
            sample_self[rows] = m + np.arange(len(rows))
            extra_self = m + len(rows) + np.arange(len(extra))
            self._fit_feedback(data, counts, sample_self, extra, extra_self)
            self.text_field = data.text_field
            bar.update()

    def _second_pass_rows(self, data: FitData, extra: np.ndarray, counts: tuple | None) -> np.ndarray:
        """Positions in `data.seeded_X` of the `second_pass x seeds` first-pass rows that the
        first graph scores best, among those that are not nodes yet (no more than keep the
        nodes beside the seeds within `nodes`)."""
        X = data.seeded_X
        T = None if counts is None else text_units(counts[2], self.text_idf, self.text_max_terms)
        own = self.self_index(data.seeded_ids)
        f = self._score(X, T, own)
        free = np.ones(len(X), dtype=bool)
        free[extra] = False
        if own is not None:
            free &= own < 0
        cand = np.flatnonzero(free)
        room = self.cfg.nodes - (len(self.graph_nodes) - len(data.seeds_X))  # type: ignore[arg-type]
        n = max(0, min(len(cand), self.cfg.second_pass * len(data.seeds_X), room))  # type: ignore[arg-type]
        return np.sort(cand[np.argsort(-f[cand], kind="stable")[:n]])

    def _fit_feedback(self, data: FitData, counts: tuple, sample_self: np.ndarray,
                      extra: np.ndarray, extra_self: np.ndarray) -> None:
        """The self-trained classifier (`feedback`) and the standardisation of the two scores over
        the pool sample (`graph_fuse`); `counts`: the seeds', the sample's and the first pass's
        `hashed_counts`. The pseudo-positives are the best induced rows of the sample and of the
        first pass's node rows (`extra`, at node indices `extra_self`) when `feedback_from` is
        nodes; the unlabelled rows are the sample."""
        T_seed = text_units(counts[0], self.text_idf, self.text_max_terms)
        T_pool = text_units(counts[1], self.text_idf, self.text_max_terms)
        f = self.induction(data.pool_X, T_pool, sample_self).astype(np.float64)
        feats_pool = sp.hstack([sp.csr_matrix(unit_rows(data.pool_X, self.mean)), T_pool]).tocsr()
        feats_seed = sp.hstack([sp.csr_matrix(unit_rows(data.seeds_X, self.mean)), T_seed]).tocsr()
        cand_f, cand_feats = f, feats_pool
        if self.cfg.feedback_from == "nodes" and len(extra):
            T_extra = text_units(counts[2][extra], self.text_idf, self.text_max_terms)
            X_extra = data.seeded_X[extra]
            f_extra = self.induction(X_extra, T_extra, extra_self).astype(np.float64)
            cand_f = np.concatenate([f, f_extra])
            cand_feats = sp.vstack([feats_pool, sp.hstack([sp.csr_matrix(unit_rows(X_extra, self.mean)),
                                                           T_extra])]).tocsr()
        m = min(self.cfg.feedback * len(data.seeds_X), len(cand_f) // 2)
        top = np.argsort(-cand_f, kind="stable")[:m]
        self.graph_coef = pu_classifier(sp.vstack([feats_seed, cand_feats[top]]).tocsr(), feats_pool,
                                        self.cfg.feedback_c, data.seed)
        z = self.classifier(data.pool_X, T_pool)
        self.graph_fuse = np.array([f.mean(), _sd(f), z.mean(), _sd(z)], dtype=np.float64)
        self._sample_full = (f - f.mean()) / _sd(f) + (z - z.mean()) / _sd(z)  # `_score` of the sample

    # ------------------------------------------------------------------ score
    def score(self, chunk: Chunk, rep: FittedSpace) -> np.ndarray:
        """The induced graph score, plus (lexical channel) the standardised self-trained
        classifier beside the standardised induced score; with a cascade, only for the rows its
        proxy does not rule out (the others score below every full score, in the proxy's order)."""
        rows = np.arange(len(chunk.X))
        out = None
        if self.cascade is not None and self.cascade.active:
            p = self.cascade.proxy(unit_rows(chunk.X, self.mean), chunk.max_sim, chunk.centroid_sim)
            rows = np.flatnonzero(p >= self.cascade.cut)
            out = self.cascade.below(p)
            if len(rows) == len(chunk.X):
                out = None
        X = chunk.X if out is None else chunk.X[rows]
        T = None
        if self.text_field is not None:
            texts = chunk.texts if out is None else [chunk.texts[i] for i in rows]  # type: ignore[index]
            T = text_units(texts, self.text_idf, self.text_max_terms)  # type: ignore[arg-type]
        ids = chunk.ids if out is None or chunk.ids is None else np.asarray(chunk.ids)[rows]
        full = self._score(X, T, self.self_index(ids))
        if out is None:
            return full
        out[rows] = full
        return out.astype(np.float32)

    def _fit_cascade(self, data: FitData, rep: FittedSpace, share: float) -> None:
        """The cascade's proxy and cut (`curate.spaces.cascade.fit_cascade`), calibrated on the
        pool sample's full scores for a budget of `share` of the pool."""
        full = self._sample_full
        if full is None:  # no lexical channel: the sample's induced scores were not needed yet
            full = self.induction(data.pool_X, None, self.self_index(data.pool_ids)).astype(np.float64)
        U = unit_rows(data.pool_X, self.mean)
        cfg = self.cfg
        self.cascade = fit_cascade(U, *seed_cosines(U, rep.seed_units, rep.centroid), full, share,
                                   self._full_score_floor(), cfg.cascade_depth, cfg.cascade_margin,
                                   cfg.cascade_min_rows, cfg.cascade_ridge, cfg.cascade_recall)
        self._sample_full = None

    def _full_score_floor(self) -> float:
        """A lower bound of `_score` over any row: the induced score is a weighted mean of node
        scores (or 0), and the classifier's `|u . w_emb + t . w_text| <= |w_emb| + |w_text|` for
        unit (or zero) rows."""
        lo = min(0.0, float(self.graph_scores.min()))  # type: ignore[union-attr]
        if self.graph_fuse is None or self.graph_coef is None:
            return lo
        d = len(self.mean)  # type: ignore[arg-type]
        mf, sf, mz, sz = self.graph_fuse
        z_lo = -(np.linalg.norm(self.graph_coef[:d].astype(np.float64))
                 + np.linalg.norm(self.graph_coef[d:].astype(np.float64)))
        return float((lo - mf) / sf + (z_lo - mz) / sz)

    def _score(self, X: np.ndarray, T: sp.csr_matrix | None, own: np.ndarray | None) -> np.ndarray:
        """`score` of raw rows `X` with their unit tf-idf rows `T` (None: no lexical channel) and
        their own node indices `own`."""
        if T is None:
            return self.induction(X, None, own)
        f = self.induction(X, T, own).astype(np.float64)
        z = self.classifier(X, T)
        mf, sf, mz, sz = self.graph_fuse  # type: ignore[misc]
        return ((f - mf) / sf + (z - mz) / sz).astype(np.float32)

    def self_index(self, ids: np.ndarray | None) -> np.ndarray | None:
        """Node index of each row that is itself a sampled node (by id; -1: none), or None."""
        if ids is None or self.node_ids is None or len(self.node_ids) == 0:
            return None
        pos = pc.index_in(pa.array(np.asarray(ids, dtype=object).astype(str), pa.string()),
                          value_set=self.node_ids)
        out = pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        m = len(self.graph_nodes) - len(self.node_ids)  # type: ignore[arg-type]
        return np.where(out >= 0, out + m, -1)

    def classifier(self, X: np.ndarray, T: sp.csr_matrix) -> np.ndarray:
        """Decision function (without intercept) of the self-trained classifier, float64 [n]."""
        d = len(self.mean)  # type: ignore[arg-type]
        U = unit_rows(X, self.mean).astype(np.float64)
        return U @ self.graph_coef[:d] + T @ self.graph_coef[d:].astype(np.float64)  # type: ignore[index]

    def induction(self, X: np.ndarray, T: sp.csr_matrix | None = None,
                  self_index: np.ndarray | None = None) -> np.ndarray:
        """Cosine-weighted mean of the graph scores of each row's `k` nearest nodes; with the
        lexical channel (`T`, the rows' unit tf-idf), `(e + w t) / (1 + w)` of the means over the
        embedding (`e`) and the text (`t`) neighbours (`w` = `text_weight`), as the graph's edges.
        `self_index`: each row's own node (-1: none), never its neighbour."""
        k = min(self.cfg.k, len(self.graph_nodes))  # type: ignore[arg-type]
        if len(X) == 0 or k < 1:
            return np.zeros(len(X), dtype=np.float32)
        texts = T is not None and self.text_nodes is not None
        nbr, cos, nbr_t, cos_t = _neighbours(unit_rows(X, self.mean), T if texts else None, self,
                                             k, self_index)
        e = _weighted_mean(np.maximum(cos, 0.0), self.graph_scores[nbr])  # type: ignore[index]
        if not texts:
            return e.astype(np.float32)
        t = _weighted_mean(np.maximum(cos_t, 0.0), self.graph_scores[nbr_t])  # type: ignore[index]
        w = self.cfg.text_weight
        return ((e + w * t) / (1.0 + w)).astype(np.float32)

    # ------------------------------------------ state (the why-columns: ExplainedByEnrichment)
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {k: v for k, v in (("graph_nodes", self.graph_nodes), ("graph_scores", self.graph_scores),
                                    ("text_idf", self.text_idf), ("graph_coef", self.graph_coef),
                                    ("graph_fuse", self.graph_fuse), ("enrichment", self.enrichment))
                  if v is not None}
        if self.text_nodes is not None:
            T = sp.csr_matrix(self.text_nodes)
            arrays.update(text_nodes_data=np.ascontiguousarray(T.data, dtype=np.float32),
                          text_nodes_indices=np.ascontiguousarray(T.indices, dtype=np.int64),
                          text_nodes_indptr=np.ascontiguousarray(T.indptr, dtype=np.int64))
        if self.ann is not None:
            arrays["graph_hnsw"] = index_to_array(self.ann)
        if self.cascade is not None:
            arrays.update(self.cascade.to_arrays())
        if self.node_ids is not None:
            offsets, data = self.node_ids.buffers()[1:3]
            off = np.frombuffer(offsets, np.int32, len(self.node_ids) + 1).copy()
            arrays["node_ids_offsets"] = off
            arrays["node_ids_data"] = (np.frombuffer(data, np.uint8, int(off[-1])).copy()
                                       if data is not None else np.zeros(0, np.uint8))
        meta = {"text_field": self.text_field, "text_max_terms": self.text_max_terms,
                "params": asdict(self.cfg)}
        if self.cascade is not None:
            meta["cascade"] = self.cascade.info
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> GraphSpace:
        g = cls(GraphConfig(**meta.get("params", {})))
        g.graph_nodes, g.graph_scores = arrays["graph_nodes"], arrays["graph_scores"]
        g.text_idf, g.graph_coef = arrays.get("text_idf"), arrays.get("graph_coef")
        g.graph_fuse, g.enrichment = arrays.get("graph_fuse"), arrays.get("enrichment")
        g.text_field, g.text_max_terms = meta.get("text_field"), int(meta.get("text_max_terms") or 0)
        if "text_nodes_data" in arrays:
            g.text_nodes = sp.csr_matrix(
                (arrays["text_nodes_data"], arrays["text_nodes_indices"], arrays["text_nodes_indptr"]),
                shape=(len(arrays["text_nodes_indptr"]) - 1, TEXT_FEATURES))
        if "graph_hnsw" in arrays:
            g.ann = index_from_array(arrays["graph_hnsw"])
        g.cascade = Cascade.from_arrays(arrays, meta.get("cascade"))
        if "node_ids_offsets" in arrays:
            off = arrays["node_ids_offsets"].astype(np.int32)
            g.node_ids = pa.StringArray.from_buffers(len(off) - 1, pa.py_buffer(off.tobytes()),
                                                     pa.py_buffer(arrays["node_ids_data"].tobytes()))
        return g

    def bind(self, rep: FittedSpace) -> None:
        self.mean, self.device = rep.mean, rep.device


def _neighbours(U: np.ndarray, T: sp.csr_matrix | None, g: GraphSpace, k: int,
                self_index: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(embedding neighbours, cosines, text neighbours, cosines) of unit rows `U` (and their unit
    tf-idf rows `T`) among the graph's nodes, exact or approximate (`GraphConfig.index`)."""
    if g.ann is not None:
        nbr, cos = ann_top_k(g.ann, U, k, g.cfg.ef_search, self_index)
        if T is None:
            return nbr, cos, None, None
        if g._text_index is None:
            g._text_index = sp.csr_matrix(g.text_nodes.T)  # type: ignore[union-attr]
        return (nbr, cos, *_text_approx(T, g.text_nodes, g._text_index, g.cfg, k, self_index, nbr))
    if getattr(g, "_nodes_tensor", None) is None:  # moved to the device once, not per chunk
        import torch

        g._nodes_tensor = torch.from_numpy(np.ascontiguousarray(g.graph_nodes)).to(g.device)
    nbr, cos = top_k(U, g._nodes_tensor, k, g.device, self_index)
    if T is None:
        return nbr, cos, None, None
    return (nbr, cos, *top_k(T, g.text_nodes, k, self_index=self_index))


def _text_approx(T: sp.csr_matrix, nodes: sp.csr_matrix, inverted: sp.csr_matrix, cfg: GraphConfig,
                 k: int, self_index: np.ndarray | None, emb_nbr: np.ndarray, of_nodes: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Text neighbours (approx): the rows' embedding neighbours `emb_nbr` and `text_shortlist`
    nodes from the inverted index (`inverted`: `nodes` transposed) over their `text_query_terms`
    best n-grams, re-ranked by the exact tf-idf cosine; `of_nodes`: the rows are the nodes (the
    graph, at fit time: `fit_shortlist`, `fit_query_terms`)."""
    L, terms = ((cfg.fit_shortlist, cfg.fit_query_terms) if of_nodes
                else (cfg.text_shortlist, cfg.text_query_terms))
    cand = shortlist_sparse(T, inverted, L, terms)
    return rerank_sparse(T, nodes, np.hstack([emb_nbr, cand]), k, self_index)


def seeded_rows(seed_units: np.ndarray, pool: np.ndarray | Iterable[np.ndarray],
                mean: np.ndarray | None, per_seed: int, device: str = "cpu",
                chunk: int = 65_536, ranks: bool = False, keep_rows: bool = False) -> Any:
    """The first pass of `node_sample` seeded: sorted pool positions of the union of each seed's
    `per_seed` nearest rows by cosine of the unit centred rows (`seed_units`: the seeds' unit
    centred rows; `mean`: the centring). `pool`: the raw rows, an array (read `chunk` rows at a
    time) or an iterable of consecutive chunks (a pool's shards). One matrix product per chunk and
    a running top-`per_seed` per seed, so memory is bounded by the chunk. `ranks`: also return
    each row's best rank among its seeds' nearest (0: a seed's nearest), as `(positions, ranks)`.
    `keep_rows`: also return the raw rows at those positions, kept during the pass (so the pool
    is not read again for them), as the last element of a tuple."""
    import torch

    if isinstance(pool, np.ndarray):
        pool = _chunks(pool, chunk)
    m = len(seed_units)
    best = np.full((m, 0), -np.inf, dtype=np.float32)
    pos = np.zeros((m, 0), dtype=np.int64)
    S = torch.from_numpy(np.ascontiguousarray(seed_units, dtype=np.float32)).to(device)
    start = 0
    kept_pos, kept_X = np.zeros(0, dtype=np.int64), None
    for X in pool:
        U = torch.from_numpy(np.ascontiguousarray(unit_rows(X, mean), dtype=np.float32)).to(device)
        c = (S @ U.T).cpu().numpy()
        if best.shape[1] == per_seed:  # full: only entries above a seed's current last can enter
            changed = _merge_top(best, pos, c, start)
        else:
            vals = np.hstack([best, c])
            idx = np.hstack([pos, np.broadcast_to(np.arange(start, start + len(X)), c.shape)])
            top = np.argsort(-vals, axis=1, kind="stable")[:, :per_seed]
            best, pos = np.take_along_axis(vals, top, 1), np.take_along_axis(idx, top, 1)
            changed = True
        if keep_rows and changed:
            kept_pos, kept_X = _kept_rows(np.unique(pos), kept_pos, kept_X, X, start)
        start += len(X)
    rows = (kept_X if kept_X is not None else np.zeros((0, seed_units.shape[1]), np.float32),)
    if not ranks:
        return (np.unique(pos), *rows) if keep_rows else np.unique(pos)
    flat, order = pos.ravel(), np.argsort(np.broadcast_to(np.arange(pos.shape[1]), pos.shape).ravel(), kind="stable")
    uniq, first = np.unique(flat[order], return_index=True)
    out = (uniq, (order[first] % max(pos.shape[1], 1)).astype(np.int64))
    return (*out, *rows) if keep_rows else out


def _merge_top(best: np.ndarray, pos: np.ndarray, c: np.ndarray, start: int) -> bool:
    """Merge the chunk's cosines `c` (pool positions from `start`) into each seed's full running
    top list (`best`, `pos`, in place), as a stable sort of `[best | c]` would: an entry enters
    only if above the list's last (a tie keeps the earlier row). Returns whether any entered."""
    hit = c > best[:, -1:]
    rows = np.flatnonzero(hit.any(axis=1))
    for r in rows:
        cols = np.flatnonzero(hit[r])
        v = np.concatenate([best[r], c[r, cols]])
        order = np.argsort(-v, kind="stable")[: best.shape[1]]
        best[r], pos[r] = v[order], np.concatenate([pos[r], start + cols])[order]
    return len(rows) > 0


def _kept_rows(want: np.ndarray, kept_pos: np.ndarray, kept_X: np.ndarray | None, X: np.ndarray,
               start: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, raw rows) of the sorted positions `want`: rows kept before, or of the chunk `X`
    that starts at pool position `start`."""
    out = np.empty((len(want), X.shape[1]), dtype=X.dtype)
    old = want < start
    if kept_X is not None and old.any():
        out[old] = kept_X[np.searchsorted(kept_pos, want[old])]
    out[~old] = X[want[~old] - start]
    return want, out


def resolve_index(cfg: GraphConfig, sample_rows: int, pool_rows: int | None) -> str:
    """The neighbour search a fit uses: `cfg.index`, with `auto` made `approx` when the pool
    (`pool_rows`; None: the sample is the pool) is larger than what the graph can hold as nodes
    (the sample's `sample_rows`, at most `cfg.nodes`), else `exact`."""
    if cfg.index != "auto":
        return cfg.index
    at_scale = pool_rows is not None and pool_rows > min(sample_rows, cfg.nodes)
    return "approx" if at_scale else "exact"


def first_pass_depth(cfg: GraphConfig) -> int:
    """Nearest pool rows per seed that the first pass keeps: `seed_neighbours` (node_sample
    seeded) and `shortlist` (second_pass), whichever is used and larger; 0: no first pass."""
    return max(cfg.seed_neighbours if cfg.node_sample == "seeded" else 0,
               cfg.shortlist if cfg.second_pass > 0 else 0)


def _chunks(X: np.ndarray, n: int) -> Iterable[np.ndarray]:
    return (X[a:a + n] for a in range(0, len(X), n))


def _sd(a: np.ndarray) -> float:
    s = float(a.std())
    return s if s > 0 else 1.0


def _weighted_mean(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row-wise `sum w v / sum w` (0 where the weights sum to 0), float64."""
    w = w.astype(np.float64)
    num = (w * values).sum(axis=1)
    den = w.sum(axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def manifold_ranking(nodes: np.ndarray, n_seeds: int, k: int | None = None, alpha: float | None = None,
                     steps: int | None = None, device: str = "cpu",
                     text_nodes: sp.csr_matrix | None = None, cfg: GraphConfig | None = None,
                     ann: Any = None) -> np.ndarray:
    """Manifold-ranking scores (Zhou et al., NIPS 2003) of unit rows `nodes`, the first `n_seeds`
    of them the queries: kNN graph with positive-cosine weights, symmetrised by the maximum,
    normalised `D^-1/2 W D^-1/2`, then `steps` of `F <- alpha S F + (1 - alpha) y` (None: `cfg`'s
    `k`, `alpha` (`text_alpha` with texts), `steps`). With `text_nodes` (unit tf-idf rows of the
    same nodes), `S = norm(S_emb + text_weight S_text)`. `ann`: a faiss index over `nodes` for
    approximate neighbours (`GraphConfig.index`; text neighbours as in `_text_approx`; None:
    exact)."""
    cfg = cfg or GraphConfig()
    k = cfg.k if k is None else k
    if alpha is None:
        alpha = cfg.alpha if text_nodes is None else cfg.text_alpha
    steps = cfg.steps if steps is None else steps
    if not 0 < alpha < 1:
        raise ConfigError(f"manifold ranking alpha must be in (0, 1), got {alpha}")
    n = len(nodes)
    k = min(k, n - 1)
    y = np.zeros(n)
    y[:n_seeds] = 1.0
    if k < 1:  # a single node: nothing to spread to
        return y.astype(np.float32)
    own = np.arange(n)
    if ann is not None:
        nbr, cos = ann_top_k(ann, nodes, k, cfg.ef_search, own)
        S = _normalised(_knn_graph(nbr, cos))
        if text_nodes is not None:
            inverted = sp.csr_matrix(text_nodes.T)
            S_text = _normalised(_knn_graph(*_text_approx(text_nodes, text_nodes, inverted, cfg, k, own, nbr,
                                                          of_nodes=True)))
            S = _normalised(S + cfg.text_weight * S_text)
    else:
        S = _normalised(_knn_graph(*top_k(nodes, nodes, k, device, own)))
        if text_nodes is not None:
            S_text = _normalised(_knn_graph(*top_k(text_nodes, text_nodes, k, self_index=own)))
            S = _normalised(S + cfg.text_weight * S_text)
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
