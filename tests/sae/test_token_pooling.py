"""Documents by their tokens' codes: `pool_token_codes` against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from saescope.errors import ConfigError
from saescope.sae.encode import TokenPooling, pool_token_codes

# 5 token rows, 3 latents; documents "b" (rows 0-2) and "a" (rows 3-4): "b" comes first.
CODES = sp.csr_matrix(np.array([
    [1.0, 0.0, 2.0],
    [3.0, 0.0, 0.0],
    [2.0, 0.0, 5.0],
    [0.0, 4.0, 0.0],
    [0.0, 0.0, 0.0],
], dtype=np.float32))
DOCS = np.array(["b", "b", "b", "a", "a"])


@pytest.mark.parametrize("how,top_k,want", [
    ("max", 8, [[3, 0, 5], [0, 4, 0]]),
    ("mean", 8, [[6 / 3, 0, 7 / 3], [0, 4 / 2, 0]]),
    ("topk", 2, [[(3 + 2) / 2, 0, (5 + 2) / 2], [0, 4 / 2, 0]]),
    ("topk", 1, [[3, 0, 5], [0, 4, 0]]),  # K=1 is max
    ("topk", 9, [[6 / 3, 0, 7 / 3], [0, 4 / 2, 0]]),  # K>=n is mean
])
def test_pooling_matches_hand_computed(how, top_k, want) -> None:
    out = pool_token_codes(CODES, DOCS, TokenPooling(how=how, top_k=top_k))
    assert out.doc_ids.tolist() == ["b", "a"]
    assert out.n_tokens.tolist() == [3, 2]
    np.testing.assert_allclose(out.codes.toarray(), np.array(want, dtype=np.float32), rtol=1e-6)


def test_top_row_names_the_token_where_each_latent_fired_most() -> None:
    out = pool_token_codes(CODES, DOCS, TokenPooling(how="mean"))
    stored = list(zip(np.repeat([0, 1], np.diff(out.codes.indptr)), out.codes.indices, strict=True))
    assert stored == [(0, 0), (0, 2), (1, 1)]
    assert out.top_row.tolist() == [1, 2, 3]


def test_bad_pooling_is_refused() -> None:
    with pytest.raises(ConfigError, match="max, mean, topk"):
        TokenPooling(how="median")
    with pytest.raises(ConfigError, match="top_k"):
        TokenPooling(how="topk", top_k=0)
