"""Synthetic vectors with known structure, for tests and demos.

- `planted_dictionary`: sparse non-negative combinations of a known dictionary of unit
  directions (the generative model SAEs assume, as in Sharkey et al. 2022, "Taking features out
  of superposition with sparse autoencoders"); an SAE should recover the atoms.
- `planted_domains`: a seed set and a pool drawn from the *same* domain directions (FineScope's
  dummy generator re-drew the domain directions on every call, so its seeds and pool shared
  nothing), with controllable overlap between domains, noise, sizes and labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from saescope.errors import ConfigError


def random_unit_vectors(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """`n` directions drawn uniformly on the unit sphere in R^d, float32 [n, d]."""
    V = rng.standard_normal((n, d))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    return V.astype(np.float32)


def planted_dictionary(
    n: int,
    d: int = 64,
    num_atoms: int = 256,
    k: int = 5,
    noise: float = 0.01,
    seed: int = 0,
    coef_range: tuple[float, float] = (0.5, 1.5),
    return_codes: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Samples that are sparse non-negative combinations of a planted dictionary.

    Each of the `n` samples picks `k` distinct atoms uniformly at random from `num_atoms`
    unit directions in R^d and sums them with coefficients drawn uniformly from `coef_range`
    (non-negative), plus isotropic Gaussian noise of standard deviation `noise` per coordinate.

    Returns `(X [n, d] float32, atoms [num_atoms, d] float32 unit rows)`; with `return_codes`
    also `(indices [n, k] int64, coefficients [n, k] float32)`.
    """
    if n < 0 or d < 1 or num_atoms < 1:
        raise ConfigError(f"need n >= 0, d >= 1, num_atoms >= 1 (got {n}, {d}, {num_atoms})")
    if not 1 <= k <= num_atoms:
        raise ConfigError(f"k must be in [1, num_atoms={num_atoms}], got {k}")
    lo, hi = coef_range
    if not 0 <= lo <= hi:
        raise ConfigError(f"coef_range must satisfy 0 <= low <= high, got {coef_range}")
    if noise < 0:
        raise ConfigError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    atoms = random_unit_vectors(num_atoms, d, rng)
    # k distinct atoms per sample: the first k of a random permutation (argsort of uniforms).
    indices = np.argsort(rng.random((n, num_atoms)), axis=1)[:, :k].astype(np.int64)
    coefs = rng.uniform(lo, hi, size=(n, k)).astype(np.float32)
    X = np.einsum("nk,nkd->nd", coefs, atoms[indices])
    X += noise * rng.standard_normal((n, d)).astype(np.float32)
    X = X.astype(np.float32)
    if return_codes:
        return X, atoms, (indices, coefs)
    return X, atoms


@dataclass
class PlantedDomains:
    """A seed set and a pool with planted domains (labels are domain numbers)."""

    seed_X: np.ndarray
    """float32 [n_seed, d] seed vectors (drawn from `seed_domains`)."""
    seed_labels: np.ndarray
    """int64 [n_seed] domain of each seed vector."""
    pool_X: np.ndarray
    """float32 [n_pool, d] pool vectors (all domains, in `pool_fractions`)."""
    pool_labels: np.ndarray
    """int64 [n_pool] domain of each pool vector."""
    atoms: np.ndarray
    """float32 [num_atoms_total, d] all unit directions (shared ones first)."""
    domain_atoms: list[np.ndarray]
    """For each domain, the int64 indices into `atoms` it draws from."""
    seed_domains: tuple[int, ...]
    """Domains the seed set was drawn from (the "target" domains of curation)."""

    @property
    def pool_is_target(self) -> np.ndarray:
        """bool [n_pool]: the pool vector belongs to a seed domain (ground truth for curation)."""
        return np.isin(self.pool_labels, self.seed_domains)

    def tables(self, prefix: str = "") -> tuple[pa.Table, pa.Table]:
        """(seed, pool) as vector Parquet tables: `id`, `embedding`, `label` (`domain_<j>`)."""
        from saescope.data.shards import vectors_to_arrow

        def make(X: np.ndarray, labels: np.ndarray, role: str) -> pa.Table:
            return pa.table(
                {
                    "id": [f"{prefix}{role}-{i:06d}" for i in range(len(X))],
                    "embedding": vectors_to_arrow(X),
                    "label": [f"domain_{j}" for j in labels],
                }
            )

        return make(self.seed_X, self.seed_labels, "seed"), make(self.pool_X, self.pool_labels, "pool")


