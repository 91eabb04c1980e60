"""`explain_text(model)`: the shape trace, each gate's parameters and the one-block answer, as text."""

from __future__ import annotations

import textwrap
from typing import Any

from unrolled.compiled.fit_plan import explain_lines
from unrolled.explain.parameters import layer_gates
from unrolled.explain.trace import ShapeTrace, shape_trace


def explain_text(model: Any, width: int = 100) -> str:
    """What the model does to `(samples, timesteps, features)`, layer by layer, and what its
    recurrent layers are made of: per gate, the kernel, recurrent kernel and bias slices
    with their counts, the closed-form count, and "one block of `units` cells" in words.
    Where the compiled fit kernel declines the model, why, and the options it takes.

    Example:
        >>> print(explain_text(many_to_one(timesteps=30, features=1, units=16)))  # doctest: +ELLIPSIS
        Shape trace of "many_to_one": many-to-one
        ...
    """
    trace = shape_trace(model)
    lines = [str(trace), ""]
    groups = layer_gates(model)
    if not groups:
        lines.append("No recurrent layers, so no gates to count.")
        return "\n".join(lines)
    lines.append(
        "Parameters per gate: kernel slice (features x units) + recurrent_kernel slice "
        "(units x units) + bias slice"
    )
    steps = _timesteps_by_layer(trace)
    for group in groups:
        lines.append("")
        lines.append(f" {group.layer} ({group.kind}): {group.formula}")
        lines.append(f"   = {group.numbers}")
        for gate in group.gates:
            lines.append(f"   {gate.gate + ' gate':<15} {gate.slices(group.bias_rows)}")
        sentence = group.sentence(steps.get(group.layer.split("/")[0]))
        lines += textwrap.wrap(sentence, width, initial_indent="   ", subsequent_indent="   ")
    fit_path = explain_lines(model, width)
    if fit_path:
        lines += ["", *fit_path]
    return "\n".join(lines)


def _timesteps_by_layer(trace: ShapeTrace) -> dict[str, int]:
    """How many times each top-level layer's block runs: its input's timesteps (a Feedback
    chain runs once per generated step)."""
    found = {}
    for row in trace.rows:
        steps = row.timesteps
        if row.kind == "Feedback" and isinstance(row.output_shape, tuple):
            steps = row.output_shape[1]
        if steps:
            found.setdefault(row.layer, steps)
    return found
