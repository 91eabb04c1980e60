"""`model.summary()`: Keras's table, plus each recurrent layer's gates and compute path."""

from __future__ import annotations

from typing import Any

from unrolled.errors import shape_str
from unrolled.explain.parameters import dims, layer_gates
from unrolled.explain.walk import recurrent_layers

_WIDTHS = (34, 28, 12)


def summary_text(model: Any) -> str:
    """The summary of a `Model` or `Sequential` as text."""
    rows = [
        (_name_lines(layer), _shape_text(shape), _count(layer))
        for layer, shape in _layers_and_shapes(model)
    ]
    line = "_" * sum(_WIDTHS)
    lines = [
        f'Model: "{model.name}"',
        line,
        _row("Layer (type)", "Output Shape", "Param #"),
        "=" * sum(_WIDTHS),
    ]
    for names, shape, count in rows:
        lines.append(_row(names[0], shape, count))
        lines += [_row(more, "", "") for more in names[1:]]
    trainable = sum(w.numel() for w in model.weights if w.requires_grad)
    total = sum(w.numel() for w in model.weights)
    lines += [
        "=" * sum(_WIDTHS),
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        line,
    ]
    recurrent = [(name, layer) for name, layer in recurrent_layers(model) if layer_gates(layer)]
    if recurrent:
        lines.append(
            "Recurrent layers: one block of `units` cells each; per gate, kernel + recurrent kernel + bias"
        )
        for name, layer in recurrent:
            lines += _gate_lines(name, layer)
    return "\n".join(lines)


def _gate_lines(name: str, layer: Any) -> list[str]:
    path = layer.choose_path(masked=False, training=False)
    seen = layer.last_path
    taken = f"{seen.name} ({seen.reason})" if seen is not None else f"{path.name} ({path.reason})"
    kind = getattr(layer.cell, "kind", None)
    word = "filters" if kind is not None and kind.convolutional else "units"  # ConvLSTM: filters
    lines = [f" {name}: {layer.cell.output_size} {word}, path {taken}"]
    for group in layer_gates(layer):
        if group.layer != layer.name:  # one of several stacked cells
            lines.append(f"  {group.layer}:")
        for gate in group.gates:
            kernel, recurrent = dims(gate.kernel), dims(gate.recurrent_kernel)
            lines.append(
                f"   {gate.gate + ' gate':<16} {kernel} + {recurrent} + {gate.bias} = {gate.total}"
            )
        lines.append(f"   total {group.numbers}")
    return lines


def _layers_and_shapes(model: Any) -> list[tuple[Any, Any]]:
    nodes = getattr(model, "_nodes", None)
    if nodes is not None:  # functional: shapes recorded at definition
        pairs = []
        for node in nodes:
            shapes = [t.shape for t in node.outputs]
            pairs.append((node.layer, shapes[0] if len(shapes) == 1 else shapes))
        return pairs
    shape = model.input_shape
    pairs = []
    for layer in model.layers:
        shape = layer.compute_output_shape(shape) if shape is not None else None
        pairs.append((layer, shape))
    return pairs


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "? (not built)"
    if isinstance(shape, list):
        return ", ".join(shape_str(s) for s in shape)
    return shape_str(shape)


def _name_lines(layer: Any) -> list[str]:
    """`name (Type)` on one line, or, when too long for the column, name and type on two
    lines, each cut with an ellipsis at the column's width, as Keras prints them."""
    width = _WIDTHS[0] - 2
    text = f"{layer.name} ({type(layer).__name__})"
    if len(text) <= width:
        return [text]
    return [_fit(layer.name, width), _fit(f"({type(layer).__name__})", width)]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _count(layer: Any) -> str:
    weights = layer.weights if hasattr(layer, "weights") else list(layer.parameters())
    return f"{sum(w.numel() for w in weights):,}"


def _row(name: str, shape: str, count: str) -> str:
    return f" {name:<{_WIDTHS[0] - 1}}{shape:<{_WIDTHS[1]}}{count:>{_WIDTHS[2]}}".rstrip()
