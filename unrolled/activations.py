"""Activation functions by Keras name.

`get` returns a `torch` function for a Keras name or passes a callable through;
`name_of` gives the name back for configs and for the fused-path check.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from unrolled.errors import ConfigError
from unrolled.naming import by_name

Activation = Callable[[torch.Tensor], torch.Tensor]
# What an `activation=` argument takes: a Keras name, a function, or None (linear).
ActivationArg = str | Activation | None


def _linear(x: torch.Tensor) -> torch.Tensor:
    return x


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    # Keras 3 definition: relu6(x + 3) / 6 (Keras 2 used 0.2 * x + 0.5).
    return F.relu6(x + 3.0) / 6.0


def _hard_silu(x: torch.Tensor) -> torch.Tensor:
    return x * _hard_sigmoid(x)


def _leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.2)  # Keras default slope, not torch's 0.01


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


_BY_NAME: dict[str, Activation] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "linear": _linear,
    "relu6": F.relu6,
    "elu": F.elu,
    "selu": torch.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "exponential": torch.exp,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _hard_silu,
    "hard_swish": _hard_silu,
    "leaky_relu": _leaky_relu,
    "log_sigmoid": F.logsigmoid,
    "mish": F.mish,
    "softmax": _softmax,
}
_NAME_BY_FUNCTION = {function: name for name, function in reversed(_BY_NAME.items())}


def get(identifier: str | Activation | None, argument: str = "activation") -> Activation:
    """The activation for a Keras name (`None` means linear) or a callable.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if identifier is None:
        return _linear
    if isinstance(identifier, str):
        return by_name(identifier, _BY_NAME, "activation", argument)
    if callable(identifier):
        return identifier
    raise ConfigError(
        f"Argument `{argument}` must be an activation name or a callable. Received: {identifier!r}"
    )


def name_of(function: Activation) -> str | None:
    """The Keras name of a built-in activation, `None` for a user callable."""
    return _NAME_BY_FUNCTION.get(function)


def serialize(function: Activation) -> str | Activation:
    """The name where there is one (for configs), the callable otherwise."""
    return name_of(function) or function
