"""What every space shares: the representation (rows, centring, seeds, clusters), the similarity
columns, the `Space` protocol a selection method implements, and (de)serialisation.

A fitted space is a `FittedSpace`: the representation `a = enc(x)` of its rows (the input, or
the SAE code, idf-weighted for `sae-idf`), the pool mean `mu` when it is centred, the unit seed
rows and their centroid, optional k-means centres, and a `method` (one module per family under
`curate/spaces/`) that turns a chunk into the selection score. The similarity columns
(`centroid_sim`, `max_sim`, `nearest_seed`, `cluster`) are computed here for every space with one
matrix product per chunk against `[u_1 .. u_m | centroid | k-means centres]`, so memory is
bounded by `chunk x (m + K + 1)` floats and no seed x pool matrix ever exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp

from saescope.errors import InputError

DENSE_SPACES = ("embedding-graph", "embedding", "embedding-centered", "embedding-pu", "random")
"""Spaces whose rows are the raw inputs (the others compare SAE codes)."""
CENTRED_SPACES = ("embedding-centered", "sae-centered", "sae-enrich", "sae-pu", "embedding-pu",
                  "embedding-graph")
"""Spaces that subtract the pool sample's mean row."""


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
class Chunk:
    """One chunk of pool rows as a method's `score` sees it."""

    X: np.ndarray
    """float32 [n, d] raw inputs."""
    A: np.ndarray | sp.csr_matrix
    """The space's rows (the inputs, or the SAE codes, weighted in `sae-idf`), before centring."""
    codes: sp.csr_matrix | None
    """Raw SAE codes (None when the method does not read them)."""
    ids: np.ndarray | None
    """Row ids (needed by `random` and by the graph's identity rule)."""
    texts: Sequence[str | None] | None
    """The rows' texts (a method with a `text_field` needs them)."""
    centroid_sim: np.ndarray
    """float32 cosine to the seed centroid."""
    max_sim: np.ndarray
    """float32 cosine to the nearest seed."""


@dataclass
class FitData:
    """What a method is fitted on: the seeds and a uniform pool sample."""

    seeds_X: np.ndarray | None
    """float32 [m, d] raw seed inputs (None: feature selection without seeds)."""
    pool_X: np.ndarray
    """float32 [s, d] raw inputs of the pool sample."""
    seeds_A: np.ndarray | sp.csr_matrix | None
    """The seeds' rows in the space."""
    pool_A: np.ndarray | sp.csr_matrix
    """The sample's rows in the space."""
    encode: Callable[[str], sp.csr_matrix]
    """`encode("seeds")` / `encode("pool")`: raw SAE codes (computed once, or given)."""
    seed: int = 0
    """Random seed (samples, classifiers)."""
    seed_texts: list[str | None] | None = None
    """The seeds' texts (None: no lexical channel)."""
    pool_texts: list[str | None] | None = None
    """The sample's texts."""
    pool_ids: np.ndarray | None = None
    """The sample's row ids (the graph's identity rule; None: no row is left out of its own
    neighbours when scored)."""
    text_field: str = "text"
    """Name of the text column."""
    text_max_terms: int = 0
    """N-grams kept per text (`curate.text.prune_rows`; 0: all)."""
    progress: bool = False
    """Show the fit's stages on stderr."""
    seeded_X: np.ndarray | None = None
    """float32 [e, d] raw inputs of the seeds' nearest pool rows found by a first pass over the
    whole pool (`embedding-graph` with `node_sample` seeded: extra graph nodes; None: none)."""
    seeded_texts: list[str | None] | None = None
    """Their texts (with the lexical channel)."""
    seeded_ids: np.ndarray | None = None
    """Their row ids (rows already in the sample are not added twice)."""
    seeded_rank: np.ndarray | None = None
    """int [e] each row's best rank among a seed's nearest rows (0: a seed's nearest; None: all
    are seed neighbours): rows under `seed_neighbours` become nodes, the rest are only
    candidates of the graph's `second_pass`."""
    cascade_share: float | None = None
    """The budget's share of the pool that the fitted space will select from (`embedding-graph`
    calibrates its two-stage scoring on it, `GraphConfig.cascade`; None: every row in full)."""
    pool_rows: int | None = None
    """Rows of the whole pool the sample was drawn from (`embedding-graph`'s `index` auto: the
    approximate search when the pool is larger than its node sample; None: the sample is the
    pool)."""


