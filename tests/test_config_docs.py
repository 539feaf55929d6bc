"""`saescope.config_docs`: a config dataclass's field docstrings and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from saescope.config_docs import field_default, field_docs


@dataclass
class _Example:
    """Not a field's doc."""

    plain: int = 3
    """One line."""
    wrapped: list[str] = field(default_factory=lambda: ["a", "b"])
    """Two
    lines,   spaced."""
    undocumented: float = 0.5
    required: str = ""
    """Last."""


def test_field_docs_are_the_strings_under_the_fields_as_one_line():
    assert field_docs(_Example) == {"plain": "One line.", "wrapped": "Two lines, spaced.", "required": "Last."}


def test_field_default_calls_the_default_factory():
    assert field_default(_Example, "plain") == 3 and field_default(_Example, "undocumented") == 0.5
    first, second = field_default(_Example, "wrapped"), field_default(_Example, "wrapped")
    assert first == ["a", "b"] and first is not second


def test_one_executor_choice_for_every_ray_capable_stage():
    """embed/encode and curate share `executor`/`ray_address` (declared once, documented once)."""
    from dataclasses import fields

    from saescope.curate.config import ExecutionConfig
    from saescope.execution import ExecutorChoice, ExecutorConfig

    for cls in (ExecutorConfig, ExecutionConfig):
        assert issubclass(cls, ExecutorChoice)
        assert "executor" not in cls.__dict__.get("__annotations__", {})
        docs = field_docs(cls)
        assert {f.name for f in fields(cls)} <= set(docs), cls
        assert docs["ray_address"] == field_docs(ExecutorChoice)["ray_address"]
