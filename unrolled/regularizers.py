"""Weight penalties by Keras name or object: `l1`, `l2` (0.01 by default), `l1_l2`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unrolled.naming import name_or_callable

# What a `*_regularizer=` argument takes: a Keras name, a `Regularizer` or a function of the
# weight, or None.
RegularizerArg = str | Callable[[torch.Tensor], torch.Tensor] | None


class Regularizer:
    """A penalty `f(weight) -> scalar` added to the training loss."""

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}


class L1L2(Regularizer):
    """`l1 * sum(|w|) + l2 * sum(w ** 2)`."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        penalty = weight.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * weight.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * weight.square().sum()
        return penalty

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


_BY_NAME: dict[str, Callable[[], Regularizer]] = {
    "l1": L1,
    "l2": L2,
    "l1_l2": lambda: L1L2(l1=0.01, l2=0.01),
}


def get(
    identifier: Any, argument: str = "regularizer"
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A regularizer for a Keras name, an object or callable, or None."""
    return name_or_callable(identifier, _BY_NAME, "regularizer", argument)
