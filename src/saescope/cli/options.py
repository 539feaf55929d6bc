"""CLI options generated from the config dataclasses: a default and its help live in the field.

A command lists its options as `Opt`s, each naming the config field it sets (dotted for a
nested config, `sae.k`); `command` turns the list into the typer signature of a `**opts`
function, with the field's default and its docstring as the option's default and help, as
sparsify's simple_parsing does with its config dataclasses. `help=` keeps the CLI's shorter
wording where the docstring is written for the Python API; `default=` sets a CLI default
(None where a flag only overrides a config file). tests/cli/test_cli_options.py checks that
every option's default is its field's.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from saescope.config_docs import field_default, field_docs
from saescope.errors import ConfigError

FIELD: Any = object()
"""`Opt.default`: the config field's default."""


@dataclass(frozen=True)
class Opt:
    """One command-line option (or argument) and the config field it sets."""

    decl: str
    """`--name` (`--name/--no-name` for a switch), or the argument's name."""
    field: str | None = None
    """Config field, dotted into nested configs (`sae.k`); None: an option of the CLI only."""
    help: str | None = None
    """Help text; None: the field's docstring. `{default}` is replaced by the field's default."""
    default: Any = FIELD
    """CLI default; FIELD: the field's (`...` makes the option required)."""
    type: Any = None
    """Annotation typer parses with; None: the field's."""
    hidden: bool = False
    """Left out of --help (deprecated names)."""
    argument: bool = False
    """A positional argument rather than an option."""

    @property
    def name(self) -> str:
        """The Python parameter name: the first declared name, snake case."""
        return self.decl.split("/")[0].lstrip("-").replace("-", "_")


@functools.cache  # evaluating string annotations per option cost a noticeable part of start-up
def type_hints(cls: type) -> dict[str, Any]:
    """`typing.get_type_hints(cls)`, once per class."""
    return typing.get_type_hints(cls)


def field_of(config: type, dotted: str) -> tuple[Any, Any, str | None]:
    """(default, annotation, docstring) of a field of `config`, dotted into nested dataclasses."""
    *path, last = dotted.split(".")
    cls = config
    for part in path:
        cls = type_hints(cls)[part]
    if last not in {f.name for f in dataclasses.fields(cls)}:
        raise AttributeError(f"{cls.__name__} has no field {last!r}")
    return field_default(cls, last), type_hints(cls)[last], field_docs(cls).get(last)


def resolve(opt: Opt, config: type | None) -> tuple[Any, Any, str]:
    """(default, annotation, help) the option gets."""
    default, annotation, doc = (field_of(config, opt.field) if opt.field and config
                                else (None, str, None))
    if isinstance(default, (tuple, list)) and opt.type is str:
        default = csv(default)  # a list field the CLI takes as comma-separated text
    shown = default
    if opt.default is not FIELD:
        default = opt.default
    text = opt.help if opt.help is not None else (doc or "")
    if "{default" in text:
        text = text.format(default=shown)
    return default, opt.type or annotation, escape_markup(text)


_MARKUP_TAG = re.compile(r"(?<!\\)\[(?=[A-Za-z#/@][^\[\]]*\])")


def escape_markup(text: str) -> str:
    """Help text with `[word]` kept literally: the rich help formatter reads it as a style tag and
    drops it (`pip install 'saescope[ray]'` showed as `pip install 'saescope'`)."""
    return _MARKUP_TAG.sub(r"\\[", text)


def command(config: type | None, options: Sequence[Opt]) -> Callable[[Callable], Callable]:
    """Give a `def cmd(**opts)` function the typer parameters of `options` (in that order)."""

    def wrap(fn: Callable) -> Callable:
        params = []
        for opt in options:
            default, annotation, text = resolve(opt, config)
            if opt.argument:
                info = typer.Argument(default, help=text, hidden=opt.hidden)
            else:
                info = typer.Option(default, opt.decl, help=text, hidden=opt.hidden)
            params.append(inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY,
                                            default=info, annotation=annotation))
        fn.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        fn.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        return fn

    return wrap


def values(opts: dict[str, Any], options: Sequence[Opt]) -> dict[str, Any]:
    """{dotted field: value} of the options bound to a field (CLI-only options left out;
    paths as strings, as the configs hold them)."""
    return {o.field: str(opts[o.name]) if isinstance(opts[o.name], Path) else opts[o.name]
            for o in options if o.field is not None}


def build(config: type, given: dict[str, Any], base: Any = None) -> Any:
    """`config(...)` from {dotted field: value} (`base`: the instance the values replace); a
    nested config is built over the field's default, so a default_factory's settings are kept."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            top[head] = value
    hints = type_hints(config)
    own = dataclasses.is_dataclass(config)
    top.update({head: build(hints[head], sub, field_default(config, head) if own else None)
                for head, sub in nested.items()})
    return config(**top) if base is None else dataclasses.replace(base, **top)


def nested_options(config: type, dotted: str, prefix: str) -> tuple[Opt, ...]:
    """An option for every field of the nested config dataclass at `dotted` in `config`
    (`selection.graph` -> `--graph-k` setting `selection.graph.k`, a switch for a bool field), so
    a family's new parameter is on the command line without another line here."""
    *path, last = dotted.split(".")
    cls = config
    for part in [*path, last]:
        cls = typing.get_type_hints(cls)[part]
    out = []
    for f in dataclasses.fields(cls):
        flag = f"--{prefix}-{f.name.replace('_', '-')}"
        if typing.get_type_hints(cls)[f.name] is bool:
            flag = f"{flag}/--no-{prefix}-{f.name.replace('_', '-')}"
        out.append(Opt(flag, f"{dotted}.{f.name}"))
    return tuple(out)


def ray_options(executor_help: str, actors_help: str, prefix: str = "execution.") -> tuple[Opt, ...]:
    """--executor, --ray-address, --actors, --gpus-per-actor of a command with a Ray executor,
    bound to the `ExecutorConfig` at `prefix` of the command's config (`saescope.execution`)."""
    return (
        Opt("--executor", f"{prefix}executor", help=executor_help),
        Opt("--ray-address", f"{prefix}ray_address"),
        Opt("--actors", f"{prefix}actors", help=actors_help),
        Opt("--gpus-per-actor", f"{prefix}gpus_per_actor"),
    )


def split_list(text: str | None, name: str, cast: Callable[[str], Any] = str,
               n: int | None = None) -> list[Any] | None:
    """A comma-separated option as a list of `cast(item)` (None stays None); errors name `name`."""
    if text is None:
        return None
    what = {int: "whole numbers", float: "numbers"}.get(cast, "values")  # type: ignore[call-overload]
    try:
        items = [cast(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected a comma-separated list of {what}, got {text!r}") from None
    if not items:
        raise ConfigError(f"{name}: empty list")
    if n is not None and len(items) != n:
        raise ConfigError(f"{name}: expected {n} comma-separated {what}, got {text!r}")
    return items


def csv(values: Sequence[Any]) -> str:
    """A tuple default as the comma-separated text the CLI takes."""
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