class Space:
    """The protocol of a selection method (one module per family under `curate/spaces/`):
    `fit` on the seeds and a pool sample, `score` a chunk, `state` / `from_state` to save and load.

    The defaults here are those of a method without SAE explanations and without texts."""

    names: ClassVar[tuple[str, ...]] = ()
    """Space names this family implements."""
    config_class: ClassVar[type | None] = None
    """The config dataclass its constructor takes (None: a method without parameters)."""
    needs_codes: ClassVar[bool] = False
    """Its score reads the raw SAE codes of a dense space (feature selection)."""
    text_field: str | None = None
    """Text column the score reads (None: vectors only)."""

    def bind(self, rep: FittedSpace) -> None:
        """Take what it needs of the representation (centring, device) when they are joined."""

    def fit(self, data: FitData, rep: FittedSpace) -> None:
        """Learn the method's state from the seeds and the pool sample (`rep`: the fitted
        representation: mean, unit seeds, centroid; `data.seeds_X` is None only in feature
        selection)."""

    def score(self, chunk: Chunk, rep: FittedSpace) -> np.ndarray:
        """float32 [n] selection scores of the chunk (higher is better)."""
        raise NotImplementedError

    @property
    def latent_weights(self) -> np.ndarray | None:
        """Per-latent weight of the score when it is linear in the SAE code (None otherwise)."""
        return None

    def contributions(self, codes: sp.csr_matrix, rep: FittedSpace) -> sp.csr_matrix | None:
        """Per-row, per-latent share of the score (None: no latent owns a share)."""
        return None

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON metadata) of the fitted method."""
        return {}, {}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Space:
        """The method saved by `state` (saves from before a field existed get its default)."""
        return cls()


@dataclass
class FittedSpace:
    """A space fitted on the seeds and a pool sample; `score` is applied to pool chunks."""

    name: str
    """Space name (see `saescope.curate.spaces`)."""
    aggregate: str
    """`centroid` or `max`: which similarity is the score of the cosine spaces."""
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
    method: Space = field(default_factory=Space)
    """The selection method (its family's module) that turns a chunk into the score."""
    sae: Any = None
    """The SparseAutoencoder for SAE spaces (not serialised: loaded from its folder)."""
    device: str = "cpu"
    """Where products run: `cpu` (numpy/scipy) or `cuda` (torch)."""

    def __post_init__(self) -> None:
        self.method.bind(self)

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

    @property
    def input_dim(self) -> int:
        return int(self.sae.d_in) if self.sparse else self.dim

    @property
    def text_field(self) -> str | None:
        """Text column the score reads (None: vectors only)."""
        return self.method.text_field

    def encode(self, X: np.ndarray, explain: bool = False, codes: sp.csr_matrix | None = None
               ) -> tuple[np.ndarray | sp.csr_matrix, sp.csr_matrix | None]:
        """(space rows `a` before centring, raw SAE codes or None) for raw inputs X [n, d]. A dense
        space returns codes when its score needs them (feature selection) or, with `explain`, when
        an SAE explains its rows: scoring the pool skips them. `codes`: the rows' SAE codes when
        the caller has them already (they are not computed again)."""
        if not self.sparse:
            need = self.method.needs_codes or (explain and self.sae is not None
                                               and self.method.latent_weights is not None)
            if need and codes is None:
                codes = encode_codes(self.sae, X, self.device)
            return np.asarray(X, dtype=np.float32), codes if need else None
        if codes is None:
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
    def score(self, X: np.ndarray, ids: np.ndarray | None = None,
              texts: Sequence[str | None] | None = None,
              codes: sp.csr_matrix | None = None) -> ChunkScores:
        """Scores of raw pool inputs X [n, d] (ids are needed by the `random` space and the
        graph's identity rule, the rows' texts by a method with a `text_field`; `codes`: the
        rows' SAE codes when the caller has them already)."""
        n = len(X)
        if X.ndim != 2 or (n and X.shape[1] != self.input_dim):
            raise InputError(f"pool vectors have dimension {X.shape[-1]}, expected {self.input_dim}")
        if self.text_field is not None and (texts is None or len(texts) != n):
            raise ValueError(f"this space scores rows with their texts (column {self.text_field!r})")
        A, codes = self.encode(X, codes=codes)
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
        chunk = Chunk(np.asarray(X, dtype=np.float32), A, codes, ids, texts, centroid_sim, max_sim)
        score = np.asarray(self.method.score(chunk, self), dtype=np.float32)
        return ChunkScores(score, centroid_sim, max_sim, nearest, cluster)

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

    def _cached_columns(self) -> tuple[np.ndarray, int]:
        if getattr(self, "_cols", None) is None:
            W, cl_col = self._columns()
            self._cols = (W, cl_col)
            if self.seed_units is not None and self.mean is not None:
                self._seed_mu = (self.mean.astype(np.float64) @ W[:, :cl_col]).astype(np.float32)
        return self._cols

    # ------------------------------------------------------------------ why
    @property
    def latent_weights(self) -> np.ndarray | None:
        """Per-latent weight of the score, when it is linear in the code: the `sae-enrich`
        log-odds or the `sae-pu` classifier weights (None for the cosine spaces)."""
        return self.method.latent_weights

    def top_latents(self, n: int = 20) -> list[dict[str, float]]:
        """The `n` latents that most set the seeds apart from the pool (largest weight first):
        the method's latent weights, or the largest entries of the seed centroid in the cosine
        SAE spaces; [] in the dense spaces."""
        w = self.latent_weights
        if w is None and self.sparse and self.centroid is not None:
            w = self.centroid
        if w is None:
            return []
        order = np.argsort(-w, kind="stable")[:n]
        return [{"latent": int(j), "weight": float(w[j])} for j in order]

    def contributions(self, codes: sp.csr_matrix) -> sp.csr_matrix:
        """Per-row, per-latent share of the score (same sparsity as `codes`): why a row scored
        (the method's split; all zero where no latent owns a share)."""
        C = self.method.contributions(codes, self)
        if C is None:
            C = sp.csr_matrix(codes, dtype=np.float64, copy=True)
            C.data[:] = 0.0
        C = sp.csr_matrix(C)
        C.eliminate_zeros()
        return C

    # ------------------------------------------------------------------ (de)serialisation
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, metadata) for safetensors + JSON; the SAE is referenced by folder elsewhere."""
        arrays = {k: np.ascontiguousarray(getattr(self, k))
                  for k in ("seed_units", "centroid", "mean", "weights", "cluster_centers")
                  if getattr(self, k) is not None}
        m_arrays, m_meta = self.method.state()
        arrays.update(m_arrays)
        meta = {"name": self.name, "aggregate": self.aggregate, "needs_sae": self.sae is not None,
                **m_meta}
        if getattr(self.sae, "codes_are_inputs", False):  # rows are the SAE's (pooled) codes
            meta["codes_are_inputs"] = True
        return arrays, meta

    @staticmethod
    def from_state(arrays: dict[str, np.ndarray], meta: dict[str, Any], sae: Any = None,
                   device: str = "cpu") -> FittedSpace:
        """The space saved by `state` (its method by name from `FAMILIES`, or feature selection
        when the arrays hold `features`)."""
        family = FAMILIES["features" if "features" in arrays else meta["name"]]
        return FittedSpace(
            name=meta["name"], aggregate=meta["aggregate"], seed_units=arrays.get("seed_units"),
            centroid=arrays.get("centroid"), mean=arrays.get("mean"), weights=arrays.get("weights"),
            cluster_centers=arrays.get("cluster_centers"), method=family.from_state(arrays, meta),
            sae=sae, device=device)


FAMILIES: dict[str, type[Space]] = {}
"""Space name -> its method's class (`register`); `features`: feature selection."""


def register(cls: type[Space], names: tuple[str, ...] | None = None) -> type[Space]:
    """Make `cls` the method of each of its `names` (a family module calls this once)."""
    for name in names if names is not None else cls.names:
        FAMILIES[name] = cls
    return cls


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


def keyed_hash(values: Sequence[Any] | np.ndarray, seed: int) -> np.ndarray:
    """uint64 keyed hash (blake2b, 8 bytes, key `seed`) of `str(v)` for each value."""
    key = str(seed).encode()
    out = np.empty(len(values), dtype=np.uint64)
    for i, x in enumerate(values):
        out[i] = int.from_bytes(hashlib.blake2b(str(x).encode(), digest_size=8, key=key).digest(),
                                "little")
    return out

