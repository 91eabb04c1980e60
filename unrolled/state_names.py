"""Tensor names written by an older layout of a module, mapped to the names it has now.

Up to unrolled 0.1.0, `Sequential` and `Model` kept their layers in a `ModuleList` named
`_layers`, so every name in their `state_dict()` began with it: `_layers.0.cell.kernel`.
Now the layers are the model's own children, numbered as `torch.nn.Sequential` numbers
them: `0.cell.kernel`. A module whose names lost such a prefix says so in its class
attribute `legacy_state_prefix`; weights files, model files, training checkpoints and
`load_state_dict` read the old names through `current_name`.

Example:
    >>> model = Sequential([Input((3, 1)), LSTM(2)])
    >>> current_name(model, "_layers.0.cell.kernel")
    '0.cell.kernel'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from torch import nn

_Value = TypeVar("_Value")


def current_name(module: nn.Module, name: str) -> str:
    """`name` as `module.state_dict()` spells it today; a current name comes back unchanged."""
    node, done, rest = module, "", name
    while True:
        legacy = getattr(type(node), "legacy_state_prefix", None)
        if legacy and rest.startswith(legacy) and legacy.rstrip(".") not in node._modules:
            rest = rest[len(legacy) :]
        head, dot, tail = rest.partition(".")
        child = node._modules.get(head) if dot else None
        if child is None:
            return done + rest
        node, done, rest = child, f"{done}{head}.", tail


def current_names(module: nn.Module, tensors: Mapping[str, _Value]) -> dict[str, _Value]:
    """`tensors` with each name as `current_name` gives it (a new dict, same order)."""
    return {current_name(module, name): value for name, value in tensors.items()}
