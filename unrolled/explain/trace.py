"""The shape trace: every layer's input and output in `(samples, timesteps, features)` words,
what it does to time, the compute path of each recurrent layer, and the model's topology.

Example:
    >>> trace = shape_trace(many_to_one(timesteps=10, features=3, units=32))
    >>> trace.topology
    'many-to-one'
    >>> trace.rows[0].output_words
    '(samples, features=32)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unrolled.explain.shapes import rank, shape_words
from unrolled.explain.unrolling import Unroller, topology_from
from unrolled.explain.walk import (
    Call,
    calls,
    check_model,
    is_feedback,
    is_model,
    model_inputs,
    model_outputs,
)
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.cropping import Cropping1D
from unrolled.layers.embeddings import Embedding
from unrolled.layers.masking import Masking
from unrolled.layers.recurrent import RNN, Path
from unrolled.layers.reshaping import Flatten, RepeatVector, Reshape
from unrolled.layers.time_distributed import TimeDistributed


@dataclass(frozen=True)
class TraceRow:
    """One layer call of the trace."""

    layer: str
    kind: str  # the layer's class name
    input_shape: Any  # a shape, a list of shapes, or None when unknown
    output_shape: Any
    note: str  # what the layer does to time, in words
    path: Path | None = None  # recurrent layers: choose_path(masked=False, training=False)
    depth: int = 0  # layers inside a Feedback chain or a nested model
    tokens: bool = False  # the input is token ids (samples, timesteps)
    states: int = 0  # recurrent layers with return_state: how many of the outputs are states

    @property
    def input_words(self) -> str:
        return shape_words(self.input_shape, self.tokens)

    @property
    def output_words(self) -> str:
        if self.states and isinstance(self.output_shape, list):
            outputs = self.output_shape[: len(self.output_shape) - self.states]
            state = shape_words(self.output_shape[-1])
            return f"{shape_words(outputs)} + {_plural(self.states, 'state')} {state}"
        return shape_words(self.output_shape)

    @property
    def timesteps(self) -> int | None:
        """The timesteps of the (first) input, where known."""
        shape = self.input_shape[0] if isinstance(self.input_shape, list) else self.input_shape
        if shape is not None and len(shape) >= 2 and (len(shape) == 3 or self.tokens):
            return shape[1]
        return None


@dataclass(frozen=True)
class ShapeTrace:
    """The trace of a model: `rows` (one per layer call) and its `topology`."""

    model: str
    input_shape: Any
    output_shape: Any
    topology: str
    rows: tuple[TraceRow, ...]

    def __str__(self) -> str:
        header = (
            f'Shape trace of "{self.model}": {self.topology}\n'
            f"  input  {shape_words(self.input_shape, self._tokens_in())}\n"
            f"  output {shape_words(self.output_shape)}"
        )
        table = [("Layer (type)", "Input", "Output", "Path")]
        for row in self.rows:
            path = "" if row.path is None else f"{row.path.name}: {row.path.reason}"
            name = "  " * row.depth + f"{row.layer} ({row.kind})"
            table.append((name, row.input_words, row.output_words, path))
        widths = [max(len(r[i]) for r in table) + 2 for i in range(3)]
        lines = [header, ""]
        for index, (name, shape_in, shape_out, path) in enumerate(table):
            line = f" {name:<{widths[0]}}{shape_in:<{widths[1]}}{shape_out:<{widths[2]}}{path}"
            lines.append(line.rstrip())
            if index == 0:
                lines.append(" " + "-" * (sum(widths) + 4))
            elif self.rows[index - 1].note:
                note = self.rows[index - 1].note
                lines.append(f" {'':<{widths[0]}}{'  ' * self.rows[index - 1].depth}{note}")
        return "\n".join(lines)

    def _tokens_in(self) -> bool:
        return bool(self.rows) and self.rows[0].tokens


def shape_trace(model: Any) -> ShapeTrace:
    """The shape trace of a built `Sequential` or `Model`.

    Returns:
        A `ShapeTrace`; `str(trace)` is a readable table.

    Raises:
        ConfigError: for an object that is not a model.
    """
    check_model(model, "shape_trace")
    rows: list[TraceRow] = []
    _trace_calls(model, 0, rows)
    inputs = [s for _, s in model_inputs(model)]
    outputs = [s for _, s in model_outputs(model)]
    return ShapeTrace(
        model.name,
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        topology_of(model),
        tuple(rows),
    )


def topology_of(model: Any) -> str:
    """The model's picture: "one-to-one", "many-to-one", "many-to-many", "many-to-many (last N)",
    "one-to-many", "seq2seq" or "autoencoder".

    Decided from the model's input and output shapes and what its layers do to time: a
    recurrent layer returning its last step, `RepeatVector`, cropping, states handed from an
    encoder to a decoder.
    """
    check_model(model, "topology_of")
    unroller = Unroller(None, max_columns=4, need_steps=False)
    return topology_from(unroller.run(model), model)


def model_words(model: Any) -> tuple[str, str]:
    """The model's input and output shapes in words (token ids where an Embedding reads them)."""
    found = calls(model)
    tokens = bool(found) and isinstance(found[0].layer, Embedding) and rank(found[0].inputs[0]) == 2
    inputs = " + ".join(shape_words(s, tokens) for _, s in model_inputs(model))
    outputs = " + ".join(shape_words(s) for _, s in model_outputs(model))
    return inputs, outputs


