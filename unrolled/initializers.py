"""Weight initializers by Keras name or Keras class, drawing from torch's generator.

Fans are read from the Keras layout `(fan_in, fan_out)`, so a kernel of shape
`(input_dim, 4 * units)` is initialized as Keras initializes it. Seed with
`torch.manual_seed` to repeat a run, or give a class its own `seed` (as in Keras 3, a seeded
initializer draws the same values at every call).

Example:
    >>> Constant(0.5)((2, 2)).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    >>> GlorotUniform(seed=1).get_config()
    {'seed': 1}
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from unrolled.errors import ConfigError
from unrolled.naming import by_name

InitializerFn = Callable[[Sequence[int]], torch.Tensor]
# What an `*_initializer=` argument takes: a Keras name, an `Initializer` or a function of the shape.
InitializerArg = str | InitializerFn

# Keras truncates normals at two standard deviations; this restores the variance.
_TRUNCATED_STDDEV_CORRECTION = 0.87962566103423978


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _variance_scaling(scale: float, mode: str, distribution: str) -> InitializerFn:
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


_BY_NAME: dict[str, InitializerFn] = {
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


def get(identifier: str | InitializerFn, argument: str = "initializer") -> InitializerFn:
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


def draw(init: InitializerFn, shape: Sequence[int]) -> torch.Tensor:
    """`init(shape)` as a tensor of the default dtype (user initializers may return arrays)."""
    return torch.as_tensor(init(tuple(shape)), dtype=torch.get_default_dtype())


def initial_value(init: InitializerFn, shape: Sequence[int], argument: str) -> torch.Tensor:
    """Calls `init(shape)` and checks that it gave a tensor of that shape."""
    value = draw(init, shape)
    if tuple(value.shape) != tuple(shape):
        raise ConfigError(
            f"`{argument}` returned an array of shape {tuple(value.shape)}; expected {tuple(shape)}."
        )
    return value


# -- Keras's initializer classes -------------------------------------------------------------
class Initializer:
    """Base of Keras's initializer classes: `initializer(shape) -> tensor` and `get_config()`."""

    def __call__(self, shape: Sequence[int]) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)


class Constant(Initializer):
    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def __call__(self, shape: Sequence[int]) -> torch.Tensor:
        return torch.full(tuple(shape), self.value)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Zeros(Constant):
    def __init__(self) -> None:
        super().__init__(0.0)

    def get_config(self) -> dict[str, Any]:
        return {}


class Ones(Constant):
    def __init__(self) -> None:
        super().__init__(1.0)

    def get_config(self) -> dict[str, Any]:
        return {}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)

    def __call__(self, shape: Sequence[int]) -> torch.Tensor:
        return self.gain * _identity(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class _Seeded(Initializer):
    """A random initializer; with a `seed`, every call draws the same values (Keras 3)."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def __call__(self, shape: Sequence[int]) -> torch.Tensor:
        if self.seed is None:
            return self._draw(tuple(shape))
        with torch.random.fork_rng(devices=[]):  # the global generator is left as it was
            torch.manual_seed(int(self.seed))
            return self._draw(tuple(shape))

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape) * self.stddev + self.mean

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal draws cut at two standard deviations from the mean, as Keras's."""

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        low, high = self.mean - 2 * self.stddev, self.mean + 2 * self.stddev
        return torch.nn.init.trunc_normal_(torch.empty(shape), self.mean, self.stddev, low, high)


class RandomUniform(_Seeded):
    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.empty(shape).uniform_(self.minval, self.maxval)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


_DISTRIBUTIONS = {"truncated_normal": "normal", "normal": "normal", "uniform": "uniform"}


class VarianceScaling(_Seeded):
    """Draws with variance `scale / fan`, the fan by `mode`, as Keras's."""

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if not scale > 0 or mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ConfigError(
                "VarianceScaling needs scale > 0 and mode 'fan_in', 'fan_out' or 'fan_avg'. "
                f"Received: scale={scale!r}, mode={mode!r}"
            )
        if distribution not in _DISTRIBUTIONS:
            raise ConfigError(
                "VarianceScaling's distribution must be 'truncated_normal' or 'uniform'. "
                f"Received: distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        return _variance_scaling(self.scale, self.mode, _DISTRIBUTIONS[self.distribution])(shape)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            **super().get_config(),
        }


def _scaling(name: str, scale: float, mode: str, distribution: str) -> type[VarianceScaling]:
    """Keras's named VarianceScaling classes: only `seed` is theirs to set."""

    def __init__(self: VarianceScaling, seed: int | None = None) -> None:
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self: VarianceScaling) -> dict[str, Any]:
        return {"seed": self.seed}

    namespace = {"__init__": __init__, "get_config": get_config, "__module__": __name__}
    return type(name, (VarianceScaling,), namespace)


GlorotUniform = _scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = float(gain)

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        return self.gain * _orthogonal(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}
