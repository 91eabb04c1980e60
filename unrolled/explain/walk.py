"""How explain walks a model without importing `unrolled.models`: by the attributes it has.

A functional `Model` has `_inputs`, `_outputs` and `_nodes` (one per layer call, with the
symbolic tensors it read and made); a `Sequential` has `layers` and `input_shape`; a layer
that runs a chain step by step (`Feedback`) has `chain` and `steps`. Layers themselves are
known by class, since `layers` sits below `explain`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from unrolled.errors import ConfigError
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.recurrent import RNN
from unrolled.layers.symbolic import SymbolicTensor, flatten
from unrolled.layers.time_distributed import TimeDistributed

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Call:
    """One layer call: what it read and what it made, as shapes and as keys of tensors.

    Keys identify tensors within one model: `id()` of the symbolic tensor in a functional
    model, the position in the chain for a `Sequential`.
    """

    layer: Any
    inputs: list[Any]  # shapes of the positional inputs (None: unknown)
    outputs: list[Any]  # shapes of the outputs
    input_keys: list[int]
    state_keys: list[int]  # tensors given as `initial_state`
    output_keys: list[int]


def is_model(obj: Any) -> bool:
    """A `Model` or `Sequential` (or anything shaped like one)."""
    if is_functional(obj):
        return True
    return all(hasattr(obj, name) for name in ("layers", "input_shape", "output_shape"))


def check_model(obj: Any, caller: str) -> None:
    """Raises ConfigError, naming `caller`, unless `obj` is a model (`is_model`)."""
    if not is_model(obj):
        raise ConfigError(f"{caller} expects a Sequential or Model; received {type(obj).__name__}.")


def is_functional(obj: Any) -> bool:
    return hasattr(obj, "_nodes") and hasattr(obj, "_inputs") and hasattr(obj, "_outputs")


def is_feedback(layer: Any) -> bool:
    """A layer that runs `chain` for `steps` timesteps, each output the next input."""
    return hasattr(layer, "chain") and hasattr(layer, "steps")


def model_inputs(model: Any) -> list[tuple[int, Any]]:
    """`(key, shape)` of each model input."""
    if is_functional(model):
        return [(id(t), t.shape) for t in model._inputs]
    return [(0, _shape(model.input_shape))]


def model_outputs(model: Any) -> list[tuple[int, Any]]:
    """`(key, shape)` of each model output."""
    if is_functional(model):
        return [(id(t), t.shape) for t in model._outputs]
    return [(len(model.layers), _shape(model.output_shape))]


def calls(model: Any) -> list[Call]:
    """The model's layer calls in the order they run (input layers left out)."""
    if is_functional(model):
        found = []
        for node in model._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args = [t for t in flatten(node.args) if isinstance(t, SymbolicTensor)]
            states = [
                t
                for t in flatten(node.kwargs.get("initial_state"))
                if isinstance(t, SymbolicTensor)
            ]
            found.append(
                Call(
                    node.layer,
                    [t.shape for t in args],
                    [t.shape for t in node.outputs],
                    [id(t) for t in args],
                    [id(t) for t in states],
                    [id(t) for t in node.outputs],
                )
            )
        return found
    shape = _shape(model.input_shape)
    found = []
    for index, layer in enumerate(model.layers):
        output = _output_shape(layer, shape)
        found.append(Call(layer, [shape], _as_list(output), [index], [], [index + 1]))
        shape = output
    return found


def recurrent_layers(obj: Any, prefix: str = "", top: bool = True) -> Iterator[tuple[str, RNN]]:
    """Every recurrent layer in a model or layer, with a path-like name.

    A `Bidirectional` gives its two layers (`bidirectional/forward_lstm`, ...); wrappers,
    chains and nested models are walked into.
    """
    if isinstance(obj, RNN):
        yield prefix + obj.name, obj
    elif isinstance(obj, Bidirectional):
        inner = f"{prefix}{obj.name}/"
        yield inner + obj.forward_layer.name, obj.forward_layer
        yield inner + obj.backward_layer.name, obj.backward_layer
    elif isinstance(obj, TimeDistributed):
        yield from recurrent_layers(obj.layer, f"{prefix}{obj.name}/", top=False)
    elif is_feedback(obj):
        for layer in obj.chain:
            yield from recurrent_layers(layer, f"{prefix}{obj.name}/", top=False)
    elif is_model(obj):
        inner = prefix if top else f"{prefix}{obj.name}/"
        seen: set[int] = set()
        for call in calls(obj):
            if id(call.layer) not in seen:
                seen.add(id(call.layer))
                yield from recurrent_layers(call.layer, inner, top=False)


def find_recurrent(model: Any, layer: Any = None) -> tuple[str, RNN]:
    """One recurrent layer: the first (None), by index, by name, or the layer itself.

    A `Bidirectional` (given or named) means its forward layer.
    """
    found = list(recurrent_layers(model))
    if not found:
        raise ConfigError(f"{getattr(model, 'name', 'the model')} has no recurrent layer.")
    if layer is None:
        return found[0]
    if isinstance(layer, Bidirectional):
        layer = layer.forward_layer
    if isinstance(layer, RNN):
        for name, each in found:
            if each is layer:
                return name, each
        return layer.name, layer
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not -len(found) <= layer < len(found):
            raise ConfigError(
                f"layer={layer}, but the model has {len(found)} recurrent layer(s): "
                f"{', '.join(n for n, _ in found)}."
            )
        return found[layer]
    if isinstance(layer, str):
        for name, each in found:
            if layer in (name, each.name) or name.startswith(f"{layer}/"):
                return name, each
    raise ConfigError(
        f"No recurrent layer {layer!r}; the recurrent layers are {', '.join(n for n, _ in found)}."
    )


def _shape(shape: Any) -> Any:
    if shape is None:
        return None
    if isinstance(shape, list):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _output_shape(layer: Any, shape: Any) -> Any:
    if shape is None or not hasattr(layer, "compute_output_shape"):
        return None
    try:
        return _shape(layer.compute_output_shape(shape))
    except (ValueError, TypeError, IndexError):  # a layer that cannot tell before it runs
        return None


def _as_list(shape: Any) -> list[Any]:
    if isinstance(shape, list):
        return shape
    return [shape]
