"""Deprecated: `saescope.curate.layout` (renamed: `shards.py` clashed with `saescope.data.shards`)."""

import warnings

from saescope.curate.layout import (  # noqa: F401
    PoolLayout,
    Shard,
    iter_chunks,
    pool_layout,
    read_rows,
    sample_rows,
    shard_ids,
)

warnings.warn("saescope.curate.shards is now saescope.curate.layout", DeprecationWarning, stacklevel=2)
