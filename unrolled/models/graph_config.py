"""A functional model's graph as a config, and back: Keras 3's `inbound_nodes` layout.

    {"name": "model", "trainable": true,
     "layers": [{"module", "class_name", "config", "registered_name", "name",
                 "inbound_nodes": [{"args": [...], "kwargs": {...}}, ...]}, ...],
     "input_layers": ["input_layer", 0, 0],        # or a list / dict of such triples
     "output_layers": ["dense", 0, 0]}

Each node is one call of the layer in this model, in call order. A symbolic tensor in a
node's arguments is `{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer name, node index, tensor index]}}`: the `tensor index`-th output
of the `node index`-th call of that layer. Rebuilding calls each layer on the tensors its
nodes name, in rounds, until every node has run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unrolled.errors import ConfigError, FileFormatError
from unrolled.layers.input_layer import Input, InputLayer
from unrolled.layers.symbolic import SymbolicTensor, flatten, map_structure
from unrolled.saving import serialization

KERAS_TENSOR = "__keras_tensor__"


def functional_config(model: Any) -> dict[str, Any]:
    """The config of a `Model(inputs, outputs)`: layers, their calls, inputs and outputs."""
    node_index: dict[int, int] = {}
    calls: dict[int, list[Any]] = {}
    for node in model._nodes:
        nodes = calls.setdefault(id(node.layer), [])
        node_index[id(node)] = len(nodes)
        nodes.append(node)

    def reference(tensor: SymbolicTensor) -> list[Any]:
        return [tensor.node.layer.name, node_index[id(tensor.node)], tensor.index]

    def argument(value: Any) -> Any:
        if isinstance(value, SymbolicTensor):
            return {
                "class_name": KERAS_TENSOR,
                "config": {
                    "shape": list(value.shape),
                    "dtype": _dtype_name(value.dtype),
                    "keras_history": reference(value),
                },
            }
        if isinstance(value, (list, tuple)):
            return [argument(item) for item in value]
        if isinstance(value, dict):
            return {key: argument(item) for key, item in value.items()}
        return serialization.serialize(value, f"a call of a layer in {model.name}")

    layers, names = [], set()
    for layer in model.layers:
        if layer.name in names:
            raise ConfigError(
                f"{model.name} has two layers named {layer.name!r}; layer names must be unique "
                "to save a model. Pass distinct `name=` arguments."
            )
        names.add(layer.name)
        entry = serialization.serialize_object(layer, f"layer {layer.name!r}")
        if isinstance(layer, InputLayer):
            symbol = calls[id(layer)][0].outputs[0]
            entry["config"]["dtype"] = _dtype_name(symbol.dtype)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {
                "args": [argument(a) for a in node.args],
                "kwargs": {k: argument(v) for k, v in node.kwargs.items()},
            }
            for node in calls[id(layer)]
            if not isinstance(layer, InputLayer)
        ]
        layers.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": map_structure(reference, model._input_structure),
        "output_layers": map_structure(reference, model._output_structure),
    }


def functional_from_config(
    cls: Any, config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None
) -> Any:
    """Rebuilds the model `functional_config` described, with fresh weights.

    Raises:
        FileFormatError: a layer or class is unknown, or a node names a tensor no call makes.
    """
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise FileFormatError("A functional model config needs a list of `layers`.")
    layers: dict[str, Any] = {}
    made: dict[tuple[str, int], list[SymbolicTensor]] = {}
    pending: list[tuple[str, list[Any]]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise FileFormatError("Each layer of a functional model config needs a `name`.")
        name = entry["name"]
        if name in layers:
            raise FileFormatError(f"The model config has two layers named {name!r}.")
        spec = {
            k: entry[k] for k in ("module", "class_name", "config", "registered_name") if k in entry
        }
        if entry.get("class_name") == "InputLayer" and entry.get("module") in (
            None,
            "unrolled.layers",
        ):
            layer_config = entry.get("config") or {}
            tensor = Input(
                batch_shape=layer_config.get("batch_shape"),
                name=name,
                dtype=layer_config.get("dtype"),
            )
            layers[name] = tensor.node.layer
            made[(name, 0)] = [tensor]
            continue
        layers[name] = serialization.deserialize_object(spec, custom_objects, f"layer {name!r}")
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise FileFormatError(f"Layer {name!r}: `inbound_nodes` must be a list.")
        pending.append((name, list(nodes)))

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and value.get("class_name") == KERAS_TENSOR:
            history = (value.get("config") or {}).get("keras_history")
            return _tensor(made, history)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            if serialization.is_spec(value):
                return serialization.deserialize_object(value, custom_objects, "a layer call")
            return {k: resolve(v) for k, v in value.items()}
        return value

    counts = {name: 0 for name, _ in pending}
    while any(nodes for _, nodes in pending):
        progressed = False
        for name, nodes in pending:
            while nodes and _ready(nodes[0], made):
                node = nodes.pop(0)
                args = resolve(node.get("args", []))
                kwargs = resolve(node.get("kwargs", {}))
                outputs = flatten(layers[name](*args, **kwargs))
                made[(name, counts[name])] = list(outputs[0].node.outputs)
                counts[name] += 1
                progressed = True
        if not progressed:
            waiting = [(name, nodes[0]) for name, nodes in pending if nodes]
            raise FileFormatError(
                f"The model graph cannot be rebuilt: layer {waiting[0][0]!r} waits for tensors "
                "that no layer call makes (the config is corrupted)."
            )
    inputs = map_structure(
        lambda leaf: _tensor(made, leaf.triple), _triples(config.get("input_layers"))
    )
    outputs = map_structure(
        lambda leaf: _tensor(made, leaf.triple), _triples(config.get("output_layers"))
    )
    model = cls(inputs=inputs, outputs=outputs, name=config.get("name"))
    if config.get("trainable") is False:
        model.trainable = False
    return model


def _ready(node: Any, made: dict[tuple[str, int], list[SymbolicTensor]]) -> bool:
    histories: list[Any] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict) and value.get("class_name") == KERAS_TENSOR:
            histories.append((value.get("config") or {}).get("keras_history"))
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)

    if not isinstance(node, dict):
        raise FileFormatError(
            f"A node of a functional model config must be a dict; got {node!r:.100}."
        )
    collect(node.get("args", []))
    collect(node.get("kwargs", {}))
    return all(_is_triple(h) and (h[0], h[1]) in made for h in histories)


def _tensor(made: dict[tuple[str, int], list[SymbolicTensor]], history: Any) -> SymbolicTensor:
    if not _is_triple(history) or (history[0], history[1]) not in made:
        raise FileFormatError(f"The model config names a tensor {history!r} that no layer makes.")
    outputs = made[(history[0], history[1])]
    if not 0 <= history[2] < len(outputs):
        raise FileFormatError(
            f"The model config names output {history[2]} of {history[0]!r}, which has {len(outputs)}."
        )
    return outputs[history[2]]


def _is_triple(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:])
    )


def _triples(structure: Any) -> Any:
    # `["input", 0, 0]` is one reference; `[["a", 0, 0], ["b", 0, 0]]` a list of them.
    if _is_triple(structure):
        return _Leaf(structure)
    if isinstance(structure, list):
        return [_triples(item) for item in structure]
    if isinstance(structure, dict):
        return {key: _triples(item) for key, item in structure.items()}
    raise FileFormatError(f"Invalid model inputs/outputs reference {structure!r:.100}.")


class _Leaf:
    """A reference triple that `map_structure` treats as one leaf."""

    def __init__(self, triple: list[Any]) -> None:
        self.triple = triple


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")
