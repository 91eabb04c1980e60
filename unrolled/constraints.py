"""Weight constraints by Keras name or object, applied after each optimizer step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unrolled.naming import name_or_callable

_EPSILON = 1e-7  # Keras's backend.epsilon()

# What a `*_constraint=` argument takes: a Keras name, a `Constraint` or a function of the
# weight, or None.
ConstraintArg = str | Callable[[torch.Tensor], torch.Tensor] | None


class Constraint:
    """A projection `f(weight) -> weight` applied after each optimizer step."""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so `type(c)(**c.get_config())` is a copy."""
        return {}


class MaxNorm(Constraint):
    """Rescales each weight vector along `axis` to a norm of at most `max_value`."""

    def __init__(self, max_value: float = 2.0, axis: int = 0) -> None:
        self.max_value, self.axis = float(max_value), axis

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        norms = weight.square().sum(dim=self.axis, keepdim=True).sqrt()
        return weight * (norms.clamp(0, self.max_value) / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * (weight >= 0).to(weight.dtype)


class UnitNorm(Constraint):
    """Rescales each weight vector along `axis` to norm one."""

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / (_EPSILON + weight.square().sum(dim=self.axis, keepdim=True).sqrt())

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Keeps each weight vector's norm along `axis` in `[min_value, max_value]` (blended by `rate`)."""

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: int = 0
    ) -> None:
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        norms = weight.square().sum(dim=self.axis, keepdim=True).sqrt()
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return weight * (desired / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


_BY_NAME: dict[str, Callable[[], Constraint]] = {
    "max_norm": MaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
    "min_max_norm": MinMaxNorm,
}


def get(
    identifier: Any, argument: str = "constraint"
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A constraint for a Keras name, an object or callable, or None."""
    return name_or_callable(identifier, _BY_NAME, "constraint", argument)
