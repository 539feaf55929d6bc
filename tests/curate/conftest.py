"""Shared fixtures: planted-domain data (saescope.data.synthetic) and an SAE that knows the atoms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from saescope.data.synthetic import planted_domains
from saescope.sae import SAEConfig, SparseAutoencoder


@dataclass
class Planted:
    root: Path
    seeds: Path
    pool: Path
    """Folder of 3 Parquet shards with small row groups."""
    sae: Path
    data: object
    """The PlantedDomains object."""


def oracle_sae(atoms: np.ndarray, k: int) -> SparseAutoencoder:
    """A TopK SAE whose encoder and decoder rows are the planted atoms (no training needed)."""
    m, d = atoms.shape
    sae = SparseAutoencoder(SAEConfig(arch="topk", k=k, num_latents=m), d_in=d)
    with torch.no_grad():
        W = torch.from_numpy(np.ascontiguousarray(atoms, dtype=np.float32))
        sae.encoder.weight.copy_(W)
        sae.encoder.bias.zero_()
        sae.W_dec.copy_(W)
        sae.b_dec.zero_()
    return sae.eval()


def write_planted(root: Path, seed: int = 0, n_pool: int = 1500, overlap: float = 0.25) -> Planted:
    data = planted_domains(n_seed=40, n_pool=n_pool, d=32, num_domains=4, seed_domains=(0,),
                           atoms_per_domain=8, k=3, overlap=overlap, noise=0.05, seed=seed)
    seed_tbl, pool_tbl = data.tables()
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(seed_tbl, root / "seeds.parquet")
    pool_dir = root / "pool"
    pool_dir.mkdir()
    per = -(-pool_tbl.num_rows // 3)
    for i in range(3):
        pq.write_table(pool_tbl.slice(i * per, per), pool_dir / f"shard-{i}.parquet", row_group_size=100)
    oracle_sae(data.atoms, k=3).save(root / "sae")
    return Planted(root, root / "seeds.parquet", pool_dir, root / "sae", data)


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return write_planted(tmp_path_factory.mktemp("planted"))
