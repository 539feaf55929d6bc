"""The nested curation config: groups, the flat view, validation naming the field."""

from __future__ import annotations

import pytest

from saescope.curate import CurateConfig, InputsConfig, OutputConfig, SelectionConfig
from saescope.curate.config import FIELD_GROUP, GROUPS
from saescope.errors import ConfigError


def test_groups_and_flat_view_agree():
    c = CurateConfig(inputs=InputsConfig(pool="p", seeds="s", sae="x"),
                     selection=SelectionConfig(budget=5, space="sae-enrich"), output=OutputConfig(out="o"))
    flat = CurateConfig(pool="p", seeds="s", sae="x", budget=5, space="sae-enrich", out="o")
    assert c == flat and c.to_dict() == flat.to_dict()
    assert set(c.to_dict()) == set(FIELD_GROUP) and len(FIELD_GROUP) == sum(
        len(cls.__dataclass_fields__) for cls in GROUPS.values())  # names unique across groups
    assert CurateConfig.from_dict(c.to_nested()) == c == CurateConfig.from_dict(c.to_dict())
    assert c.replace(budget=7).selection.budget == 7 and c.selection.budget == 5
    assert CurateConfig(pool="p", seeds="s", sae="x", out="o", budget=1).selection.space == "embedding-graph"


def test_bad_values_name_the_field():
    base = dict(pool="p", seeds="s", out="o", budget=5, space="embedding")
    with pytest.raises(ConfigError, match="unknown option 'budgett'"):
        CurateConfig(**{**base, "budgett": 3})
    with pytest.raises(ConfigError, match="executor: unknown 'slurm'"):
        CurateConfig(**base, executor="slurm")
    with pytest.raises(ConfigError, match="needs an SAE folder"):
        CurateConfig(**{**base, "space": "sae-pu"})
    with pytest.raises(ConfigError, match="explain_latents must be >= 0"):
        CurateConfig(**base, explain_latents=-1)
    with pytest.raises(ConfigError, match="text_max_terms must be >= 0"):
        CurateConfig(**base, text_max_terms=-1)
