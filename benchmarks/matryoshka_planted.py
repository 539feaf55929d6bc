"""Matryoshka on a planted flat dictionary: saescope beside SAELens's own Matryoshka BatchTopK.

Data: the planted dictionary of tests/sae (`sparse_X`): 32 unit atoms in 16-d (numpy
default_rng(1)), 3,000 rows, each a sum of 3 distinct atoms with coefficients U(0.5, 1.5),
plus N(0, 0.01^2) noise. An atom is recovered when some decoder row has cosine > 0.9 with it.
Every SAE has 64 latents and k 3; seeds 0 and 1.

- saescope: `train_sae` with no flags beyond arch, k and num_latents (what the test runs).
- SAELens (6.x, the `test` extra): `BatchTopKTrainingSAE` and `MatryoshkaBatchTopKTrainingSAE`
  (widths 4, 8, 16, 32, 64: saescope's default prefixes 1/16 .. 1/2) stepped by
  `training_forward_pass` under Adam (lr `--saelens-lr`, default 3e-3), batch 64, 6,000 steps
  on the first 2,700 rows, dead = no firing for 2,700 samples (one epoch, as saescope's window),
  its defaults otherwise (AuxK coefficient 1, decoder-norm rescaling).

The point is the pair of SAELens rows: if its BatchTopK recovers the atoms and its Matryoshka
does not, the low recovery is the published objective's, not saescope's implementation.
Since 3b19060 saescope's Matryoshka default is no longer the published objective: its loss is
FVU(whole dictionary) + 0.25 x mean inner-prefix FVU with AuxK weight 1 (saescope.sae.archs.
matryoshka); `benchmarks/planted_archs.py` prints every architecture at its defaults.

    python benchmarks/matryoshka_planted.py [--seeds 0,1] [--saelens-lr 3e-3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from saescope.sae import SAEConfig, TrainConfig, train_sae

BLOCKS = [(0, 4), (4, 8), (8, 16), (16, 32), (32, 64)]


def planted(n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Rows and atoms of tests/sae's `sparse_X` fixture (same generator and draws)."""
    rng = np.random.default_rng(1)
    atoms = rng.standard_normal((32, 16))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, 32)), axis=1)[:, :3]
    coef = rng.uniform(0.5, 1.5, (n, 3))
    X = np.einsum("nk,nkd->nd", coef, atoms[idx]) + 0.01 * rng.standard_normal((n, 16))
    return X.astype(np.float32), atoms.astype(np.float32)


def report(tool: str, arch: str, seed: int, W_dec: torch.Tensor, atoms: np.ndarray,
           dead: int, seconds: float) -> None:
    W = W_dec.detach().float().numpy()
    cos = atoms @ (W / np.linalg.norm(W, axis=1, keepdims=True)).T
    per_block = [int((cos[:, a:b].max(0) > 0.9).sum()) for a, b in BLOCKS]
    print(f"| {tool} | {arch} | {seed} | {(cos.max(1) > 0.9).mean():.0%} | "
          f"{' / '.join(map(str, per_block))} | {dead} | {seconds:.0f} |", flush=True)


def run_saescope(X: np.ndarray, atoms: np.ndarray, arch: str, seed: int) -> None:
    t = time.perf_counter()
    res = train_sae(X, TrainConfig(sae=SAEConfig(arch=arch, k=3, num_latents=64),
                                   device="cpu", seed=seed), progress=False)
    secs = time.perf_counter() - t
    with torch.no_grad():
        out = res.sae.encode(torch.as_tensor(X))
    fired = torch.zeros(64, dtype=torch.bool)
    fired[out.top_indices[out.top_acts > 0]] = True
    report("saescope", arch, seed, res.sae.W_dec, atoms, int((~fired).sum()), secs)


def run_saelens(X: np.ndarray, atoms: np.ndarray, arch: str, seed: int, lr: float) -> None:
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.matryoshka_batchtopk_sae import (
        MatryoshkaBatchTopKTrainingSAE,
        MatryoshkaBatchTopKTrainingSAEConfig,
    )
    from sae_lens.saes.sae import TrainStepInput

    torch.manual_seed(seed)
    if arch == "matryoshka":
        sae = MatryoshkaBatchTopKTrainingSAE(MatryoshkaBatchTopKTrainingSAEConfig(
            d_in=16, d_sae=64, k=3, matryoshka_widths=[4, 8, 16, 32, 64]))
    else:
        sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=16, d_sae=64, k=3))
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    train = torch.as_tensor(X[:2700])
    gen = torch.Generator().manual_seed(seed)
    idle = torch.zeros(64)
    steps, batch = 6000, 64
    t = time.perf_counter()
    for _ in range(steps):
        xb = train[torch.randint(0, len(train), (batch,), generator=gen)]
        out = sae.training_forward_pass(TrainStepInput(xb, {}, idle >= len(train), steps, False))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        with torch.no_grad():
            idle += batch
            idle[(out.feature_acts > 0).any(0)] = 0
    report("SAELens", arch, seed, sae.W_dec, atoms, int((idle >= len(train)).sum()),
           time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--saelens-lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, atoms = planted()
    print("| tool | arch | seed | atoms recovered | atom latents in 0-4 / 4-8 / 8-16 / 16-32 / "
          "32-64 | dead | seconds |\n| --- | --- | --- | --- | --- | --- | --- |")
    for seed in map(int, args.seeds.split(",")):
        for arch in ("batchtopk", "matryoshka"):
            run_saescope(X, atoms, arch, seed)
            run_saelens(X, atoms, arch, seed, args.saelens_lr)


if __name__ == "__main__":
    main()
