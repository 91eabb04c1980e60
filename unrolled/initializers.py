"""Weight initializers by Keras name, drawing from torch's global generator.

Fans are read from the Keras layout `(fan_in, fan_out)`, so a kernel of shape
`(input_dim, 4 * units)` is initialized as Keras initializes it. Seed with
`torch.manual_seed` to repeat a run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import torch

from unrolled.errors import ConfigError
from unrolled.naming import by_name

Initializer = Callable[[Sequence[int]], torch.Tensor]
# What an `*_initializer=` argument takes: a Keras name or a function of the shape.
InitializerArg = str | Initializer

# Keras truncates normals at two standard deviations; this restores the variance.
_TRUNCATED_STDDEV_CORRECTION = 0.87962566103423978


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    def init(shape: Sequence[int]) -> torch.Tensor:
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(1.0, fan)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return torch.empty(tuple(shape)).uniform_(-limit, limit)
        stddev = math.sqrt(variance) / _TRUNCATED_STDDEV_CORRECTION
        return torch.nn.init.trunc_normal_(
            torch.empty(tuple(shape)), 0.0, stddev, -2 * stddev, 2 * stddev
        )

    return init


def _orthogonal(shape: Sequence[int]) -> torch.Tensor:
    rows, cols = math.prod(shape[:-1]), shape[-1]
    sample = torch.randn(max(rows, cols), min(rows, cols))
    q, r = torch.linalg.qr(sample)
    q = q * torch.sign(torch.diagonal(r))  # makes the decomposition unique, as Keras does
    if rows < cols:
        q = q.T
    return q.reshape(tuple(shape)).contiguous()


def _identity(shape: Sequence[int]) -> torch.Tensor:
    if len(shape) != 2:
        raise ConfigError(f"The 'identity' initializer needs a 2-D shape. Received: {tuple(shape)}")
    return torch.eye(*shape)


_BY_NAME: dict[str, Initializer] = {
    "zeros": lambda shape: torch.zeros(tuple(shape)),
    "ones": lambda shape: torch.ones(tuple(shape)),
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    "orthogonal": _orthogonal,
    "identity": _identity,
    "random_normal": lambda shape: torch.randn(tuple(shape)) * 0.05,
    "random_uniform": lambda shape: torch.empty(tuple(shape)).uniform_(-0.05, 0.05),
    "truncated_normal": lambda shape: torch.nn.init.trunc_normal_(
        torch.empty(tuple(shape)), 0.0, 0.05, -0.1, 0.1
    ),
}


# Keras's other spellings: short aliases and class names (`GlorotUniform`, `HeNormal`, ...).
_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "zero": "zeros", "one": "ones"}


def _canonical(name: str) -> str:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if not name.islower() else name
    return _ALIASES.get(snake, snake)


def get(identifier: str | Initializer, argument: str = "initializer") -> Initializer:
    """The initializer for a Keras name, or a callable `f(shape) -> array` passed through.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, str):
        return by_name(_canonical(identifier), _BY_NAME, "initializer", argument)
    if callable(identifier):
        return identifier
    raise ConfigError(
        f"Argument `{argument}` must be an initializer name or a callable. Received: {identifier!r}"
    )


def draw(init: Initializer, shape: Sequence[int]) -> torch.Tensor:
    """`init(shape)` as a tensor of the default dtype (user initializers may return arrays)."""
    return torch.as_tensor(init(tuple(shape)), dtype=torch.get_default_dtype())


def initial_value(init: Initializer, shape: Sequence[int], argument: str) -> torch.Tensor:
    """Calls `init(shape)` and checks that it gave a tensor of that shape."""
    value = draw(init, shape)
    if tuple(value.shape) != tuple(shape):
        raise ConfigError(
            f"`{argument}` returned an array of shape {tuple(value.shape)}; expected {tuple(shape)}."
        )
    return value
