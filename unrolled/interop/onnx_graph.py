"""A small ONNX graph builder: named values with static shapes, nodes, weights as initializers.

Only `onnx.helper` and `onnx.numpy_helper` are used; the exporter in `onnx_export` writes
every node through `Graph.op`, so the graph stays a flat, readable list of ONNX operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Shape = tuple[int | str | None, ...]


@dataclass(frozen=True)
class Value:
    """A tensor in the graph: its ONNX name and shape (None or a name for sizes known at run time)."""

    name: str
    shape: Shape

    @property
    def rank(self) -> int:
        return len(self.shape)


def weight_array(weight: torch.Tensor) -> np.ndarray:
    """A layer's weight as a float32 NumPy array, for an initializer."""
    return weight.detach().cpu().to(torch.float32).numpy()


def onnx_module() -> Any:
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'unrolled[onnx]' (or onnx)."
        ) from None
    return onnx


class Graph:
    """Nodes, initializers, inputs and outputs of one ONNX graph, with unique names."""

    def __init__(self, name: str) -> None:
        self.onnx = onnx_module()
        self.name = name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._used: set[str] = set()

    def fresh(self, hint: str) -> str:
        """A name not used yet, `hint` itself when free."""
        name, count = hint, 0
        while name in self._used:
            count += 1
            name = f"{hint}_{count}"
        self._used.add(name)
        return name

    def const(self, value: Any, hint: str, dtype: Any = np.float32) -> str:
        """An initializer holding `value` (weights, shapes, axes)."""
        name = self.fresh(hint)
        array = np.asarray(value, dtype=dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def axes(self, *axes: int) -> str:
        return self.const(list(axes), "axes", np.int64)

    def op(self, op_type: str, inputs: list[str], hint: str, outputs: int = 1, **attrs: Any) -> Any:
        """Adds one node; returns its output name, or a list of them when `outputs > 1`."""
        names = [self.fresh(f"{hint}_{i}" if outputs > 1 else hint) for i in range(outputs)]
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, inputs, names, name=self.fresh(f"{hint}/{op_type}"), **attrs
            )
        )
        return names if outputs > 1 else names[0]

    def add_input(self, name: str, shape: Shape, elem_type: int | None = None) -> Value:
        elem = self.onnx.TensorProto.FLOAT if elem_type is None else elem_type
        self._used.add(name)
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem, list(shape)))
        return Value(name, shape)

    def add_output(self, value: Value, name: str) -> str:
        """Exposes `value` as a graph output called `name` (through an Identity node)."""
        name = self.fresh(name)
        self.nodes.append(
            self.onnx.helper.make_node(
                "Identity", [value.name], [name], name=self.fresh(f"{name}/Identity")
            )
        )
        shape = [d if isinstance(d, (int, str)) else None for d in value.shape]
        self.outputs.append(
            self.onnx.helper.make_tensor_value_info(name, self.onnx.TensorProto.FLOAT, shape)
        )
        return name

    def model(self, opset: int) -> Any:
        helper = self.onnx.helper
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, initializer=self.initializers
        )
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(
            graph,
            opset_imports=opsets,
            producer_name="unrolled",
            ir_version=helper.find_min_ir_version_for(opsets),
        )
        self.onnx.checker.check_model(model)
        return model


def expanded_to_one_rank(g: Graph, values: list[Value], hint: str) -> list[str]:
    """The names of `values`, the lower-rank ones given size-1 axes after the samples axis
    (`Unsqueeze`) up to the highest rank, as the merge layers broadcast."""
    rank = max(v.rank for v in values)
    names = []
    for v in values:
        if v.rank < rank:
            axes = g.const(list(range(1, 1 + rank - v.rank)), "axes", np.int64)
            names.append(g.op("Unsqueeze", [v.name, axes], f"{hint}/expand"))
        else:
            names.append(v.name)
    return names
