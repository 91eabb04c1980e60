"""The unrolled picture of a model, as data first: boxes on a grid and arrows between them.

Drawn the way Karpathy draws recurrent networks: inputs at the bottom (row 0), one row of
cells per recurrent layer (a second row, right to left, for the backward half of a
`Bidirectional`), outputs on top, one column per timestep. A long sequence shows its
first and last steps around a "..." column. `to_svg()` writes the picture as SVG text;
`save(path)` writes `.svg` or `.png` (through matplotlib's Agg canvas).

Example:
    >>> picture = diagram(many_to_one(timesteps=5, features=3, units=[8, 4]))
    >>> picture.count("input"), picture.count("cell"), picture.count("output")
    (5, 10, 1)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unrolled.errors import ConfigError
from unrolled.explain.trace import model_words
from unrolled.explain.unrolling import Unroller, topology_from
from unrolled.explain.walk import check_model, model_inputs

BOX_KINDS = ("input", "cell", "output", "ellipsis")
ARROW_KINDS = ("state", "input", "output")


@dataclass(frozen=True)
class Box:
    """One box: `row` 0 is the inputs, `column` the timestep's column, `step` its timestep (0-based)."""

    id: int
    kind: str  # "input", "cell", "output" or "ellipsis"
    row: int
    column: int
    label: str  # e.g. "x_1 (features=3)", "LSTM 32", "y (1)", "..."
    step: int | None = None
    layer: str | None = None  # the recurrent layer of a cell


@dataclass(frozen=True)
class Arrow:
    """An arrow from box `source` to box `target` (ids).

    `kind`: "state" carries h (and c) to the next step or from an encoder to a decoder;
    "input" feeds a cell (from an input, the layer below, a repeated vector or a fed-back
    output); "output" leads to an output box.
    """

    source: int
    target: int
    kind: str


@dataclass(frozen=True)
class Diagram:
    """Boxes and arrows of a model unrolled over `timesteps`, with its `topology`."""

    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    topology: str
    timesteps: int | None
    title: str  # two lines: model and topology, then the input and output shapes
    parts: tuple[tuple[int, int, str], ...] = ()  # (first column, last column, "encoder"/"decoder")

    @property
    def rows(self) -> int:
        return 1 + max((b.row for b in self.boxes), default=0)

    @property
    def columns(self) -> int:
        return 1 + max((b.column for b in self.boxes), default=0)

    def count(self, kind: str) -> int:
        """How many boxes of a kind ("input", "cell", "output", "ellipsis")."""
        return sum(b.kind == kind for b in self.boxes)

    def boxes_of(self, kind: str, row: int | None = None) -> list[Box]:
        return [b for b in self.boxes if b.kind == kind and (row is None or b.row == row)]

    def arrows_of(self, kind: str) -> list[Arrow]:
        return [a for a in self.arrows if a.kind == kind]

    def to_svg(self) -> str:
        """The picture as a standalone SVG document (one `<rect>` per input, cell and output box)."""
        from unrolled.explain.drawing import svg

        return svg(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the picture to `path`: SVG for `.svg`, PNG for `.png`. Returns the path."""
        from unrolled.explain.drawing import png
        from unrolled.files import write_bytes

        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".svg":
            write_bytes(target, self.to_svg().encode("utf-8"))
        elif suffix == ".png":
            write_bytes(target, png(self))
        else:
            raise ConfigError(
                f"Diagram.save writes .svg or .png files; received {str(target)!r}. "
                "Name the file e.g. diagram.svg or diagram.png."
            )
        return target


def diagram(model: Any, timesteps: int | None = None, max_columns: int = 8) -> Diagram:
    """The unrolled picture of `model` over `timesteps` steps.

    Args:
        model: a `Sequential` or functional `Model` (topology builders included), built.
        timesteps: steps to draw; defaults to the model's input timesteps. Required when the
            model takes any number of timesteps (`Input((None, features))`); ignored when the
            model reads one vector and its layers set the steps (RepeatVector, Feedback).
        max_columns: longer sequences show their first and last steps around a "..." column
            (with 6, 50 steps show as 1, 2, 3, ..., 49, 50).

    Returns:
        A `Diagram`: `boxes`, `arrows`, `topology`, `to_svg()`, `save(path)`.

    Raises:
        ConfigError: timesteps unknown, or different from the model's fixed timesteps; the
            model not built; max_columns below 3.
    """
    check_model(model, "diagram")
    if isinstance(max_columns, bool) or not isinstance(max_columns, int) or max_columns < 3:
        raise ConfigError(
            f"max_columns must be an int of at least 3 (first steps, '...', last steps); "
            f"received {max_columns!r}."
        )
    if timesteps is not None and (isinstance(timesteps, bool) or int(timesteps) < 1):
        raise ConfigError(f"timesteps must be a positive int; received {timesteps!r}.")
    inputs = model_inputs(model)
    if any(shape is None for _, shape in inputs):
        raise ConfigError(
            f"{model.name} has no input shape yet; give it one (Input((timesteps, features)) "
            "first, or input_shape= on the first layer) or call it on data, then draw it."
        )
    unroller = Unroller(None if timesteps is None else int(timesteps), max_columns)
    facts = unroller.run(model)
    boxes = tuple(Box(i, **b) for i, b in enumerate(unroller.boxes))
    arrows = tuple(Arrow(*a) for a in unroller.arrows)
    topology = topology_from(facts, model)
    steps = facts.input_steps if facts.first_input == "sequence" else facts.drawn_steps
    parts: tuple[tuple[int, int, str], ...] = ()
    if topology in ("seq2seq", "autoencoder") and len(unroller.segments) >= 2:
        (first, count), (last, last_count) = unroller.segments[0], unroller.segments[-1]
        parts = ((first, first + count - 1, "encoder"), (last, last + last_count - 1, "decoder"))
    return Diagram(boxes, arrows, topology, steps, _title(model, topology), parts)


def _title(model: Any, topology: str) -> str:
    inputs, outputs = model_words(model)
    return f"{model.name}: {topology}\ninput {inputs} -> output {outputs}"
