"""Planted dictionaries recovered by every architecture trained with no flags beyond k.

Data: rows that are sums of `active` distinct unit atoms (of `atoms`, drawn N(0, I) and
normalised, numpy default_rng(seed)) with coefficients U(0.5, 1.5), plus N(0, 0.01^2) noise.
An atom is recovered when some decoder row has cosine > 0.9 with it (the measure of
tests/sae). Every SAE is `train_sae(X, TrainConfig(sae=SAEConfig(arch=A, k=active,
num_latents=M), seed=s))`: early stopping on the trainer's own 10% of the rows, every other
setting at its default. L0 is measured on those held-out rows (metrics.json's `l0`).

Sets (`--sets`):
- `fixture`: tests/sae's `sparse_X`: 32 atoms in 16-d, 3 active, 3,000 rows, seed 1; M = 64.
- `wide`: 64 atoms in 32-d, 4 active, 6,000 rows, seed 2; M = 128.
- `large`: 256 atoms in 64-d, 5 active, 30,000 rows, seed 0; M = 512 (slow on a CPU).

None of these sets chose a default: the Matryoshka and AuxK choices were made on other
seeds and sizes (docs/results/sae.md says which).

    python benchmarks/planted_archs.py [--sets fixture,wide] [--seeds 0,1]
        [--archs topk,batchtopk,matryoshka,jumprelu]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from saescope.sae import SAEConfig, TrainConfig, train_sae

SETS = {  # name: (seed, atoms, d, active, rows, latents)
    "fixture": (1, 32, 16, 3, 3000, 64),
    "wide": (2, 64, 32, 4, 6000, 128),
    "large": (0, 256, 64, 5, 30000, 512),
}


def planted(seed: int, n_atoms: int, d: int, active: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and unit atoms (for `fixture`, the same draws as tests/sae's `sparse_X`)."""
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((n_atoms, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, n_atoms)), axis=1)[:, :active]
    coef = rng.uniform(0.5, 1.5, (n, active))
    X = np.einsum("nk,nkd->nd", coef, atoms[idx]) + 0.01 * rng.standard_normal((n, d))
    return X.astype(np.float32), atoms.astype(np.float32)


def recovered(W_dec: torch.Tensor, atoms: np.ndarray) -> float:
    """Share of atoms with a decoder row at cosine > 0.9."""
    W = W_dec.detach().float().cpu().numpy()
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    return float(((atoms @ W.T).max(axis=1) > 0.9).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default="fixture,wide")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--archs", default="topk,batchtopk,matryoshka,jumprelu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print("| set | arch | seed | atoms recovered | val L0 | val FVU | dead | steps | seconds |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.sets.split(","):
        seed_data, n_atoms, d, active, n, m = SETS[name]
        X, atoms = planted(seed_data, n_atoms, d, active, n)
        for arch in args.archs.split(","):
            for seed in map(int, args.seeds.split(",")):
                t = time.perf_counter()
                res = train_sae(X, TrainConfig(sae=SAEConfig(arch=arch, k=active, num_latents=m),
                                               device="cpu", seed=seed), progress=False)
                mt = res.metrics
                print(f"| {name} | {arch} | {seed} | {recovered(res.sae.W_dec, atoms):.1%} | "
                      f"{mt['l0']:.2f} | {mt['fvu']:.3f} | {mt['dead_fraction']:.0%} | "
                      f"{mt['steps']} | {time.perf_counter() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
