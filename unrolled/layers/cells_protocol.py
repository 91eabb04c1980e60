"""What `RNN` asks of any cell: ours, or a user's object with `call` and `state_size`."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from unrolled.errors import ConfigError


def check_cell(cell: Any) -> None:
    """Raises ConfigError unless `cell` has Keras's cell contract."""
    if not callable(getattr(cell, "call", None)):
        raise ConfigError(
            f"A cell needs a `call(inputs, states) -> (output, new_states)` method. Received: {cell!r}"
        )
    size = getattr(cell, "state_size", None)
    if not (
        isinstance(size, int)
        or (isinstance(size, (list, tuple)) and all(isinstance(s, int) for s in size))
    ):
        raise ConfigError(
            "A cell needs a `state_size` attribute: an int, or a list of ints (one per state). "
            f"Received: state_size={size!r} on {type(cell).__name__}"
        )


def state_sizes(cell: Any) -> list[int]:
    """The cell's state sizes as a flat list."""
    size = cell.state_size
    return [size] if isinstance(size, int) else list(size)


def call_cell(
    cell: Any, inputs: torch.Tensor, states: list[torch.Tensor], training: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One step of any cell; builds it first if it has not been built."""
    build_cell(cell, tuple(inputs.shape))
    if _accepts_training(cell):
        output, new_states = cell.call(inputs, states, training=training)
    else:
        output, new_states = cell.call(inputs, states)
    if isinstance(new_states, torch.Tensor):
        new_states = [new_states]
    return output, list(new_states)


def build_cell(cell: Any, step_shape: tuple[int | None, ...]) -> None:
    """Builds a cell for steps of `step_shape (samples, features)` unless it is built already."""
    if hasattr(cell, "build") and not getattr(cell, "built", False):
        cell.build(step_shape)
        cell.built = True


def built_input_features(cell: Any) -> int | None:
    """The features per step a built cell's weights expect, or None if unknown or unbuilt."""
    first = getattr(cell, "_all_cells", [cell])[0]  # a stack takes its first cell's inputs
    kernel = getattr(first, "kernel", None) if getattr(first, "built", False) else None
    return int(kernel.shape[0]) if isinstance(kernel, torch.Tensor) and kernel.dim() == 2 else None


def _accepts_training(cell: Any) -> bool:
    try:
        return "training" in inspect.signature(cell.call).parameters
    except (TypeError, ValueError):
        return False