def planted_domains(
    n_seed: int = 200,
    n_pool: int = 2000,
    d: int = 64,
    num_domains: int = 4,
    seed_domains: Sequence[int] = (0,),
    pool_fractions: Sequence[float] | None = None,
    atoms_per_domain: int = 8,
    k: int = 3,
    overlap: float = 0.0,
    noise: float = 0.05,
    seed: int = 0,
) -> PlantedDomains:
    """Seed set and pool drawn from shared, planted domain directions.

    Each domain owns `atoms_per_domain` unit directions; a fraction `overlap` of them (rounded)
    comes from a set of directions common to all domains, the rest are the domain's own. A
    sample of domain j is a non-negative combination (coefficients uniform in [0.5, 1.5]) of `k`
    distinct directions of domain j plus Gaussian noise of standard deviation `noise` per
    coordinate. `overlap=0` gives disjoint domains; `overlap=1` makes all domains identical.
    The seed set draws its samples uniformly from `seed_domains`; the pool draws domain j with
    probability `pool_fractions[j]` (uniform by default). The directions are drawn once per
    call, so seeds and pool share them.
    """
    if num_domains < 1 or atoms_per_domain < 1 or d < 1:
        raise ConfigError("num_domains, atoms_per_domain and d must be >= 1")
    if not 1 <= k <= atoms_per_domain:
        raise ConfigError(f"k must be in [1, atoms_per_domain={atoms_per_domain}], got {k}")
    if not 0.0 <= overlap <= 1.0:
        raise ConfigError(f"overlap must be in [0, 1], got {overlap}")
    if noise < 0 or n_seed < 0 or n_pool < 0:
        raise ConfigError("noise, n_seed and n_pool must be >= 0")
    seed_domains = tuple(int(j) for j in seed_domains)
    if not seed_domains or any(not 0 <= j < num_domains for j in seed_domains):
        raise ConfigError(f"seed_domains must be non-empty domain numbers below {num_domains}")
    if pool_fractions is None:
        probs = np.full(num_domains, 1.0 / num_domains)
    else:
        probs = np.asarray(pool_fractions, dtype=np.float64)
        if probs.shape != (num_domains,) or (probs < 0).any() or probs.sum() <= 0:
            raise ConfigError(f"pool_fractions must be {num_domains} non-negative numbers")
        probs = probs / probs.sum()

    rng = np.random.default_rng(seed)
    n_shared = int(round(overlap * atoms_per_domain))
    n_own = atoms_per_domain - n_shared
    atoms = random_unit_vectors(n_shared + num_domains * n_own, d, rng)
    shared = np.arange(n_shared)
    domain_atoms = [
        np.concatenate([shared, n_shared + j * n_own + np.arange(n_own)]).astype(np.int64)
        for j in range(num_domains)
    ]

    def sample(labels: np.ndarray) -> np.ndarray:
        X = noise * rng.standard_normal((len(labels), d))
        for j in range(num_domains):
            rows = np.flatnonzero(labels == j)
            if len(rows) == 0:
                continue
            pick = np.argsort(rng.random((len(rows), atoms_per_domain)), axis=1)[:, :k]
            coefs = rng.uniform(0.5, 1.5, size=(len(rows), k))
            X[rows] += np.einsum("nk,nkd->nd", coefs, atoms[domain_atoms[j][pick]])
        return X.astype(np.float32)

    seed_labels = np.asarray(seed_domains, dtype=np.int64)[rng.integers(0, len(seed_domains), n_seed)]
    pool_labels = rng.choice(num_domains, size=n_pool, p=probs).astype(np.int64)
    return PlantedDomains(
        seed_X=sample(seed_labels),
        seed_labels=seed_labels,
        pool_X=sample(pool_labels),
        pool_labels=pool_labels,
        atoms=atoms,
        domain_atoms=domain_atoms,
        seed_domains=seed_domains,
    )


def oracle_sae(atoms: np.ndarray, k: int):
    """A TopK SAE whose encoder and decoder rows are the planted `atoms` [M, d] (zero biases, no
    training): the reference an SAE trained on planted data is compared with, and a fixture
    whose codes are known in advance."""
    import torch

    from saescope.sae import SAEConfig, SparseAutoencoder

    m, d = atoms.shape
    sae = SparseAutoencoder(SAEConfig(arch="topk", k=k, num_latents=m), d_in=d)
    with torch.no_grad():
        W = torch.from_numpy(np.ascontiguousarray(atoms, dtype=np.float32))
        sae.encoder.weight.copy_(W)
        sae.encoder.bias.zero_()
        sae.W_dec.copy_(W)
        sae.b_dec.zero_()
    return sae.eval()
