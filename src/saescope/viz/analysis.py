"""Numbers behind the pictures: spectra, projections, clusterings and similarities on samples.

Everything here works on a sample the caller draws (`sample_rows`), so a view of 100,000 rows
or 16,000 latents costs what a view of a few thousand does.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from saescope.linalg import unit_rows
from saescope.viz.config import Projection

# _SPIN: the matrices here are samples (at most a few thousand rows), where threaded BLAS and
# OpenMP gain little and, on a busy 2-core machine, spin-waiting threads made an SVD of
# 256 x 384 take 3.5 s and a 50-point t-SNE 15 s (0.45 s on one thread). One thread it is.


def sample_rows(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `k` rows out of `n`, drawn without replacement."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def cosine_matrix(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity cos(a, b) = a.b / (|a| |b|) between the rows of A and of B (or A)."""
    A = unit_rows(A)
    B = A if B is None else unit_rows(B)
    return A @ B.T


def pca_spectrum(X: np.ndarray, max_components: int = 100) -> tuple[np.ndarray, int]:
    """Explained-variance ratio of the principal components of centred X, and the number of
    components reaching 95% of the variance (Pearson 1901; Jolliffe, *Principal Component
    Analysis*, 2002, sec. 6.1.1: the cumulative-percentage-of-variance rule).

    Ratios are eigenvalues of the covariance over its trace, from the SVD of the centred data;
    computed on the full spectrum, so the 95% count is exact even when it exceeds
    `max_components` (only the first `max_components` ratios are returned).
    """
    X = np.asarray(X, dtype=np.float64)
    if len(X) < 2:
        return np.zeros(0), 0
    Xc = X - X.mean(axis=0)
    with threadpool_limits(limits=1, user_api="blas"):  # see _SPIN below
        s = np.linalg.svd(Xc, compute_uv=False)
    var = s**2
    total = var.sum()
    if total <= 0:
        return np.zeros(min(len(var), max_components)), 0
    ratio = var / total
    n95 = int(np.searchsorted(np.cumsum(ratio), 0.95 - 1e-12) + 1)
    return ratio[:max_components], min(n95, len(ratio))


