"""`to_onnx(model, path)`: an `unrolled` model as an ONNX graph of standard operators.

Recurrent layers become ONNX's own `LSTM`, `GRU` and `RNN` operators (onnxruntime runs
them as fused kernels), with Keras's gate order and activations mapped onto ONNX's by the
cell's kind (`ops.cell_kinds`: `onnx_operator`, `onnx_order`, `onnx_activations`); a GRU's
`reset_after` is ONNX's `linear_before_reset`.

The graph is written from the layers' weights and options (not traced), so the samples and
timesteps axes stay dynamic and nothing depends on the example data. With `step=True`
every recurrent layer's states are graph inputs and outputs, for streaming inference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unrolled import activations
from unrolled.errors import ConfigError
from unrolled.files import write_bytes
from unrolled.interop.keras_config import hard_sigmoid_keras2
from unrolled.interop.keras_import import IgnoresInputMask
from unrolled.interop.onnx_attention import TABLE as ATTENTION_TABLE
from unrolled.interop.onnx_convolution import TABLE as CONVOLUTIONAL_TABLE
from unrolled.interop.onnx_convolution import folded_time_distributed
from unrolled.interop.onnx_elementwise import TABLE as ELEMENTWISE_TABLE
from unrolled.interop.onnx_elementwise import identity
from unrolled.interop.onnx_graph import Graph, Value, expanded_to_one_rank, weight_array
from unrolled.layers import (
    RNN,
    Activation,
    Add,
    Average,
    Bidirectional,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    InputLayer,
    Lambda,
    Masking,
    Multiply,
    RepeatVector,
    Reshape,
    Subtract,
    TimeDistributed,
)
from unrolled.layers.cell import KernelCell
from unrolled.layers.symbolic import SymbolicTensor, flatten
from unrolled.models import Model, Sequential
from unrolled.ops.weights import reorder_blocks

DEFAULT_OPSET = 17
_INT64_MIN = np.iinfo(np.int64).min


class ExportError(ConfigError):
    """A layer or option that has no ONNX equivalent here; the message names the layer."""


@dataclass(frozen=True)
class StateSpec:
    """One recurrent state of a step model: the graph input it is read from and the output
    its next value is written to, and its size (`(samples, size)`)."""

    layer: str
    input: str
    output: str
    size: int


@dataclass
class OnnxSignature:
    """Names of what `to_onnx` wrote: feed `inputs` (and each state's `input`), read `outputs`
    (and each state's `output`, the next call's state input)."""

    path: Path
    inputs: list[str]
    outputs: list[str]
    states: list[StateSpec] = field(default_factory=list)

    def zero_states(self, samples: int) -> dict[str, np.ndarray]:
        """All-zero states for a batch of `samples`, keyed by input name (a sequence's start)."""
        return {s.input: np.zeros((samples, s.size), np.float32) for s in self.states}


def to_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    step: bool = False,
    opset: int = DEFAULT_OPSET,
) -> OnnxSignature:
    """Writes `model` as an ONNX file with dynamic samples and timesteps axes.

    Args:
        model: a `Sequential`, a functional `Model`, or one layer, built (its input shape known).
        path: the `.onnx` file to write (written to a temporary file, then renamed into place).
        step: also make every recurrent layer's states graph inputs and outputs, for streaming:
            feed `(samples, 1, features)` and the states, read the outputs and the next states.
            Any number of timesteps per call works; the states carry over between calls.
        opset: the ONNX opset (17 by default; 14 or newer).

    Returns:
        An `OnnxSignature` with the input, output and state names.

    Shapes:
        inputs `(samples, timesteps, features)` as the model takes them (an `Embedding` first
        takes int64 indices); outputs as the model returns them.

    Raises:
        ExportError (a ConfigError): a layer without an ONNX form here: Masking and
            `Embedding(mask_zero=True)` (masks), Lambda and user cells (code), stateful layers
            without `step=True`, `go_backwards` and Bidirectional with `step=True`, activations
            the ONNX recurrent operators lack.
        ImportError: the onnx package is missing (`pip install 'unrolled[onnx]'`).

    Example:
        >>> sig = to_onnx(model, "forecaster.onnx")  # doctest: +SKIP
        >>> onnxruntime.InferenceSession(str(sig.path)).run(None, {sig.inputs[0]: x})  # doctest: +SKIP
    """
    if opset < 14:
        raise ConfigError(f"to_onnx needs opset 14 or newer; received opset={opset}.")
    if not getattr(model, "built", True):
        raise ConfigError(
            f"{getattr(model, 'name', type(model).__name__)} is not built yet: give it an input "
            "shape (Input(...) or input_shape=) or call it on data before exporting."
        )
    graph = Graph(getattr(model, "name", "model"))
    exporter = _Exporter(graph, step)
    inputs, outputs = exporter.model(model)
    output_names = [
        graph.add_output(v, "output" if len(outputs) == 1 else f"output_{i}")
        for i, v in enumerate(outputs)
    ]
    states = []
    for spec, value in exporter.states:
        graph.add_output(value, spec.output)
        states.append(spec)
    onnx_model = graph.model(opset)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(target, onnx_model.SerializeToString())  # temporary file, then renamed
    return OnnxSignature(target, [v.name for v in inputs], output_names, states)


# -- the walk over models ---------------------------------------------------------------------------
class _Exporter:
    def __init__(self, graph: Graph, step: bool) -> None:
        self.g = graph
        self.step = step
        self.states: list[tuple[StateSpec, Value]] = []

    def model(self, model: nn.Module) -> tuple[list[Value], list[Value]]:
        """Declares the graph inputs for `model` and exports it; returns (inputs, outputs)."""
        onnx = self.g.onnx
        if isinstance(model, Model):
            inputs = []
            for t in model._inputs:
                name, elem = t.node.layer.name, _elem_type(onnx, t.dtype, None)
                # Each input's own length: an encoder's and a decoder's may differ.
                timed = len(t.shape) >= 3 or elem == onnx.TensorProto.INT64
                steps = (
                    ("timesteps" if len(model._inputs) == 1 else f"{name}_timesteps")
                    if timed
                    else None
                )
                inputs.append(self.g.add_input(name, _dynamic(t.shape, steps), elem))
            return inputs, self.functional(model, inputs)
        shape = getattr(model, "input_shape", None) or getattr(model, "batch_shape", None)
        if shape is None:
            raise ConfigError(
                f"{getattr(model, 'name', type(model).__name__)} has no known input shape; build "
                "it (Input(...), input_shape=, or one call on data) before exporting."
            )
        first = model.layers[0] if isinstance(model, Sequential) and model.layers else model
        elem = _elem_type(onnx, None, first)
        timed = len(shape) >= 3 or elem == onnx.TensorProto.INT64
        x = self.g.add_input("input", _dynamic(shape, "timesteps" if timed else None), elem)
        return [x], self.layer(model, x, {})

    def functional(self, model: Model, inputs: list[Value]) -> list[Value]:
        values: dict[int, Value] = {id(t): v for t, v in zip(model._inputs, inputs)}

        def lookup(item: Any) -> Any:
            if isinstance(item, SymbolicTensor):
                return values[id(item)]
            if isinstance(item, (list, tuple)):
                return [lookup(i) for i in item]
            return item

        for node in model._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args = lookup(list(node.args))
            kwargs = {k: lookup(v) for k, v in node.kwargs.items() if k != "training"}
            outputs = self.layer(node.layer, args[0] if len(args) == 1 else args, kwargs)
            for symbol, value in zip(node.outputs, outputs):
                values[id(symbol)] = Value(value.name, _dynamic(symbol.shape))
        return [values[id(t)] for t in model._outputs]

    # -- one layer --------------------------------------------------------------------------
    def layer(self, layer: nn.Module, x: Any, kwargs: dict[str, Any]) -> list[Value]:
        """The ONNX nodes for one layer call; returns its outputs, flattened."""
        if kwargs.get("mask") is not None:
            raise self.refuse(layer, "it is called with an explicit mask")
        if isinstance(layer, IgnoresInputMask):
            layer = layer.layer
        if isinstance(layer, Sequential):
            for each in layer.layers:
                (x,) = self.layer(each, x, {})
            return [x]
        if isinstance(layer, Model):
            return self.functional(layer, x if isinstance(x, list) else [x])
        for kind, why in _WHY_NOT.items():
            if isinstance(layer, kind) and (kind is not Embedding or layer.mask_zero):
                raise self.refuse(layer, why)
        if isinstance(layer, RNN):
            return self.recurrent(layer, x, kwargs.get("initial_state"))
        if isinstance(layer, Bidirectional):
            return self.bidirectional(layer, x, kwargs.get("initial_state"))
        if isinstance(layer, (Concatenate, Add, Subtract, Multiply, Average)):
            return [self.merge(layer, x)]
        for kind, method in self._SIMPLE:
            if isinstance(layer, kind):
                # Call options (use_causal_mask=True, ...) would change the result: refused.
                options = [
                    f"{k}={v!r}" for k, v in kwargs.items() if v is not None and v is not False
                ]
                if options:
                    raise self.refuse(layer, f"it is called with {', '.join(options)}")
                return [method(self, layer, x)]
        raise self.refuse(
            layer,
            "it has no ONNX form here. Exportable layers: LSTM, GRU, SimpleRNN, RNN over their "
            "cells, Bidirectional, TimeDistributed, Dense, Activation, Dropout, Flatten, "
            "Reshape, RepeatVector, Embedding (without mask_zero), merges, Conv1D/2D/3D, the "
            "poolings, ZeroPadding1D, UpSampling1D, Cropping1D, Permute, Maximum, Minimum, "
            "ReLU, LeakyReLU, PReLU, ELU, Softmax, BatchNormalization, LayerNormalization, "
            "GaussianNoise, GaussianDropout, ActivityRegularization, Dot, Attention, "
            "AdditiveAttention, MultiHeadAttention",
        )

    def refuse(self, layer: nn.Module, why: str) -> ExportError:
        name = getattr(layer, "name", type(layer).__name__)
        return ExportError(f"Layer {name!r} ({type(layer).__name__}) cannot be exported: {why}.")

    # -- recurrent layers -------------------------------------------------------------------
    def recurrent(self, layer: RNN, x: Value, initial_state: Any) -> list[Value]:
        cell = layer.cell
        if not isinstance(cell, KernelCell):
            raise self.refuse(
                layer,
                f"its cell {type(cell).__name__} is not an LSTMCell, GRUCell or SimpleRNNCell "
                "(user cells and stacked cells are Python code)",
            )
        if not cell.kind.onnx_operator:  # ConvLSTM: the kind's record names no ONNX operator
            raise self.refuse(
                layer,
                f"ONNX has no recurrent operator for {cell.kind.name} cells (LSTM, GRU and RNN "
                "only); run this model in PyTorch, or export the layers around it",
            )
        if layer.stateful and not self.step:
            raise self.refuse(
                layer,
                "it is stateful, so its state carries over between calls; export with "
                "step=True, which makes the states inputs and outputs",
            )
        if self.step and layer.go_backwards:
            raise self.refuse(layer, "go_backwards needs the whole sequence, so it cannot stream")
        if self.step and initial_state is not None:
            raise self.refuse(
                layer, "with step=True the states are graph inputs, so initial_state cannot be"
            )
        g, units, name = self.g, cell.units, layer.name
        op_type, n_states = cell.kind.onnx_operator, cell.kind.state_count
        xt = g.op("Transpose", [x.name], f"{name}/time_major", perm=[1, 0, 2])  # (T, B, F)
        if layer.go_backwards:
            xt = self.reverse(xt, 0, f"{name}/reversed")
        weights, attrs = _recurrent_weights(layer, cell)
        w, r, b = (g.const(a, f"{name}/{n}") for n, a in zip("WRB", weights))
        states = self.initial_states(layer, initial_state)
        op_inputs = [xt, w, r, b, "", *[s or "" for s in states]]
        while op_inputs and op_inputs[-1] == "":
            op_inputs.pop()
        outputs = g.op(op_type, op_inputs, f"{name}/{op_type}", outputs=1 + n_states, **attrs)
        y, finals = outputs[0], outputs[1:]  # (T, 1, B, U); n_states x (1, B, U)
        final_values = [
            Value(g.op("Squeeze", [f, g.axes(0)], f"{name}/state"), ("batch", units))
            for f in finals
        ]
        if self.step:
            for spec, value in zip(self._state_specs(layer), final_values):
                self.states.append((spec, value))
        if layer.return_sequences:
            seq = g.op("Squeeze", [y, g.axes(1)], f"{name}/sequences")  # (T, B, U)
            out = g.op("Transpose", [seq], f"{name}/output", perm=[1, 0, 2])  # (B, T, U)
            output = Value(out, ("batch", x.shape[1], units))
        else:
            output = final_values[0]  # the last output is the last h
        return [output, *final_values] if layer.return_state else [output]

    def initial_states(self, layer: RNN, given: Any) -> list[str | None]:
        g, count = self.g, layer.cell.kind.state_count
        if self.step:
            specs = self._state_specs(layer)
            values = [g.add_input(s.input, ("batch", s.size)) for s in specs]
        elif given is not None:
            values = list(flatten(given))
            if len(values) != count:
                raise self.refuse(layer, f"it takes {count} initial states, received {len(values)}")
        else:
            return [None] * count
        return [g.op("Unsqueeze", [v.name, g.axes(0)], f"{layer.name}/initial") for v in values]

    def _state_specs(self, layer: RNN) -> list[StateSpec]:
        return [
            StateSpec(layer.name, f"{layer.name}_{n}", f"{layer.name}_{n}_next", layer.cell.units)
            for n in layer.cell.kind.states
        ]

    def bidirectional(self, layer: Bidirectional, x: Value, initial_state: Any) -> list[Value]:
        if self.step:
            raise self.refuse(layer, "its backward direction needs the whole sequence")
        forward_state = backward_state = None
        if initial_state is not None:
            given = list(flatten(initial_state))
            half = len(given) // 2
            forward_state, backward_state = given[:half], given[half:]
        y, *forward_states = self.recurrent(layer.forward_layer, x, forward_state)
        y_rev, *backward_states = self.recurrent(layer.backward_layer, x, backward_state)
        if layer.return_sequences:
            y_rev = Value(
                self.reverse(y_rev.name, 1, f"{layer.name}/backward_in_order"), y_rev.shape
            )
        g, mode, name = self.g, layer.merge_mode, layer.name
        if mode is None:
            merged = [y, y_rev]
        elif mode == "concat":
            out = g.op("Concat", [y.name, y_rev.name], f"{name}/concat", axis=-1)
            merged = [Value(out, (*y.shape[:-1], 2 * y.shape[-1]))]
        elif mode == "ave":
            out = g.op("Mean", [y.name, y_rev.name], f"{name}/ave")
            merged = [Value(out, y.shape)]
        else:
            op_type = {"sum": "Add", "mul": "Mul"}[mode]
            merged = [Value(g.op(op_type, [y.name, y_rev.name], f"{name}/{mode}"), y.shape)]
        return [*merged, *forward_states, *backward_states] if layer.return_state else merged

    def reverse(self, name: str, axis: int, hint: str) -> str:
        g = self.g
        starts = g.const([-1], "starts", np.int64)
        ends = g.const([_INT64_MIN], "ends", np.int64)
        steps = g.const([-1], "steps", np.int64)
        return g.op("Slice", [name, starts, ends, g.axes(axis), steps], hint)

    # -- the other layers -------------------------------------------------------------------
    def dense(self, layer: Dense, x: Value) -> Value:
        g, name = self.g, layer.name
        y = g.op(
            "MatMul",
            [x.name, g.const(weight_array(layer.kernel), f"{name}/kernel")],
            f"{name}/matmul",
        )
        if layer.use_bias:
            y = g.op(
                "Add", [y, g.const(weight_array(layer.bias), f"{name}/bias")], f"{name}/bias_add"
            )
        y = self.activation(layer, layer.activation, y)
        return Value(y, (*x.shape[:-1], layer.units))

    def activation_layer(self, layer: Activation, x: Value) -> Value:
        return Value(self.activation(layer, layer.activation, x.name), x.shape)

    def flatten(self, layer: Flatten, x: Value) -> Value:
        if getattr(layer, "data_format", None) == "channels_first" and x.rank > 2:
            raise self.refuse(layer, "data_format='channels_first' is not exported")
        size = (
            int(np.prod([d for d in x.shape[1:]]))
            if all(isinstance(d, int) for d in x.shape[1:])
            else None
        )
        return Value(
            self.g.op("Flatten", [x.name], f"{layer.name}/flatten", axis=1), ("batch", size)
        )

    def reshape(self, layer: Reshape, x: Value) -> Value:
        target = [0, *layer.target_shape]  # 0 copies the samples axis
        shape = self.g.const(target, f"{layer.name}/shape", np.int64)
        out = self.g.op("Reshape", [x.name, shape], f"{layer.name}/reshape")
        return Value(out, ("batch", *layer.target_shape))

    def repeat_vector(self, layer: RepeatVector, x: Value) -> Value:
        g, name = self.g, layer.name
        expanded = g.op("Unsqueeze", [x.name, g.axes(1)], f"{name}/unsqueeze")  # (B, 1, F)
        repeats = g.const([1, layer.n, 1], f"{name}/repeats", np.int64)
        return Value(
            g.op("Tile", [expanded, repeats], f"{name}/tile"), ("batch", layer.n, x.shape[-1])
        )

    def embedding(self, layer: Embedding, x: Value) -> Value:
        g, name = self.g, layer.name
        indices = g.op("Cast", [x.name], f"{name}/indices", to=g.onnx.TensorProto.INT64)
        table = g.const(weight_array(layer.embeddings), f"{name}/embeddings")
        return Value(
            g.op("Gather", [table, indices], f"{name}/gather", axis=0), (*x.shape, layer.output_dim)
        )

    def time_distributed(self, layer: TimeDistributed, x: Value) -> Value:
        inner = layer.layer
        # These act on the last axis alone, so the timesteps axis needs no folding.
        if isinstance(inner, (Dense, Activation, Dropout, TimeDistributed)):
            (y,) = self.layer(inner, x, {})
            return y
        # Others (Conv2D, MaxPooling2D, Flatten, ...) see (samples * timesteps, ...).
        return folded_time_distributed(self, layer, x)

    def merge(self, layer: nn.Module, inputs: Any) -> Value:
        values = list(inputs)
        g, name = self.g, layer.name
        if isinstance(layer, Concatenate):
            shape = list(values[0].shape)
            axis = layer.axis % len(shape)
            sizes = [v.shape[axis] for v in values]
            shape[axis] = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
            out = g.op("Concat", [v.name for v in values], f"{name}/concat", axis=layer.axis)
            return Value(out, tuple(shape))
        names = expanded_to_one_rank(g, values, name)
        op_type = {Add: "Sum", Average: "Mean", Subtract: "Sub"}.get(type(layer))
        if op_type is not None:
            out = g.op(op_type, names, f"{name}/{op_type.lower()}")
        else:  # Multiply
            out = names[0]
            for other in names[1:]:
                out = g.op("Mul", [out, other], f"{name}/mul")
        widest = max(values, key=lambda v: v.rank)
        return Value(out, widest.shape)

    def activation(self, layer: nn.Module, function: Any, x: str) -> str:
        """The ONNX nodes for a Keras activation by name; a user function is refused."""
        g, name = self.g, getattr(layer, "name", "activation")
        known = activations.name_of(function)
        if function is hard_sigmoid_keras2:
            return g.op("HardSigmoid", [x], f"{name}/hard_sigmoid", alpha=0.2, beta=0.5)
        if known is None:
            raise self.refuse(layer, "its activation is a Python function")
        if known == "linear":
            return x
        if known == "relu6":
            low, high = g.const(0.0, f"{name}/zero"), g.const(6.0, f"{name}/six")
            return g.op("Clip", [x, low, high], f"{name}/relu6")
        single = _ACTIVATION_OPS.get(known)
        if single is not None:
            op_type, attrs = single
            return g.op(op_type, [x], f"{name}/{known}", **attrs)
        if known in ("silu", "swish"):
            return g.op("Mul", [x, g.op("Sigmoid", [x], f"{name}/sigmoid")], f"{name}/silu")
        if known in ("hard_silu", "hard_swish"):
            gate = g.op("HardSigmoid", [x], f"{name}/gate", alpha=1 / 6, beta=0.5)
            return g.op("Mul", [x, gate], f"{name}/hard_silu")
        if known == "gelu":
            root2 = g.const(np.sqrt(2.0), f"{name}/sqrt2")
            erf = g.op("Erf", [g.op("Div", [x, root2], f"{name}/scaled")], f"{name}/erf")
            one, half = g.const(1.0, f"{name}/one"), g.const(0.5, f"{name}/half")
            cdf = g.op("Mul", [g.op("Add", [erf, one], f"{name}/erf1"), half], f"{name}/cdf")
            return g.op("Mul", [x, cdf], f"{name}/gelu")
        if known == "mish":
            soft = g.op("Softplus", [x], f"{name}/softplus")
            return g.op("Mul", [x, g.op("Tanh", [soft], f"{name}/tanh")], f"{name}/mish")
        if known == "log_sigmoid":
            negative = g.op("Neg", [x], f"{name}/neg")
            return g.op(
                "Neg", [g.op("Softplus", [negative], f"{name}/softplus")], f"{name}/log_sigmoid"
            )
        raise self.refuse(layer, f"the activation {known!r} is not exported")

    _SIMPLE: list[tuple[type | tuple[type, ...], Any]] = []


_Exporter._SIMPLE = [
    (Dense, _Exporter.dense),
    (Activation, _Exporter.activation_layer),
    (Dropout, identity),  # at inference
    (Flatten, _Exporter.flatten),
    (Reshape, _Exporter.reshape),
    (RepeatVector, _Exporter.repeat_vector),
    (Embedding, _Exporter.embedding),
    (TimeDistributed, _Exporter.time_distributed),
    *CONVOLUTIONAL_TABLE,
    *ELEMENTWISE_TABLE,
    *ATTENTION_TABLE,
]

_WHY_NOT = {
    Masking: "masks have no ONNX form here (ONNX's sequence_lens covers only post-padding); "
    "export a model without masking and trim or pad the inputs yourself",
    Embedding: "mask_zero=True makes a mask, and masks have no ONNX form here",
    Lambda: "a Lambda layer is Python code",
}

_ACTIVATION_OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "relu": ("Relu", {}),
    "elu": ("Elu", {"alpha": 1.0}),
    "selu": ("Selu", {}),
    "softplus": ("Softplus", {}),
    "softsign": ("Softsign", {}),
    "exponential": ("Exp", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "hard_sigmoid": ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.2}),
}

