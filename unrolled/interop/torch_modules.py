"""`from_torch` and `to_torch`: `torch.nn.LSTM`/`GRU`/`RNN` to our layers and back, weights exact.

torch keeps a whole stack in one module: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`,
`bias_hh_l{k}` per layer `k`, with a `_reverse` twin per backward direction. We keep one
layer per stacked layer, in Keras's layout; gate orders and bias rows are the cell kind's
(`ops.cell_kinds`), mapped by `ops.weights` and nowhere else.

    torch                               unrolled
    nn.LSTM / nn.GRU / nn.RNN           LSTM / GRU(reset_after=True) / SimpleRNN
    nonlinearity="relu" (nn.RNN)        SimpleRNN(activation="relu")
    bias=False                          use_bias=False
    bidirectional=True                  Bidirectional(layer, merge_mode="concat")
    num_layers=N                        Sequential of N layers
    dropout=p (between stacked layers)  Dropout(p) between them
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unrolled import activations
from unrolled.errors import ConfigError, ShapeError
from unrolled.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dropout,
    GRUCell,
    Input,
    Layer,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
)
from unrolled.layers.cell import KernelCell
from unrolled.models import Sequential
from unrolled.ops.weights import fused_params, keras_weights_from_torch

TorchRNN = nn.LSTM | nn.GRU | nn.RNN


@dataclass(frozen=True)
class _Family:
    """One torch module class and our layer and cell that compute the same thing."""

    torch_class: type[nn.RNNBase]
    layer_class: type[RNN]
    cell_class: type[KernelCell]


_FAMILIES = (
    _Family(nn.LSTM, LSTM, LSTMCell),
    _Family(nn.GRU, GRU, GRUCell),
    _Family(nn.RNN, SimpleRNN, SimpleRNNCell),
)


def from_torch(module: TorchRNN, return_state: bool = False) -> RNN | Bidirectional | Sequential:
    """Our layer (or stack of layers) computing what `module` computes, with its weights.

    Args:
        module: a `torch.nn.LSTM`, `GRU` or `RNN` (tanh or relu), any `num_layers`,
            `bidirectional`, `bias` and `dropout`.
        return_state: the (last) layer also returns its final states, torch's `h_n[-D:]`
            (and `c_n[-D:]`) for `D` directions, in Keras's order `(output, h, c)`, a
            bidirectional layer's forward states then its backward ones.

    Shapes:
        the result takes `(samples, timesteps, features)` and returns `(samples, timesteps,
        D * hidden_size)`, torch's `output` (`return_sequences=True`: torch returns every step).

    Returns:
        an `LSTM`, `GRU` or `SimpleRNN` for one layer, a `Bidirectional(..., merge_mode="concat")`
        of one for `bidirectional=True`, and a `Sequential` of those (with `Dropout(p)`
        between them for torch's `dropout=p`) for `num_layers > 1`. Built, on the module's
        device and dtype, in the module's train/eval mode. (A `Sequential` casts float inputs
        to torch's default dtype, as Keras does: call a float64 stack's layers in turn, or
        set the default dtype, for float64 inputs.)

    Raises:
        ConfigError: `module` is not one of the three classes, or has `proj_size > 0`
            (an LSTM with projections has no Keras counterpart).

    Warns:
        UserWarning: `module.batch_first` is False. Our layers are always batch-first, so
            time-major data must be passed as `x.transpose(0, 1)` (and outputs transposed back).

    Example:
        >>> torch_lstm = torch.nn.LSTM(3, 4, batch_first=True)
        >>> layer = from_torch(torch_lstm)
        >>> x = torch.randn(2, 5, 3)
        >>> torch.allclose(layer(x), torch_lstm(x)[0], atol=1e-6)
        True
    """
    family = _family_of_module(module)
    if getattr(module, "proj_size", 0) > 0:
        raise ConfigError(
            "from_torch: torch.nn.LSTM with proj_size > 0 (projected hidden state) has no "
            f"Keras counterpart. Expected proj_size=0. Received: proj_size={module.proj_size}"
        )
    if not module.batch_first:
        warnings.warn(
            f"from_torch: the {type(module).__name__} has batch_first=False, but unrolled layers "
            "take (samples, timesteps, features): pass time-major inputs as x.transpose(0, 1) "
            "and transpose the output back.",
            UserWarning,
            stacklevel=2,
        )
    reference = module.weight_ih_l0  # device and dtype the converted layers take
    count = module.num_layers
    layers: list[Layer] = []
    for k in range(count):
        layer = _layer_for(module, family, k, return_state and k == count - 1)
        features = module.input_size if k == 0 else _directions(module) * module.hidden_size
        layer.build((None, None, features))
        layer.to(device=reference.device, dtype=reference.dtype)
        weights = [
            w for reverse in _reverses(module) for w in _keras_weights(module, family, k, reverse)
        ]
        with torch.no_grad():  # shapes match by construction: the layer was built from them
            for target, value in zip(layer.weights, weights):
                target.copy_(value)
        if k > 0 and module.dropout > 0:
            layers.append(Dropout(module.dropout))
        layers.append(layer)
    result = layers[0] if count == 1 else Sequential([Input((None, module.input_size)), *layers])
    return result.train(module.training)


def to_torch(model: Any) -> TorchRNN:
    """A `torch.nn.LSTM`, `GRU` or `RNN` (`batch_first=True`) computing what `model` computes.

    Args:
        model: a built `LSTM`, `GRU` (`reset_after=True`) or `SimpleRNN` (tanh or relu); a
            `Bidirectional` of one (`merge_mode="concat"`); or a `Sequential` (or list) of
            such layers stacked, all of one kind, activation, `units` and `use_bias`, with
            optionally a `Dropout(p)` of one rate between every two of them.

    Shapes:
        the module takes `(samples, timesteps, features)`; its `output` is every step,
        `(samples, timesteps, D * units)`, whatever `return_sequences` says: for one
        direction, `output[:, -1]` is our `return_sequences=False` output.

    Returns:
        the module, on the weights' device and dtype, in the model's train/eval mode. torch
        has one bias per gate where Keras's LSTM and SimpleRNN have one in all: the bias goes
        to `bias_ih` and `bias_hh` is zero.

    Raises:
        ConfigError: naming the option torch cannot express: another `activation` or
            `recurrent_activation`, `reset_after=False`, `go_backwards=True`, `dropout` or
            `recurrent_dropout` in a cell, a `merge_mode` other than "concat", stacked layers
            of other kinds, units or options, a layer other than a recurrent one or
            `Dropout` in the stack (e.g. `Masking`: torch modules take no mask), or an
            unbuilt layer.
        ShapeError: a stacked layer (in a list) built for other features than the layer
            below it returns.

    Not carried over: `stateful` (torch modules keep no state between calls; pass the final
    states back as `hx`), regularizers and constraints (torch modules have none), and masks.

    Example:
        >>> layer = GRU(4, return_sequences=True)
        >>> x = torch.randn(2, 5, 3)
        >>> y = layer(x)
        >>> torch.allclose(to_torch(layer)(x)[0], y, atol=1e-6)
        True
    """
    stack, dropout = _stack(model)
    directions = [_directions_of(layer) for layer in stack]  # [[forward(, backward)], ...]
    first = directions[0][0]
    family = _family_of_layer(first)
    for k, (layer, pair) in enumerate(zip(stack, directions)):
        if len(pair) != len(directions[0]):
            which = {1: "is not", 2: "is"}
            raise ConfigError(
                "to_torch: torch stacks layers that are all bidirectional or all not. Received: "
                f"layer 0 ({stack[0].name}) {which[len(directions[0])]} Bidirectional and "
                f"layer {k} ({layer.name}) {which[len(pair)]}."
            )
        if k < len(stack) - 1 and (not layer.return_sequences or layer.return_state):
            raise ConfigError(
                f"to_torch: a stacked layer below the last must have return_sequences=True and "
                f"return_state=False. Received: {layer.name} with return_sequences="
                f"{layer.return_sequences}, return_state={layer.return_state}"
            )
        for rnn in pair:
            _check_direction(rnn, family, first)
    units, count = first.cell.units, len(directions[0])
    for k, pair in enumerate(directions[1:], start=1):
        features = pair[0].cell.kernel.shape[0]
        if features != count * units:
            raise ShapeError(
                f"to_torch: stacked layer {k} must take the {count * units} features the layer "
                f"below returns. Received: a layer built for {features} features"
            )
    reference = first.cell.kernel
    options = {"nonlinearity": activations.serialize(first.cell.activation)}
    module = family.torch_class(
        input_size=reference.shape[0],
        hidden_size=units,
        num_layers=len(stack),
        bias=first.cell.use_bias,
        batch_first=True,
        dropout=dropout,
        bidirectional=count == 2,
        device=reference.device,
        dtype=reference.dtype,
        **(options if family.torch_class is nn.RNN else {}),
    )
    with torch.no_grad():
        for k, pair in enumerate(directions):
            for rnn, suffix in zip(pair, ("", "_reverse")):
                cell = rnn.cell
                params = fused_params(cell.kind, cell.kernel, cell.recurrent_kernel, cell.bias)
                names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"][: len(params)]
                for name, value in zip(names, params):
                    target = getattr(module, f"{name}_l{k}{suffix}")
                    target.copy_(value)
                    target.requires_grad_(cell.kernel.requires_grad)  # `trainable=False` carries
    return module.train(getattr(model, "training", stack[-1].training))


# -- from torch ---------------------------------------------------------------------------------
def _family_of_module(module: Any) -> _Family:
    for family in _FAMILIES:
        if isinstance(module, family.torch_class):
            return family
    raise ConfigError(
        "from_torch expects a torch.nn.LSTM, torch.nn.GRU or torch.nn.RNN. Received: "
        f"{type(module).__name__}"
    )


def _directions(module: nn.RNNBase) -> int:
    return 2 if module.bidirectional else 1


def _reverses(module: nn.RNNBase) -> tuple[bool, ...]:
    return (False, True) if module.bidirectional else (False,)


def _layer_for(module: nn.RNNBase, family: _Family, k: int, return_state: bool) -> Layer:
    """Layer `k` of `module` as our layer, unbuilt."""
    options: dict[str, Any] = {"use_bias": module.bias, "return_state": return_state}
    if family.torch_class is nn.RNN:
        options["activation"] = module.nonlinearity  # "tanh" or "relu"
    if family.torch_class is nn.GRU:
        options["reset_after"] = True  # torch's formula
    layer = family.layer_class(module.hidden_size, return_sequences=True, **options)
    return Bidirectional(layer, merge_mode="concat") if module.bidirectional else layer


def _keras_weights(
    module: nn.RNNBase, family: _Family, k: int, reverse: bool
) -> list[torch.Tensor]:
    """Keras-layout `[kernel, recurrent_kernel(, bias)]` of layer `k`, one direction."""
    suffix = f"_l{k}" + ("_reverse" if reverse else "")
    names = [n for n in module._flat_weights_names if n.endswith(suffix)]
    # A one-layer module sharing those tensors, for the one-layer mapping of `ops.weights`;
    # "meta" allocates nothing before the tensors are assigned.
    features = getattr(module, f"weight_ih{suffix}").shape[1]
    one = family.torch_class(features, module.hidden_size, bias=module.bias, device="meta")
    one.load_state_dict(
        {n.removesuffix(suffix) + "_l0": getattr(module, n) for n in names}, assign=True
    )
    return keras_weights_from_torch(one)


# -- to torch -----------------------------------------------------------------------------------
def _stack(model: Any) -> tuple[list[RNN | Bidirectional], float]:
    """The recurrent layers of `model` in order, and the rate of the Dropout between them."""
    if isinstance(model, (RNN, Bidirectional)):
        return [model], 0.0
    if isinstance(model, Sequential):
        items, name = model.layers, model.name
    elif isinstance(model, (list, tuple)):
        items, name = list(model), "the list"
    else:
        raise ConfigError(
            "to_torch expects an LSTM, GRU or SimpleRNN layer, a Bidirectional of one, or a "
            f"Sequential or list of them stacked. Received: {type(model).__name__}"
        )
    stack: list[RNN | Bidirectional] = []
    rates: list[float] = []  # the rate between each two recurrent layers, 0 for none
    for index, layer in enumerate(items):
        if isinstance(layer, (RNN, Bidirectional)):
            if stack and len(rates) < len(stack):
                rates.append(0.0)
            stack.append(layer)
        elif isinstance(layer, Dropout) and stack and len(rates) < len(stack):
            if layer.noise_shape is not None:
                raise ConfigError(
                    f"to_torch: torch's dropout between layers has no noise_shape. Received: "
                    f"{layer.name} with noise_shape={layer.noise_shape}"
                )
            rates.append(layer.rate)
        else:
            raise ConfigError(
                f"to_torch: a torch.nn RNN stack holds only recurrent layers, with at most one "
                f"Dropout between every two (torch modules take no mask). Received: layer "
                f"{index} of {name} is a {type(layer).__name__} ({getattr(layer, 'name', '')})"
            )
    if not stack:
        raise ConfigError(f"to_torch: {name} holds no recurrent layer.")
    if len(rates) == len(stack):  # a Dropout after the last recurrent layer
        raise ConfigError(
            f"to_torch: torch applies its dropout only between stacked layers; {name} ends "
            "with a Dropout. Remove it, or apply it to the module's output yourself."
        )
    if len(set(rates)) > 1:
        raise ConfigError(
            "to_torch: torch applies one dropout rate between every two stacked layers. "
            f"Received the rates {rates} between the layers of {name}"
        )
    return stack, rates[0] if rates else 0.0


def _directions_of(layer: RNN | Bidirectional) -> list[RNN]:
    """`[layer]`, or a Bidirectional's `[forward_layer, backward_layer]`."""
    if isinstance(layer, RNN):
        if layer.go_backwards:
            raise ConfigError(
                "to_torch: torch.nn modules run forwards (or both ways with bidirectional=True). "
                f"Received: {layer.name} with go_backwards=True; wrap a forward layer in "
                "Bidirectional instead."
            )
        return [layer]
    if layer.merge_mode != "concat":
        raise ConfigError(
            f"to_torch: a bidirectional torch module concatenates its directions. Expected "
            f"merge_mode='concat'. Received: {layer.name} with merge_mode={layer.merge_mode!r}"
        )
    forward, backward = layer.forward_layer, layer.backward_layer
    if forward.go_backwards or not backward.go_backwards:
        raise ConfigError(
            f"to_torch: torch runs the first direction forwards and the second backwards. "
            f"Received: {layer.name} wrapping a layer with go_backwards=True"
        )
    return [forward, backward]  # torch's `_l{k}` and `_l{k}_reverse` weights


