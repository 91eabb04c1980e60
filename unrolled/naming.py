"""Finding an object by its Keras name, with an error that lists the names we know."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from unrolled.errors import ConfigError

T = TypeVar("T")


def by_name(name: str, table: Mapping[str, T], kind: str, argument: str) -> T:
    """`table[name]` (case-insensitive), or a ConfigError naming `argument` and the known names."""
    try:
        return table[name.lower()]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ConfigError(
            f"Unknown {kind} for `{argument}`: {name!r}. Known names: {known}."
        ) from None


def name_or_callable(
    identifier: Any, factories: Mapping[str, Callable[[], T]], kind: str, argument: str
) -> Any:
    """None, a callable passed through, or a fresh object built for a Keras name."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return by_name(identifier, factories, kind, argument)()
    raise ConfigError(
        f"`{argument}` must be a {kind} name, object or callable. Received: {identifier!r}"
    )
