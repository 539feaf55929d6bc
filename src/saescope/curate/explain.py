"""Why a row was chosen: the latents behind each selected row's score and behind the seeds.

Per selected row, `top_latents` lists the latents with the largest contribution to its score
(`FittedSpace.contributions`: an exact split of the score for `sae-enrich`, `sae-pu` and feature
selection, the firing latents' part of the cosine for the cosine SAE spaces), with
`top_contributions` beside them and, when an interpretation folder is given,
`top_explanations`, and for documents pooled from token codes `top_tokens` (the token where
each of those latents fired most in the document). (`sae-pu` also scores the centred embedding beside the code: that part of
its score belongs to no latent and is not listed.) The run-level view is `seed_latents`: the latents that most set the seeds
apart from the pool (`FittedSpace.top_latents`), with their explanations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from saescope.curate.spaces import FittedSpace
from saescope.sae.encode import latent_tokens

WHY_COLUMNS = ("top_latents", "top_contributions", "top_explanations", "top_tokens")


def top_per_row(C: sp.csr_matrix, n: int) -> tuple[list[list[int]], list[list[float]]]:
    """The `n` largest positive entries of each row of C (largest first): (columns, values)."""
    C = sp.csr_matrix(C)
    lats: list[list[int]] = []
    vals: list[list[float]] = []
    for i in range(C.shape[0]):
        lo, hi = C.indptr[i], C.indptr[i + 1]
        idx, v = C.indices[lo:hi], C.data[lo:hi]
        pos = v > 0
        idx, v = idx[pos], v[pos]
        order = np.lexsort((idx, -v))[:n]
        lats.append([int(j) for j in idx[order]])
        vals.append([float(x) for x in v[order]])
    return lats, vals


def why_columns(space: FittedSpace, codes: sp.csr_matrix | None, n: int,
                explanations: dict[int, str] | None, rows: pa.Table | None = None
                ) -> dict[str, pa.Array]:
    """The why-columns of some rows from their SAE codes ({} for spaces without an SAE).
    `rows`: the rows' pool columns; when they are documents pooled from token codes (`sae_idx`,
    `sae_token` written by `encode --pool-tokens`), `top_tokens` names, for each latent of
    `top_latents`, the document's token where that latent fired most."""
    if codes is None or n == 0:
        return {}
    lats, vals = top_per_row(space.contributions(codes), n)
    out = {"top_latents": pa.array(lats, pa.list_(pa.int32())),
           "top_contributions": pa.array(vals, pa.list_(pa.float32()))}
    if explanations is not None:
        out["top_explanations"] = pa.array([[explanations.get(j) for j in row] for row in lats],
                                           pa.list_(pa.string()))
    if rows is not None and {"sae_idx", "sae_token"} <= set(rows.column_names):
        out["top_tokens"] = pa.array(latent_tokens(lats, rows["sae_idx"].to_pylist(),
                                                   rows["sae_token"].to_pylist()),
                                     pa.list_(pa.string()))
    return out


def seed_latents(space: FittedSpace, n: int, explanations: dict[int, str] | None) -> list[dict[str, Any]]:
    """The `n` latents that most set the seeds apart from the pool, with explanations if known."""
    rows = space.top_latents(n)
    for r in rows:
        r["explanation"] = None if explanations is None else explanations.get(r["latent"])
    return rows
