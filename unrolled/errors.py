"""Error classes raised at the public boundary, and helpers that phrase them.

Every error a user can trigger by passing a wrong argument is one of these, so
`except unrolled.UnrolledError` catches all of them and `except ValueError`
keeps working for Keras code.
"""

from __future__ import annotations

from collections.abc import Sequence


class UnrolledError(Exception):
    """Base class of every error raised for bad input."""


class ShapeError(UnrolledError, ValueError):
    """An array or tensor has the wrong rank or size."""


class ConfigError(UnrolledError, ValueError):
    """A constructor or call argument has an invalid value."""


class InputTypeError(UnrolledError, TypeError):
    """An argument has a type that cannot be converted safely."""


class FileFormatError(UnrolledError, ValueError):
    """A saved file cannot be read: not ours, truncated or corrupted, from a newer format
    version, naming a class nobody registered, or missing a tensor or holding one of the
    wrong shape. Nothing is loaded when it is raised."""


class MissingFileError(UnrolledError, FileNotFoundError, ValueError):
    """No file at the path given. A FileNotFoundError, and a ValueError as Keras's
    `load_model` raises for a missing file."""


class UnbuiltWeightsWarning(UserWarning):
    """`parameters()` was asked for before a layer made its weights (they come at its build)."""


def shape_str(shape: Sequence[int | None]) -> str:
    """`(32, 10, 3)` for a shape, `None` shown for unknown sizes."""
    dims = ", ".join("None" if d is None else str(int(d)) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


def positive_int(value: object, name: str) -> int:
    """Returns `value` as an int, or raises ConfigError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not _is_integral(value):
        raise ConfigError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )
    if int(value) <= 0:
        raise ConfigError(
            f"Argument `{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def rate(value: object, name: str) -> float:
    """Returns a dropout rate in [0, 1], or raises ConfigError naming `name`."""
    try:
        if isinstance(value, bool):
            raise TypeError  # dropout=True would silently mean rate 1.0: drop everything
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(
            f"Argument `{name}` must be a float in [0, 1]. Received: {name}={value!r}"
        ) from None
    if not 0.0 <= number <= 1.0:
        raise ConfigError(
            f"Argument `{name}` must be a float in [0, 1]. Received: {name}={value!r}"
        )
    return number


def _is_integral(value: object) -> bool:
    # numpy integers and integral torch scalars count as ints; floats like 4.0 do not.
    return hasattr(value, "__index__") and not isinstance(value, float)
