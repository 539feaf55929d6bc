"""What a config dataclass says about its fields: the docstring under each, and its default.

The configs document a field once, in the string under it (as sparsify's configs do); the CLI's
generated options (`saescope.cli.options`) take their help and default from here.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from dataclasses import MISSING, fields
from typing import Any


@functools.cache  # parsing a class's source per option made the CLI's start-up take seconds
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, as one line (the CLI's help text); fields a
    dataclass inherits keep the docstring of the class that declares them."""
    out: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if base is not cls and "__dataclass_fields__" in vars(base):
            out.update(field_docs(base))
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, nxt in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            out[node.target.id] = " ".join(nxt.value.value.split())
    return out


def field_default(cls: type, name: str) -> Any:
    """A dataclass field's default (calling its default_factory)."""
    f = next(f for f in fields(cls) if f.name == name)
    return f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