def pca_2d(X: np.ndarray) -> np.ndarray:
    """Coordinates on the first two principal components of centred X."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    if len(X) < 2:
        return np.zeros((len(X), 2))
    with threadpool_limits(limits=1, user_api="blas"):
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    coords = Xc @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords


def project_2d(
    X: np.ndarray, method: Projection = "auto", metric: str = "cosine", seed: int = 0
) -> tuple[np.ndarray, str]:
    """2-D map of the rows of X: UMAP (McInnes et al. 2018) when umap-learn is installed,
    else t-SNE (van der Maaten & Hinton 2008); PCA for fewer than 10 rows.

    Returns (coords [N, 2], name of the method used).
    """
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if n < 10 or method == "pca":
        return pca_2d(X), "PCA"
    if method in ("auto", "umap"):
        try:
            import umap
        except ImportError:
            if method == "umap":
                warnings.warn("umap-learn is not installed; using t-SNE", stacklevel=2)
        else:
            reducer = umap.UMAP(
                n_components=2, metric=metric, random_state=seed, n_neighbors=min(15, n - 1)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.asarray(reducer.fit_transform(X)), "UMAP"
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        metric=metric,
        random_state=seed,
        init="pca",
        perplexity=float(min(30, max(2, (n - 1) // 3))),
        max_iter=500,  # sklearn's Barnes-Hut run is slow on 2 cores; 500 iterations settle small maps
    )
    # see _SPIN
    with threadpool_limits(limits=1, user_api="openmp"):
        return np.asarray(tsne.fit_transform(X)), "t-SNE"


STRUCTURE_MIN_HOPKINS = 0.75
"""Below this Hopkins statistic (against a Gaussian of the map's own spread) a 2-D map is called
structureless. Set on synthetic maps before it was used on any run: a 2-D Gaussian gives 0.52,
t-SNE/UMAP of isotropic random vectors 0.60-0.62, a uniform square 0.70, ten separated clusters
0.83, t-SNE/UMAP of eight clusters in 64-D 0.97-0.99."""


def hopkins_gaussian(xy: np.ndarray, seed: int = 0, reps: int = 5) -> float:
    """Clustering tendency of 2-D points: the Hopkins statistic (Hopkins & Skellam 1954, Ann. Bot.
    18(2); Lawson & Jurs 1990, J. Chem. Inf. Comput. Sci. 30(1)), H = sum u / (sum u + sum w),
    with w the distance of m sampled points to their nearest other point and u the distance of m
    reference points to their nearest point. The references are drawn from a Gaussian with the
    points' mean and covariance instead of a uniform box, so one round blob scores about 0.5 (not
    the 0.7 a box would give) and clusters score towards 1. Mean over `reps` draws."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64)
    n = len(xy)
    if n < 20:
        return float("nan")
    rng = np.random.default_rng(seed)
    m = max(10, min(200, n // 10))
    tree = cKDTree(xy)
    mean, cov = xy.mean(0), np.cov(xy.T)
    hs = []
    for _ in range(reps):
        u = tree.query(rng.multivariate_normal(mean, cov, size=m), k=1)[0]
        w = tree.query(xy[rng.choice(n, m, replace=False)], k=2)[0][:, 1]
        hs.append(u.sum() / max(u.sum() + w.sum(), 1e-12))
    return float(np.mean(hs))


def kmeans_labels(X: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means cluster of each row (Lloyd's algorithm, k-means++ initialisation, scikit-learn)."""
    from sklearn.cluster import KMeans

    k = max(1, min(int(k), len(X)))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(X).astype(np.int32)


def pairwise_cosines(X: np.ndarray) -> np.ndarray:
    """Cosines of all distinct pairs i < j of the rows of X (the sample's upper triangle)."""
    S = cosine_matrix(X)
    iu = np.triu_indices(len(S), k=1)
    return S[iu]


def most_similar_pairs(X: np.ndarray, n: int = 20) -> list[tuple[int, int, float]]:
    """The `n` most cosine-similar distinct pairs (i < j) among the rows of X."""
    S = cosine_matrix(X)
    iu = np.triu_indices(len(S), k=1)
    vals = S[iu]
    n = min(n, len(vals))
    if n == 0:
        return []
    top = np.argpartition(-vals, n - 1)[:n]
    top = top[np.argsort(-vals[top], kind="stable")]
    return [(int(iu[0][t]), int(iu[1][t]), float(vals[t])) for t in top]


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b (Kendall 1945, "The treatment of ties in ranking problems"):
    (n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2)) over the n_0 = n(n-1)/2 pairs, where n_c / n_d
    count concordant / discordant pairs and n_1 / n_2 the pairs tied in a / in b.

    NaN when either vector is constant (the denominator is 0). Quadratic in len(a): meant for
    the few dozen latents active in two samples.
    """
    iu = np.triu_indices(len(a), k=1)
    sa = np.sign(a[:, None] - a[None, :])[iu]
    sb = np.sign(b[:, None] - b[None, :])[iu]
    denom = np.sqrt(float(np.count_nonzero(sa)) * float(np.count_nonzero(sb)))
    return float(np.sum(sa * sb) / denom) if denom > 0 else float("nan")


def kendall_tau_matrix(codes: sp.csr_matrix | np.ndarray) -> np.ndarray:
    """Kendall's tau-b (`kendall_tau_b`) between the latent rankings of every pair of samples.

    For samples a and b the two activation vectors are compared over the union of the latents
    active in either (inactive = 0), so agreement is measured on the latents that matter
    rather than swamped by thousands of tied zeros. NaN where the union has fewer than two
    latents or a vector is constant on it.
    """
    dense = codes.toarray() if sp.issparse(codes) else np.asarray(codes, dtype=np.float64)
    n = len(dense)
    out = np.eye(n)
    active = [np.flatnonzero(r) for r in dense]
    for i in range(n):
        for j in range(i + 1, n):
            cols = np.union1d(active[i], active[j])
            tau = kendall_tau_b(dense[i, cols], dense[j, cols]) if len(cols) >= 2 else np.nan
            out[i, j] = out[j, i] = tau
    return out


def reranked(codes: sp.csr_matrix | np.ndarray, top: int = 64) -> np.ndarray:
    """Each sample's activations sorted in decreasing order (rank 1 first), first `top` ranks."""
    dense = codes.toarray() if sp.issparse(codes) else np.asarray(codes)
    srt = -np.sort(-dense, axis=1)
    return srt[:, :top]


def latent_activations(codes: sp.csr_matrix, latent: int) -> np.ndarray:
    """The non-zero activations of one latent over the rows of a CSR code matrix."""
    col = codes.getcol(latent)
    return np.asarray(col.data, dtype=np.float32)


def coactivation_top(codes: sp.spmatrix, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """For every latent, the `n` latents firing with it most: weight C_ij / min(C_ii, C_jj) with
    C_ij the rows on which both fire (the co-occurrence weight of O'Neill et al. 2024,
    arXiv:2408.00657). Returns ([M, n] int32 ids, -1 where none; [M, n] float32 weights)."""
    B = (sp.csr_matrix(codes) != 0).astype(np.float32)
    C = (B.T @ B).tocsr()
    counts = C.diagonal().astype(np.float64)
    M = C.shape[0]
    ids = np.full((M, n), -1, dtype=np.int32)
    wts = np.zeros((M, n), dtype=np.float32)
    for i in range(M):
        cols = C.indices[C.indptr[i]:C.indptr[i + 1]]
        vals = C.data[C.indptr[i]:C.indptr[i + 1]].astype(np.float64)
        keep = cols != i
        cols, vals = cols[keep], vals[keep]
        if len(cols) == 0:
            continue
        w = vals / np.maximum(np.minimum(counts[cols], counts[i]), 1)
        top = np.argsort(-w, kind="stable")[:n]
        ids[i, : len(top)] = cols[top]
        wts[i, : len(top)] = w[top]
    return ids, wts
