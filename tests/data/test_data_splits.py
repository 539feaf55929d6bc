from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from saescope.data.splits import group_split, random_split, split_column
from saescope.errors import ConfigError, InputError


def test_random_split_sizes_disjoint_deterministic() -> None:
    train, val = random_split(1000, 0.2, seed=3)
    assert len(val) == 200 and len(train) == 800
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    again = random_split(1000, 0.2, seed=3)
    assert np.array_equal(again[1], val)
    assert not np.array_equal(random_split(1000, 0.2, seed=4)[1], val)
    assert len(random_split(10, 0.0)[1]) == 0
    with pytest.raises(ConfigError):
        random_split(10, 1.0)


def test_group_split_keeps_groups_whole() -> None:
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 30, size=60)
    groups = np.repeat([f"article-{i}" for i in range(60)], sizes)
    rng.shuffle(groups)
    train, val = group_split(groups, 0.25, seed=1)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(groups)))
    assert not set(groups[train]) & set(groups[val])
    assert abs(len(val) / len(groups) - 0.25) < 0.05
    assert np.array_equal(group_split(groups, 0.25, seed=1)[1], val)


def test_group_split_nulls_and_column() -> None:
    with pytest.raises(InputError, match="null"):
        group_split(pa.array(["a", None, "b"]), 0.5)
    table = pa.table({"title": ["x"] * 5 + ["y"] * 5 + ["z"] * 10})
    col = split_column(table, 0.5, seed=0, group_field="title").to_pylist()
    by_group = {}
    for g, s in zip(table["title"].to_pylist(), col, strict=True):
        by_group.setdefault(g, set()).add(s)
    assert all(len(v) == 1 for v in by_group.values())
    assert col.count("val") == 10
    with pytest.raises(InputError, match="no group column 'nope'"):
        split_column(table, 0.5, group_field="nope")