# Keras activations the ONNX recurrent operators compute: ONNX name, alpha, beta.
_RECURRENT_ACTIVATIONS: dict[str, tuple[str, float | None, float | None]] = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
    "hard_sigmoid": ("HardSigmoid", 1 / 6, 0.5),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
    "leaky_relu": ("LeakyRelu", 0.2, None),
}


def _recurrent_activation(layer: RNN, function: Any) -> tuple[str, float | None, float | None]:
    if function is hard_sigmoid_keras2:
        return ("HardSigmoid", 0.2, 0.5)
    known = activations.name_of(function)
    if known not in _RECURRENT_ACTIVATIONS:
        raise ExportError(
            f"Layer {layer.name!r} ({type(layer).__name__}) cannot be exported: its activation "
            f"{known or 'a Python function'!r} is not one the ONNX recurrent operators compute "
            f"({', '.join(sorted(_RECURRENT_ACTIVATIONS))})."
        )
    return _RECURRENT_ACTIVATIONS[known]


def _recurrent_weights(layer: RNN, cell: KernelCell) -> tuple[list[np.ndarray], dict[str, Any]]:
    """ONNX `W (1, G*U, F)`, `R (1, G*U, U)`, `B (1, 2*G*U)` and the operator's attributes."""
    kind, u = cell.kind, cell.units
    width = kind.gate_count * u
    bias = torch.zeros(kind.bias_shape(u)) if cell.bias is None else cell.bias.detach()
    if kind.bias_rows == 1:  # Keras's one bias is ONNX's input bias; the recurrent bias is zero
        bias = torch.stack([bias, torch.zeros_like(bias)])  # (2, G*U)
    kernel, recurrent, bias = (
        weight_array(reorder_blocks(w.detach(), kind.onnx_order, u))  # ONNX gate order
        for w in (cell.kernel, cell.recurrent_kernel, bias)
    )  # (F, G*U), (U, G*U), (2, G*U): (input bias, recurrent bias)
    weights = [kernel.T[None], recurrent.T[None], bias.reshape(1, 2 * width)]
    mapped = [_recurrent_activation(layer, getattr(cell, a)) for a in kind.onnx_activations]
    attrs: dict[str, Any] = {"hidden_size": u, "activations": [m[0] for m in mapped]}
    # onnxruntime reads alpha and beta values in order, one per activation that takes them.
    alphas = [m[1] for m in mapped if m[1] is not None]
    betas = [m[2] for m in mapped if m[2] is not None]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    if kind.onnx_operator == "GRU":  # the reset gate after the recurrent matmul, as ONNX names it
        attrs["linear_before_reset"] = int(kind.bias_rows == 2)
    return weights, attrs


def _dynamic(shape: Any, timesteps: str | None = None) -> tuple[int | str | None, ...]:
    """The samples axis (and, named `timesteps`, axis 1) made dynamic; other unknown sizes unnamed.

    A model input of fixed length still takes any length in ONNX: recurrent layers do not
    depend on it, and streaming feeds one step at a time.
    """
    dims: list[int | str | None] = [d if isinstance(d, int) else None for d in shape]
    if dims:
        dims[0] = "batch"
    if timesteps and len(dims) > 1:
        dims[1] = timesteps
    return tuple(dims)


def _elem_type(onnx: Any, dtype: torch.dtype | None, first_layer: Any) -> int:
    integer = dtype is not None and not dtype.is_floating_point
    if integer or isinstance(first_layer, Embedding):
        return onnx.TensorProto.INT64
    return onnx.TensorProto.FLOAT
