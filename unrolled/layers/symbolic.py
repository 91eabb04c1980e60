"""Symbolic tensors: what `Input(...)` returns and what calling a layer on one gives back.

A `SymbolicTensor` has a shape (None for sizes known only at run time) and remembers the
`Node` (layer call) that made it; `Model(inputs, outputs)` walks those nodes to build its
graph. No data flows until the model is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unrolled.errors import ConfigError, shape_str

Shape = tuple[int | None, ...]


class Node:
    """One call of a layer in a model definition: its arguments and the tensors it made."""

    def __init__(self, layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs: list[SymbolicTensor] = []
        self.returned: Any = None  # the outputs in the structure the call returned them

    def parents(self) -> list[SymbolicTensor]:
        """The symbolic tensors this call consumed, in argument order."""
        return [
            leaf for leaf in flatten((self.args, self.kwargs)) if isinstance(leaf, SymbolicTensor)
        ]


class SymbolicTensor:
    """A placeholder for a batch of data in a model definition.

    Shapes:
        `shape[0]` is the samples axis (None unless a batch size was fixed).
    """

    def __init__(
        self,
        shape: Sequence[int | None],
        node: Node,
        index: int = 0,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.shape: Shape = tuple(None if d is None else int(d) for d in shape)
        self.node = node
        self.index = index
        self.dtype = dtype or torch.get_default_dtype()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={shape_str(self.shape)} from {self.node.layer.name}>"

    def __bool__(self) -> bool:
        raise ConfigError(
            "A symbolic tensor (from Input) has no values yet, so it cannot be used in a condition. "
            "Build the model, then call it on data."
        )


def flatten(structure: Any) -> list[Any]:
    """Leaves of nested lists, tuples and dict values, in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for value in structure.values() for leaf in flatten(value)]
    return [structure]


def map_structure(function: Any, structure: Any) -> Any:
    """`function` applied to every leaf, keeping lists, tuples and dicts."""
    if isinstance(structure, list):
        return [map_structure(function, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(function, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(function, value) for key, value in structure.items()}
    return function(structure)


def has_symbolic(structure: Any) -> bool:
    return any(isinstance(leaf, SymbolicTensor) for leaf in flatten(structure))


def is_shape(value: Any) -> bool:
    """True for one shape `(None, 3, 1)`, False for a list of shapes."""
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) for d in value)
