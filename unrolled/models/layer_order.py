"""The order of a functional model's layers, as Keras gives it: by depth, then by discovery.

Keras (`keras/src/ops/function.py`, `map_graph`) walks the graph depth-first from the
outputs, numbering each layer the first time it meets it; a layer's depth is the longest
path from it to an output. `model.layers` lists the deepest layers first and, within one
depth, in that numbering. `get_weights()` follows `model.layers`, so a model whose layers
were listed in another order would take weights copied from Keras into the wrong layers.
"""

from __future__ import annotations

from typing import Any

from unrolled.layers.input_layer import InputLayer
from unrolled.layers.symbolic import Node, SymbolicTensor


def keras_layer_order(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> list[Any]:
    """The layers between `inputs` and `outputs` (input layers included) in Keras's order.

    Example:
        >>> from unrolled.layers import Dense, Input, add
        >>> a, b = Input((3,)), Input((2,))
        >>> deep = Dense(2, name="deep_2")(Dense(4, name="deep_1")(a))
        >>> out = add([deep, Dense(2, name="shallow")(b)], name="sum")
        >>> order = keras_layer_order([a, b], [out])
        >>> [layer.name for layer in order if not isinstance(layer, InputLayer)]
        ['deep_1', 'deep_2', 'shallow', 'sum']
    """
    input_ids = {id(t) for t in inputs}
    first_seen: dict[int, int] = {}  # id(layer) -> order of discovery
    finished: set[int] = set()
    post_order: list[Node] = []  # each call after the calls it consumes

    def visit(tensor: SymbolicTensor) -> None:
        node = tensor.node
        if id(node) in finished:
            return
        if id(tensor) in input_ids and not isinstance(node.layer, InputLayer):
            finished.add(id(node))  # an intermediate tensor given as an input: the graph stops
            return
        first_seen.setdefault(id(node.layer), len(first_seen))
        if not isinstance(node.layer, InputLayer):
            for parent in node.parents():
                visit(parent)
        finished.add(id(node))
        post_order.append(node)

    for tensor in outputs:
        visit(tensor)

    in_graph = {id(node) for node in post_order}
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers: dict[int, Any] = {}
    for node in reversed(post_order):
        # A shared layer takes the greatest depth of its calls, as in Keras.
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for parent in node.parents():
            if id(parent.node) in in_graph:
                node_depth[id(parent.node)] = max(depth + 1, node_depth.get(id(parent.node), 0))
    for tensor in inputs:
        # An input no output depends on still belongs to the model, at depth 0.
        layer = tensor.node.layer
        if isinstance(layer, InputLayer) and id(layer) not in layer_depth:
            layer_depth[id(layer)], first_seen[id(layer)], layers[id(layer)] = 0, -1, layer
    ordered = sorted(layers, key=lambda key: (-layer_depth[key], first_seen[key]))
    return [layers[key] for key in ordered]
