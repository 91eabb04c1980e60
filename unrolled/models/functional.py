"""`Model(inputs, outputs)`: a graph of layer calls recorded from symbolic tensors."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.layers.base import Layer, accepts
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.symbolic import Node, SymbolicTensor, flatten, map_structure
from unrolled.models.base import ModelBase
from unrolled.models.graph_config import functional_config, functional_from_config
from unrolled.models.inputs import as_model_input, check_input_shape
from unrolled.models.layer_order import keras_layer_order
from unrolled.saving import serialization
from unrolled.saving.registry import register_builtin


class Model(ModelBase):
    """A model from symbolic inputs to outputs: `Model(inputs, outputs)`.

    Several inputs and outputs are lists; a model is itself a layer, so it can be called on
    symbolic tensors (to compose an autoencoder from an encoder and a decoder) or on data.

    Example:
        >>> inputs = Input((10, 3))
        >>> outputs = Dense(1)(LSTM(8)(inputs))
        >>> Model(inputs, outputs)(torch.zeros(2, 10, 3)).shape
        torch.Size([2, 1])
    """

    # Keras builds a functional model's layers before the model exists, so its name is in
    # none of their weights' paths.
    _scope_boundary = True

    def __init__(
        self, inputs: Any = None, outputs: Any = None, name: str | None = None, **kwargs: Any
    ) -> None:
        inputs, outputs = _legacy_io(inputs, outputs, kwargs)
        super().__init__(name=name, **kwargs)
        if inputs is None or outputs is None:
            raise ConfigError(
                "Model needs `inputs` and `outputs`: symbolic tensors from Input and layer calls."
            )
        self._input_structure = inputs
        self._output_structure = outputs
        self._inputs = _symbolic_leaves(inputs, "inputs")
        self._outputs = _symbolic_leaves(outputs, "outputs")
        self._nodes = _nodes_between(self._inputs, self._outputs)
        # Registered once each, in call order, numbered as torch.nn.Sequential numbers its
        # modules, so parameters() and state_dict() see them (`0.cell.kernel`).
        for index, layer in enumerate(_unique([node.layer for node in self._nodes])):
            self.add_module(str(index), layer)
        # `layers` (and so get_weights) follow Keras's order, deepest first, which differs
        # from call order on graphs with several branches.
        self._layer_order = keras_layer_order(self._inputs, self._outputs)
        self.built = True

    # -- structure ----------------------------------------------------------------------------
    @property
    def input(self) -> Any:
        """The symbolic input(s) as given to `Model(inputs, ...)`: a tensor, list or dict."""
        return self._input_structure

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The symbolic inputs as a flat list."""
        return list(self._inputs)

    @property
    def output(self) -> Any:
        """The symbolic output(s) as given to `Model(..., outputs)`."""
        return self._output_structure

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The symbolic outputs as a flat list."""
        return list(self._outputs)

    @property
    def layers(self) -> list[Layer]:
        """The layers in Keras's order: by depth from the outputs, deepest (the inputs) first,
        then in the order a walk from the outputs meets them (see `layer_order`)."""
        return list(self._layer_order)

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def weights(self) -> list[nn.Parameter]:
        """All layers' weights in layer order, each layer's in Keras order."""
        seen: set[int] = set()
        weights = []
        for layer in self.layers:
            for weight in layer.weights if isinstance(layer, Layer) else layer.parameters():
                if id(weight) not in seen:
                    seen.add(id(weight))
                    weights.append(weight)
        return weights

    # -- running --------------------------------------------------------------------------------
    def forward(self, *inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        """Runs the graph on data: one array per model input (a list also works)."""
        given = (
            list(inputs[0])
            if len(inputs) == 1 and isinstance(inputs[0], (list, tuple))
            else list(inputs)
        )
        if len(given) != len(self._inputs):
            raise ShapeError(
                f"{self.name} has {len(self._inputs)} input(s) of shapes "
                f"{', '.join(shape_str(t.shape) for t in self._inputs)}; received {len(given)} array(s)."
            )
        values: dict[int, Any] = {}
        masks = flatten(mask) if mask is not None else [None] * len(given)
        for symbol, value, value_mask in zip(self._inputs, given, masks):
            tensor = as_model_input(value, self.name)
            check_input_shape(self.name, symbol.shape, tuple(tensor.shape), samples=True)
            if value_mask is not None:
                tensor._keras_mask = torch.as_tensor(value_mask, device=tensor.device)
            values[id(symbol)] = tensor
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args = map_structure(
                lambda t: values[id(t)] if isinstance(t, SymbolicTensor) else t, node.args
            )
            kwargs = map_structure(
                lambda t: values[id(t)] if isinstance(t, SymbolicTensor) else t, node.kwargs
            )
            if training is not None and accepts(type(node.layer), "training"):
                kwargs["training"] = training
            result = node.layer(*args, **kwargs)
            for symbol, value in zip(
                node.outputs, flatten(result) if len(node.outputs) > 1 else [result]
            ):
                values[id(symbol)] = value
        return map_structure(lambda t: values[id(t)], self._output_structure)

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch = (
            (input_shape[0] if len(self._inputs) == 1 else input_shape[0][0])
            if input_shape
            else None
        )
        shapes = [(batch, *t.shape[1:]) for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.built = True  # a functional model is built when it is defined

    # -- config -----------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The graph as JSON-ready data: each layer's config and the calls that feed it
        (Keras 3's `inbound_nodes`), and which tensors are the inputs and outputs."""
        return functional_config(self)

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Model:
        """The model `get_config()` described, with fresh weights.

        A subclass whose constructor takes its own options (and whose `get_config` returns
        them) is rebuilt as `cls(**config)`, as in Keras.
        """
        if cls.__init__ is Model.__init__ and "input_layers" in config:
            return functional_from_config(cls, config, custom_objects)
        return cls(**serialization.deserialize(dict(config), custom_objects, cls.__name__))