def _family_of_layer(rnn: RNN) -> _Family:
    for family in _FAMILIES:
        if type(rnn.cell) is family.cell_class:  # a subclass may change the step
            return family
    raise ConfigError(
        "to_torch expects LSTM, GRU or SimpleRNN layers (cells LSTMCell, GRUCell, "
        f"SimpleRNNCell). Received: {rnn.name} with cell {type(rnn.cell).__name__}"
    )


def _check_direction(rnn: RNN, family: _Family, first: RNN) -> None:
    """Refuses what torch's module cannot hold, naming the option."""
    if _family_of_layer(rnn) is not family:
        raise ConfigError(
            f"to_torch: a torch.nn RNN stacks layers of one kind. Expected {first.name}'s "
            f"{family.layer_class.__name__}. Received: {rnn.name}, a "
            f"{_family_of_layer(rnn).layer_class.__name__}"
        )
    cell = rnn.cell
    if not rnn.built:
        raise ConfigError(
            f"to_torch: {rnn.name} has no weights yet: call it on data or build(input_shape) first."
        )
    operator = cell.fused_operator()
    if isinstance(operator, str):  # the kind's own words: which option, and what torch computes
        raise ConfigError(
            f"to_torch: {rnn.name} cannot be a torch.nn.{family.torch_class.__name__}: {operator}."
        )
    for option in ("dropout", "recurrent_dropout"):
        if getattr(cell, option) > 0:
            raise ConfigError(
                f"to_torch: torch.nn RNN modules have no dropout inside the cell. Expected "
                f"{option}=0. Received: {rnn.name} with {option}={getattr(cell, option)}"
            )
    for option in ("units", "use_bias", "activation"):
        mine, theirs = _option(rnn, option), _option(first, option)
        if mine != theirs:
            raise ConfigError(
                f"to_torch: a torch.nn RNN gives every stacked layer and direction the same "
                f"{option}. Received: {option}={theirs!r} for {first.name} and {mine!r} for "
                f"{rnn.name}"
            )


def _option(rnn: RNN, option: str) -> Any:
    value = getattr(rnn.cell, option)
    return activations.serialize(value) if option == "activation" else value