def _trace_calls(model: Any, depth: int, rows: list[TraceRow]) -> None:
    for call in calls(model):
        rows.append(_row(call, depth))
        layer = call.layer
        if is_model(layer):
            _trace_calls(layer, depth + 1, rows)
        elif is_feedback(layer) and call.inputs and call.inputs[0] is not None:
            shape: Any = (call.inputs[0][0], 1, call.inputs[0][-1])  # one step at a time
            for inner in layer.chain:
                out = inner.compute_output_shape(shape)
                rows.append(_row(Call(inner, [shape], [out], [], [], []), depth + 1))
                shape = out


def _row(call: Call, depth: int) -> TraceRow:
    layer = call.layer
    shape_in = call.inputs[0] if len(call.inputs) == 1 else (call.inputs or None)
    shape_out = call.outputs[0] if len(call.outputs) == 1 else call.outputs
    tokens = isinstance(layer, Embedding)
    path, states = None, 0
    if isinstance(layer, (RNN, Bidirectional)):
        rnn = layer.forward_layer if isinstance(layer, Bidirectional) else layer
        path = rnn.choose_path(masked=False, training=False)
        if rnn.return_state:
            outputs = 2 if isinstance(layer, Bidirectional) and layer.merge_mode is None else 1
            states = len(call.outputs) - outputs
    return TraceRow(
        layer.name,
        type(layer).__name__,
        shape_in,
        shape_out,
        _note(call),
        path,
        depth,
        tokens,
        states,
    )


def _note(call: Call) -> str:
    layer = call.layer
    shape_in = call.inputs[0] if call.inputs else None
    steps = _steps(shape_in)
    if isinstance(layer, (RNN, Bidirectional)):
        rnn = layer.forward_layer if isinstance(layer, Bidirectional) else layer
        units = getattr(rnn.cell, "output_size", "?")
        reads = f"reads {_plural(steps, 'step')}" if steps else "reads every step"
        if rnn.return_sequences:
            text = f"many-to-many: one block of {units} cells {reads}, returns every step"
        else:
            text = f"many-to-one: one block of {units} cells {reads}, returns the last step"
        if isinstance(layer, Bidirectional):
            text += f"; forwards and backwards, merged by {layer.merge_mode}"
        elif rnn.go_backwards:
            text += "; reads the sequence backwards"
        if rnn.return_state:
            text += "; also returns its final states"
        if call.state_keys:
            text += "; starts from the given initial states"
        if rnn.stateful:
            text += "; stateful: keeps its states between batches"
        return text
    if isinstance(layer, RepeatVector):
        return f"one-to-many: the same vector at each of {layer.n} timesteps"
    if is_feedback(layer):
        return f"one-to-many: each output fed back as the next input, {layer.steps} steps"
    if isinstance(layer, Cropping1D):
        start, end = layer.cropping
        if steps:
            return f"keeps steps {start + 1} to {steps - end} of {steps}"
        return f"drops the first {start} and the last {end} steps"
    if isinstance(layer, TimeDistributed):
        return f"the same {type(layer.layer).__name__} at every timestep"
    if isinstance(layer, Embedding):
        return f"token ids to vectors of {layer.output_dim}, at every timestep"
    if isinstance(layer, Masking):
        return f"marks steps whose features all equal {layer.mask_value} as padding"
    if isinstance(layer, Reshape) and rank(call.outputs[0] if call.outputs else None) == 3:
        if call.outputs[0][1] == 1:
            return "one vector as a sequence of 1 timestep"
        return "a vector read as a sequence"
    if isinstance(layer, Flatten) and steps:
        return f"all {steps} steps side by side in one vector"
    if len(call.inputs) > 1:
        return f"merges {len(call.inputs)} inputs"
    return ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _steps(shape: Any) -> int | None:
    if shape is None or isinstance(shape, list) or len(shape) != 3:
        return None
    return shape[1]