def _legacy_io(inputs: Any, outputs: Any, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    # Keras 1 spelled them `input=` and `output=`; Keras 3 refuses both.
    for old, new in (("input", "inputs"), ("output", "outputs")):
        if old in kwargs:
            warnings.warn(
                f"Model(`{old}=`) was removed in Keras 3; use `{new}=`.",
                DeprecationWarning,
                stacklevel=3,
            )
            value = kwargs.pop(old)
            if new == "inputs":
                inputs = value if inputs is None else inputs
            else:
                outputs = value if outputs is None else outputs
    return inputs, outputs


def _symbolic_leaves(structure: Any, argument: str) -> list[SymbolicTensor]:
    leaves = flatten(structure)
    for leaf in leaves:
        if not isinstance(leaf, SymbolicTensor):
            raise ConfigError(
                f"Model `{argument}` must be symbolic tensors from Input(...) and layer calls; "
                f"received {type(leaf).__name__}."
            )
    return leaves


def _nodes_between(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> list[Node]:
    """The layer calls from `inputs` to `outputs`, each after the calls it depends on."""
    input_ids = {id(t) for t in inputs}
    ordered: list[Node] = []
    state: dict[int, str] = {}

    def visit(tensor: SymbolicTensor) -> None:
        node = tensor.node
        if id(tensor) in input_ids:
            if id(node) not in state:
                state[id(node)] = "done"
                ordered.append(node)
            return
        if isinstance(node.layer, InputLayer):
            raise ConfigError(
                f"The outputs depend on an Input of shape {shape_str(tensor.shape)} that is not in the "
                "model's `inputs`; pass every Input the outputs need."
            )
        if state.get(id(node)) == "done":
            return
        state[id(node)] = "visiting"
        for parent in node.parents():
            visit(parent)
        state[id(node)] = "done"
        ordered.append(node)

    for tensor in outputs:
        visit(tensor)
    return ordered


def _unique(layers: list[Any]) -> list[Any]:
    seen: set[int] = set()
    return [
        x
        for x in layers
        if not (id(x) in seen or seen.add(id(x))) and not isinstance(x, InputLayer)
    ]


register_builtin("unrolled.models", Model, aliases={"Functional": Model})
