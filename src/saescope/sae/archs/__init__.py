"""Architecture registry: one module per architecture in this package, found by name.

Adding an architecture means adding one module here that defines a subclass of
`saescope.sae.archs.base.Architecture` decorated with `@register`; no other file changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from saescope.errors import ConfigError
from saescope.sae.archs.base import ARCHITECTURES, Architecture, register

__all__ = ["ARCHITECTURES", "Architecture", "get_arch", "names", "register"]

_loaded = False


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


def get_arch(name: str) -> type[Architecture]:
    """The architecture class registered under `name` (ConfigError naming the choices)."""
    _load_all()
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(
            f"unknown arch {name!r} (choose from: {', '.join(sorted(ARCHITECTURES))})"
        ) from None


def names() -> list[str]:
    """Registered architecture names, sorted."""
    _load_all()
    return sorted(ARCHITECTURES)
