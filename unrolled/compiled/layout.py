"""The kernels' flat weight vectors, laid out from the Keras weight shapes.

Each kernel reads every weight from one float32 vector. `FlatWeights.add(layer, shapes)`
appends a layer's weights in the order and shapes given (`ops.weights.keras_weight_shapes`
for a cell, `dense_shapes` for Dense), checks each, and says where each starts: no offset
is written by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled.errors import ShapeError, shape_str

Shapes = list[tuple[str, tuple[int, ...]]]


def dense_shapes(features: int, units: int, use_bias: bool) -> Shapes:
    """Keras's `[(name, shape)]` for a Dense layer: `kernel (features, units)`, `bias (units,)`."""
    return [("kernel", (features, units))] + ([("bias", (units,))] if use_bias else [])


def flatten(tensors: list[torch.Tensor]) -> np.ndarray:
    """The tensors flattened and laid end to end, as float32."""
    flat = [t.detach().reshape(-1).numpy() for t in tensors]
    return np.concatenate(flat).astype(np.float32, copy=False)


def unflatten(flat: np.ndarray, tensors: list[torch.Tensor]) -> None:
    """Copies consecutive pieces of `flat` into `tensors`, in order (`flatten` undone)."""
    start = 0
    for t in tensors:
        count = t.numel()
        t.copy_(torch.from_numpy(flat[start : start + count]).view_as(t))
        start += count


class FlatWeights:
    """Layers' weights laid end to end in one vector: `tensors` in order, `size` floats."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []
        self.size = 0

    def add(self, layer: Any, shapes: Shapes) -> dict[str, int]:
        """Appends the weights of `layer` named in `shapes`; returns where each starts."""
        starts = {}
        for name, shape in shapes:
            tensor = getattr(layer, name)
            if tuple(tensor.shape) != shape:
                raise ShapeError(
                    f"{layer.name}: expected {name} of shape {shape_str(shape)} in Keras's "
                    f"layout; received {shape_str(tuple(tensor.shape))}."
                )
            starts[name], self.size = self.size, self.size + tensor.numel()
            self.tensors.append(tensor)
        return starts
