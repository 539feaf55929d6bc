"""Shared fixtures: planted-domain data (saescope.data.synthetic) and an SAE that knows the atoms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from saescope.data.synthetic import oracle_sae, planted_domains


@dataclass
class Planted:
    root: Path
    seeds: Path
    pool: Path
    """Folder of 3 Parquet shards with small row groups."""
    sae: Path
    data: object
    """The PlantedDomains object."""


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
