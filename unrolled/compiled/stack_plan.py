"""Whether a model's `fit` can run on the stack kernel (`stack_kernel`), and its levels.

Takes a `Sequential` of `[Embedding | Masking ->] level, ..., level -> head`, where each
level is an LSTM, GRU or SimpleRNN (on its fused configuration, as `allow_lists` tables
them) or a `Bidirectional` of one (merge concat, sum, mul or ave), every level but the last
returns sequences, and the head is a `Dense` on the last level's last output, or on every
step (`Dense` on its sequence, or `TimeDistributed(Dense)`). A loss on every step takes no
mask (Keras weighs masked steps out of it; the reference path does that).

`plan_stack(model)` returns a `StackModel` (the layers by role) or the reason it declines,
naming the layer and option; `fit_plan` asks it for models the single-layer kernels do not
take.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from unrolled.compiled.allow_lists import (
    ANY,
    BOOL,
    KERNEL_CELLS,
    MASKING_OPTIONS,
    RECURRENT_LAYERS,
    Table,
    config_of,
    declined,
    dense_options,
    layer_options,
    only,
    recurrent_options,
)
from unrolled.compiled.stack_layout import FROM_LEVEL_BELOW, MERGES
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.core import Dense
from unrolled.layers.embeddings import Embedding
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.masking import Masking
from unrolled.layers.recurrent import RNN
from unrolled.layers.time_distributed import TimeDistributed

ENCODER_DECODER = (
    "Input -> LSTM|GRU|SimpleRNN(return_state=True), whose states start the same layer kind "
    "(return_sequences=True) on a second Input -> Dense or TimeDistributed(Dense)"
)
STACK_STRUCTURE = (
    "[Embedding | Masking ->] LSTM|GRU|SimpleRNN|Bidirectional(...), ... -> Dense "
    "(or TimeDistributed(Dense) on every step)"
)
# How plan_stack's reason starts when the model's structure is not one it takes.
STACK_STRUCTURE_WORDS = ("the kernels train", "a functional model is compiled as", "only a")
EMBEDDING_OPTIONS: Table = {
    **layer_options(True),
    "input_dim": ANY,
    "output_dim": ANY,
    "embeddings_initializer": ANY,
    "embeddings_regularizer": only(None, why="regularizers run on the reference path"),
    "embeddings_constraint": only(None, why="constraints run on the reference path"),
    "mask_zero": BOOL,
    "quantization_config": only(None),
}
BIDIRECTIONAL_OPTIONS: Table = {
    **layer_options(True),
    "merge_mode": only(*MERGES, why="merge_mode=None gives two outputs"),
    "layer": ANY,  # each direction's layer is checked on its own
    "backward_layer": ANY,
}


@dataclass(frozen=True)
class Level:
    """One recurrent level: its layer (each direction's) and how its outputs merge."""

    directions: tuple[RNN, ...]  # (layer,) or (forward_layer, backward_layer)
    merge: str  # "concat", "sum", "mul", "ave" (one direction: "concat")
    sequences: bool  # returns every step
    source: int = FROM_LEVEL_BELOW  # or the index of the model input it reads
    init: int = -1  # the level whose final states start it (an encoder), or -1


@dataclass(frozen=True)
class StackModel:
    """A model the stack kernel trains, by role."""

    embedding: Embedding | None
    masking: Masking | None
    levels: tuple[Level, ...]
    dense: Dense
    per_step: bool  # the head runs on every step

    @property
    def masked(self) -> bool:
        return self.masking is not None or bool(self.embedding and self.embedding.mask_zero)


def plan_stack(model: Any) -> tuple[StackModel | None, str]:
    """`(StackModel, "")` when the stack kernel takes the model's layers, else `(None, why)`."""
    if getattr(model, "_nodes", None) is not None:
        return _encoder_decoder(model)
    if not hasattr(model, "layers"):
        return None, "only a Sequential model is compiled"
    layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    kinds = " -> ".join(type(layer).__name__ for layer in layers)
    structure = f"the kernels train {STACK_STRUCTURE}; this model is {kinds}"
    first = layers[0] if layers else None
    embedding = first if type(first) is Embedding else None
    masking = first if type(first) is Masking else None
    body = layers[1:] if embedding or masking else layers
    if len(body) < 2 or type(body[-1]) not in (Dense, TimeDistributed):
        return None, structure
    head = body[-1]
    per_step = type(head) is TimeDistributed
    if per_step and type(head.layer) is not Dense:
        return None, structure
    if embedding is not None or masking is not None:
        table = EMBEDDING_OPTIONS if embedding is not None else MASKING_OPTIONS
        reason = declined(first.name, config_of(first), table)
        if reason is not None:
            return None, reason
    masked = masking is not None or bool(embedding and embedding.mask_zero)
    levels = []
    for index, layer in enumerate(body[:-1]):
        level, reason = _level(layer, index == len(body) - 2, masked, structure)
        if level is None:
            return None, reason
        levels.append(level if levels else replace(level, source=0))
    per_step = per_step or levels[-1].sequences  # Dense on a sequence runs on every step
    if per_step != levels[-1].sequences:
        return None, f"{head.name}: on every step, the last recurrent layer returns sequences"
    if per_step and masked:
        return None, (
            f"{head.name}: a loss on every step of masked sequences runs on the reference path"
        )
    dense = head.layer if type(head) is TimeDistributed else head
    reason = declined(head.name, config_of(head), dense_options(True))
    if reason is not None:
        return None, reason
    return StackModel(embedding, masking, tuple(levels), dense, per_step), ""


def _level(layer: Any, top: bool, masked: bool, structure: str) -> tuple[Level | None, str]:
    """The level a recurrent or Bidirectional layer makes, or why not."""
    merge = "concat"
    if type(layer) is Bidirectional:
        reason = declined(layer.name, layer.get_config(), BIDIRECTIONAL_OPTIONS)
        if reason is not None:
            return None, reason
        directions: tuple[Any, ...] = (layer.forward_layer, layer.backward_layer)
        merge = layer.merge_mode
    elif type(layer) in RECURRENT_LAYERS:
        directions = (layer,)
    else:
        return None, structure
    for backwards, each in enumerate(directions):
        cell = each._cell()
        if type(each) not in RECURRENT_LAYERS or type(cell) not in KERNEL_CELLS:
            return None, f"{each.name}: {type(cell).__name__} is not an LSTM, GRU or SimpleRNN cell"
        table = {
            **recurrent_options(type(cell), True, masked),
            "return_sequences": BOOL if top else only(True, why="it feeds the next layer"),
            "go_backwards": only(bool(backwards)),
            # a lower level's outputs at masked steps are never read: the next level skips them
            "zero_output_for_mask": ANY if not top or each.return_sequences else only(False),
        }
        reason = declined(each.name, config_of(each), table)
        if reason is not None:
            return None, reason
        operator = cell.fused_operator()
        if isinstance(operator, str):
            return None, f"{each.name}: {operator}"
    first = directions[0]._cell()
    if any(
        type(d._cell()) is not type(first) or d._cell().units != first.units for d in directions
    ):
        return None, f"{layer.name}: both directions must be the same cell kind and size"
    return Level(directions, merge, bool(directions[0].return_sequences)), ""


def _encoder_decoder(model: Any) -> tuple[StackModel | None, str]:
    """The two-input encoder-decoder graph as two levels, the decoder started by the
    encoder's final states and read on every step by the head; else why not."""
    nodes = [node for node in model._nodes if not isinstance(node.layer, InputLayer)]
    kinds = " -> ".join(type(node.layer).__name__ for node in nodes)
    words = f"a functional model is compiled as an encoder-decoder, {ENCODER_DECODER}; this one is {kinds}"
    inputs = list(model._inputs)
    if len(inputs) != 2 or len(nodes) != 3 or len(model._outputs) != 1:
        return None, words
    encoder, decoder, head = nodes
    if not (
        {type(encoder.layer), type(decoder.layer)} <= set(RECURRENT_LAYERS)
        and type(head.layer) in (Dense, TimeDistributed)
        and len({id(node.layer) for node in nodes}) == 3
    ):
        return None, words
    reads = [node.args[0] if node.args else None for node in nodes]
    starts = decoder.kwargs.get("initial_state")
    if (
        {id(reads[0]), id(reads[1])} != {id(t) for t in inputs}
        or set(encoder.kwargs) - {"training"}
        or set(decoder.kwargs) - {"training", "initial_state"}
        or len(encoder.args) != 1
        or len(decoder.args) != 1
        or not isinstance(starts, (list, tuple))
        or [id(t) for t in starts] != [id(t) for t in encoder.outputs[1:]]
        or len(head.args) != 1
        or reads[2] is not decoder.outputs[0]
        or model._outputs[0] is not head.outputs[0]
    ):
        return None, words
    cells = [encoder.layer._cell(), decoder.layer._cell()]
    if type(cells[0]) is not type(cells[1]) or cells[0].units != cells[1].units:
        return None, f"{decoder.layer.name}: the decoder is not the encoder's cell kind and size"
    levels = []
    for node, sequences, index in ((encoder, False, 0), (decoder, True, 1)):
        layer, cell = node.layer, node.layer._cell()
        if type(cell) not in KERNEL_CELLS:
            return (
                None,
                f"{layer.name}: {type(cell).__name__} is not an LSTM, GRU or SimpleRNN cell",
            )
        table = {
            **recurrent_options(type(cell), True),
            "return_sequences": only(sequences),
            "return_state": only(not sequences, why="the encoder hands its states on"),
            "stateful": only(False, why="a stateful encoder-decoder runs on the reference path"),
        }
        reason = declined(layer.name, config_of(layer), table)
        if reason is not None:
            return None, reason
        source = next(i for i, t in enumerate(inputs) if t is reads[index])
        levels.append(Level((layer,), "concat", sequences, source, 0 if index else -1))
    dense = head.layer.layer if type(head.layer) is TimeDistributed else head.layer
    if type(dense) is not Dense:
        return None, words
    reason = declined(head.layer.name, config_of(head.layer), dense_options(True))
    if reason is not None:
        return None, reason
    return StackModel(None, None, tuple(levels), dense, True), ""


def described(stack: StackModel) -> str:
    """The model as the paths' reasons name it: `Embedding -> LSTM -> TimeDistributed(Dense)
    (softmax)`, `LSTM encoder -> LSTM decoder -> ...`, `Bidirectional(GRU, concat) -> ...`."""
    shown = " -> ".join(_level_words(level, stack) for level in stack.levels)
    if stack.embedding is not None:
        shown = f"Embedding -> {shown}"
    head = "TimeDistributed(Dense)" if stack.per_step else "Dense"
    activation = config_of(stack.dense)["activation"]
    return f"{shown} -> {head}" + ("" if activation == "linear" else f"({activation})")


def _level_words(level: Any, stack: StackModel) -> str:
    """`LSTM`, `Bidirectional(GRU, concat)`, `LSTM encoder`, `LSTM decoder`."""
    name = type(level.directions[0]).__name__
    if len(level.directions) == 2:
        return f"Bidirectional({name}, {level.merge})"
    if level.init >= 0:
        return f"{name} decoder"
    return f"{name} encoder" if any(other.init >= 0 for other in stack.levels) else name


def token_ids(x: torch.Tensor, input_dim: int) -> tuple[torch.Tensor | None, str]:
    """`x` as `(samples, timesteps)` whole-number ids below `input_dim`, or why not."""
    ids = x[..., 0] if x.dim() == 3 and x.shape[-1] == 1 else x
    if ids.dim() != 2:
        return None, "x is not (samples, timesteps) token ids for the Embedding"
    if ids.dtype.is_floating_point and not bool((ids == ids.floor()).all()):
        return None, "x holds ids that are not whole numbers"
    if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < input_dim):
        return None, f"x holds ids outside 0..{input_dim - 1} (the Embedding's input_dim)"
    return ids, ""


def stack_inputs(stack: StackModel, x: Any) -> tuple[list[torch.Tensor] | None, str]:
    """The model inputs as the stack kernel reads them (token ids for an Embedding, float32
    features otherwise), or why not."""
    given = list(x) if isinstance(x, (list, tuple)) else [x]
    readers = {level.source: level for level in stack.levels if level.source >= 0}
    if len(given) != len(readers):
        return None, f"x is {len(given)} array(s); the model reads {len(readers)}"
    inputs = []
    for index, array in enumerate(given):
        if not isinstance(array, torch.Tensor) or array.device.type != "cpu":
            return None, "x is not on the CPU"
        if index == 0 and stack.embedding is not None:
            array, reason = token_ids(array, stack.embedding.input_dim)
            if array is None:
                return None, reason
        elif array.dim() != 3 or array.dtype != torch.float32:
            return None, "x is not float32 arrays (samples, timesteps, features)"
        elif array.shape[-1] != readers[index].directions[0].input_features:
            return None, "x does not match the model's features"
        inputs.append(array)
    if any(array.shape[0] != inputs[0].shape[0] for array in inputs):
        return None, "the inputs do not have the same number of samples"
    return inputs, ""
