"""Unrolls a model over time: the boxes and arrows of its picture, and the topology they form.

Each tensor of the model becomes a signal as the layers are walked in call order:

    _Pending  a model input not drawn yet (where it goes depends on what reads it)
    _Seq      one value per timestep of a segment (a run of columns)
    _Vec      one value for the whole sequence (a recurrent layer's last step, its states)

A recurrent layer reading a `_Seq` adds a row of cells to its segment, one per column;
`RepeatVector` and `Feedback` open a new segment to the right. What happened on the way
(an encoder's vector repeated into a decoder, states handed across segments, a cropped
output) decides the topology, so the picture and the name always agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from unrolled.errors import ConfigError, positive_int
from unrolled.explain.shapes import rank, shape_words
from unrolled.explain.walk import Call, calls, is_feedback, is_model, model_inputs, model_outputs
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.cells_protocol import state_sizes
from unrolled.layers.cropping import Cropping1D
from unrolled.layers.embeddings import Embedding
from unrolled.layers.recurrent import RNN
from unrolled.layers.reshaping import RepeatVector

TOPOLOGIES = (
    "one-to-one",
    "many-to-one",
    "many-to-many",
    "many-to-many (last N)",
    "one-to-many",
    "seq2seq",
    "autoencoder",
)
_TOP = -1  # output boxes go above the highest cell row, known only at the end


@dataclass
class _Segment:
    """A run of columns, one per shown timestep; `None` marks the elided middle."""

    offset: int
    steps: int
    slots: list[int | None]
    next_row: int = 1

    def covers(self, slot: int) -> range:
        """The timesteps a column stands for."""
        step = self.slots[slot]
        if step is not None:
            return range(step, step + 1)
        before, after = self.slots[slot - 1], self.slots[slot + 1]  # the elided middle has both
        return range(int(before or 0) + 1, int(after or 0))


@dataclass
class _Seq:
    segment: _Segment
    sources: dict[int, list[int]]  # column slot -> the boxes that hold its value
    start: int = 0  # first timestep kept (after cropping)
    length: int = 0  # timesteps kept
    outputs_drawn: bool = False


@dataclass
class _Vec:
    sources: list[int]


@dataclass
class _Pending:
    shape: Any
    index: int  # which model input
    placed: list[Any] = field(default_factory=list)  # the placed signal, once drawn
    reshaped: bool = False  # a vector input read as a sequence: its timesteps are the layer's


@dataclass
class Facts:
    """What unrolling found, for naming the topology."""

    first_input: str | None = None  # "sequence" or "vector"
    input_steps: int | None = None
    steps_known: bool = True
    encoder_decoder: bool = False  # a recurrent layer's last output repeated into a new sequence
    crossing: bool = False  # states handed from one segment's cells to another's
    feedback: bool = False
    final: Any = None
    drawn_steps: int | None = None  # the first segment's timesteps


class Unroller:
    """Collects boxes and arrows; `run(model)` walks the model and returns its `Facts`."""

    def __init__(self, timesteps: int | None, max_columns: int, need_steps: bool = True) -> None:
        self.timesteps = timesteps
        self.max_columns = max_columns
        self.need_steps = need_steps
        self.boxes: list[dict[str, Any]] = []
        self.arrows: list[tuple[int, int, str]] = []
        self.facts = Facts()
        self.next_column = 0
        self.segments: list[tuple[int, int]] = []  # (first column, columns)
        self._seen_arrows: set[tuple[int, int, str]] = set()

    # -- the walk ---------------------------------------------------------------------------
    def run(self, model: Any) -> Facts:
        inputs = [_Pending(shape, index) for index, (_, shape) in enumerate(model_inputs(model))]
        outputs = self.run_model(model, inputs)
        shapes = [shape for _, shape in model_outputs(model)]
        for index, (signal, shape) in enumerate(zip(outputs, shapes)):
            self.finish(signal, shape, index)
        self.facts.final = outputs[0] if outputs else None
        top = max((b["row"] for b in self.boxes if b["kind"] != "output"), default=0)
        for b in self.boxes:
            if b["row"] < 0:
                b["row"] = top + (-b["row"])
        return self.facts

    def run_model(self, model: Any, inputs: list[Any]) -> list[Any]:
        values = {key: signal for (key, _), signal in zip(model_inputs(model), inputs)}
        for call in calls(model):
            given = [values.get(key) for key in call.input_keys]
            states = [values.get(key) for key in call.state_keys]
            results = self.apply(call, given, states)
            for key, result in zip(call.output_keys, results):
                values[key] = result
        return [values.get(key) for key, _ in model_outputs(model)]

    def apply(self, call: Call, given: list[Any], states: list[Any]) -> list[Any]:
        layer, count = call.layer, max(1, len(call.outputs))
        signal = given[0] if given else None
        if isinstance(layer, (RNN, Bidirectional)):
            return self.recurrent(layer, signal, states, count)
        if is_feedback(layer):
            return [self.feedback(layer, signal, call.outputs[0])] * count
        if isinstance(layer, RepeatVector):
            return [self.repeat(signal, layer.n)] * count
        if is_model(layer):
            return self.run_model(layer, given)
        if len(given) > 1:
            return [self.merge(given)] * count
        return [self.reshape(layer, signal, call.inputs[0], call.outputs[0])] * count

    # -- recurrent layers -------------------------------------------------------------------
    def recurrent(self, layer: Any, signal: Any, states: list[Any], count: int) -> list[Any]:
        if isinstance(signal, _Pending):
            signal = self.place(signal, decoder=bool(states))
        if not isinstance(signal, _Seq):
            return [signal] * count
        segment = signal.segment
        pair = isinstance(layer, Bidirectional)
        directions = [layer.forward_layer, layer.backward_layer] if pair else [layer]
        slots = sorted(signal.sources)
        rows = []  # per direction: (cells by slot, first cell, last cell) in processing order
        for rnn in directions:
            row = segment.next_row
            segment.next_row += 1
            label = _cell_label(rnn)
            cells = {}
            for slot in slots:
                step = segment.slots[slot]
                if step is None:
                    cells[slot] = self.box("ellipsis", row, segment.offset + slot, "...", None, rnn)
                else:
                    cells[slot] = self.box("cell", row, segment.offset + slot, label, step, rnn)
                for source in signal.sources[slot]:
                    self.arrow(source, cells[slot], "input")
            order = slots[::-1] if rnn.go_backwards else slots
            for a, b in zip(order, order[1:]):
                self.arrow(cells[a], cells[b], "state")
            rows.append((cells, cells[order[0]], cells[order[-1]]))
        self.initial_states(states, rows, segment)
        if layer.return_sequences:
            merged = _Seq(
                segment,
                {slot: [cells[slot] for cells, _, _ in rows] for slot in slots},
                signal.start,
                signal.length,
            )
            each = [
                _Seq(segment, {s: [c[s]] for s in slots}, signal.start, signal.length)
                for c, _, _ in rows
            ]
        else:
            merged = _Vec([last for _, _, last in rows])
            each = [_Vec([last]) for _, _, last in rows]
        mains = each if pair and layer.merge_mode is None else [merged]
        per_direction = max(0, count - len(mains)) // len(rows)
        state_signals = [_Vec([last]) for _, _, last in rows for _ in range(per_direction)]
        return [*mains, *state_signals]

    def initial_states(self, states: list[Any], rows: list[Any], segment: _Segment) -> None:
        given = [s for s in states if isinstance(s, _Vec)]
        if not given:
            return
        share = max(1, len(given) // len(rows))
        for index, (_, first, _) in enumerate(rows):
            for signal in given[index * share : (index + 1) * share] or given:
                for source in signal.sources:
                    self.arrow(source, first, "state")
                    column = self.boxes[source]["column"]
                    if not segment.offset <= column < segment.offset + len(segment.slots):
                        self.facts.crossing = True

    # -- time-shaping layers ----------------------------------------------------------------
    def repeat(self, signal: Any, n: int) -> Any:
        """The same vector at each of `n` new columns: the model's input, or an encoder's output."""
        if not isinstance(signal, (_Pending, _Vec)):
            return signal
        segment = self.segment(int(n))
        if isinstance(signal, _Pending):
            features = _last(signal.shape)
            sources = {}
            for slot, step in enumerate(segment.slots):
                if step is None:
                    sources[slot] = [self.box("ellipsis", 0, segment.offset + slot, "...")]
                else:
                    label = f"x (features={features}, repeated)"
                    sources[slot] = [self.box("input", 0, segment.offset + slot, label, step)]
            self.note_input(signal, "vector", None)
            return _Seq(segment, sources, 0, segment.steps)
        if any(self.boxes[s]["kind"] == "cell" for s in signal.sources):
            self.facts.encoder_decoder = True
        sources = {slot: list(signal.sources) for slot in range(len(segment.slots))}
        return _Seq(segment, sources, 0, segment.steps)

    def feedback(self, layer: Any, signal: Any, shape: Any) -> Any:
        segment = self.segment(int(layer.steps))
        sources: dict[int, list[int]] = {slot: [] for slot in range(len(segment.slots))}
        features = _last(shape)
        if isinstance(signal, _Pending):
            features = _last(signal.shape)
            label = f"x (features={features})"
            sources[0] = [self.box("input", 0, segment.offset, label, 0)]
            self.note_input(signal, "vector", None)
        elif isinstance(signal, _Vec):
            sources[0] = list(signal.sources)
        current: Any = _Seq(segment, sources, 0, segment.steps)
        first_row = None
        for inner in layer.chain:
            if isinstance(inner, (RNN, Bidirectional)):
                current = self.recurrent(inner, current, [], 1)[0]
                if first_row is None and isinstance(current, _Seq):
                    first_row = {slot: ids[0] for slot, ids in current.sources.items()}
        outputs = self.output_row(current, features, 0)
        if first_row is not None:
            order = sorted(outputs)
            for a, b in zip(order, order[1:]):
                self.arrow(outputs[a], first_row[b], "input")
            self.facts.feedback = True
        return _Seq(segment, {s: [b] for s, b in outputs.items()}, 0, segment.steps, True)

    def reshape(self, layer: Any, signal: Any, shape_in: Any, shape_out: Any) -> Any:
        """Layers that are not recurrent: most act on each step alone and change nothing here."""
        rank_in, rank_out = rank(shape_in), rank(shape_out)
        if isinstance(signal, _Pending):
            if isinstance(layer, Embedding) and rank_in == 2:
                return self.place(signal, tokens=True)
            if rank_in == 2 and rank_out == 3:  # one vector read as a sequence (Reshape)
                return self.place(_Pending(shape_out, signal.index, signal.placed, reshaped=True))
            return signal  # drawn as the model's input wherever it is read
        if isinstance(signal, _Seq):
            if rank_out == 3:
                return self.crop(layer, signal, shape_in, shape_out)
            if rank_out is not None and rank_out < 3:  # Flatten, a Lambda taking one step
                return _Vec(_unique([b for ids in signal.sources.values() for b in ids]))
        if isinstance(signal, _Vec) and rank_out == 3:
            return self.repeat(signal, shape_out[1] or 1)
        return signal

    def crop(self, layer: Any, signal: _Seq, shape_in: Any, shape_out: Any) -> _Seq:
        if isinstance(layer, Cropping1D):
            start, end = layer.cropping
        else:
            t_in, t_out = shape_in[1], shape_out[1]
            if t_in is None or t_out is None or t_out >= t_in:
                return signal
            start, end = t_in - t_out, 0  # a Lambda like x[:, -N:]: the last N steps
        keep = range(signal.start + start, signal.start + signal.length - end)
        segment = signal.segment
        sources = {
            slot: ids
            for slot, ids in signal.sources.items()
            if _overlap(segment.covers(slot), keep)
        }
        return _Seq(segment, sources, keep.start, len(keep))

    def merge(self, given: list[Any]) -> Any:
        seqs = [s for s in given if isinstance(s, _Seq)]
        if seqs and all(s.segment is seqs[0].segment for s in seqs):
            first = seqs[0]
            sources = {
                slot: _unique([b for s in seqs for b in s.sources.get(slot, [])])
                for slot in first.sources
            }
            return _Seq(first.segment, sources, first.start, first.length)
        vecs = [s for s in given if isinstance(s, _Vec)]
        if vecs and len(vecs) == len(given):
            return _Vec(_unique([b for v in vecs for b in v.sources]))
        return next((s for s in given if not isinstance(s, _Pending)), given[0])

    # -- placing inputs and outputs ---------------------------------------------------------
    def place(self, signal: _Pending, decoder: bool = False, tokens: bool = False) -> Any:
        if signal.placed:
            return signal.placed[0]
        shape = signal.shape
        if rank(shape) != 3 and not tokens:
            return signal
        steps = self.steps_of(signal)
        segment = self.segment(steps)
        features = _last(shape)
        sources = {}
        letter = (
            "y"
            if decoder and signal.index > 0
            else ("x" if signal.index == 0 else f"x{signal.index + 1}")
        )
        for slot, step in enumerate(segment.slots):
            column = segment.offset + slot
            if step is None:
                sources[slot] = [self.box("ellipsis", 0, column, "...")]
                continue
            number = step if letter == "y" else step + 1  # a decoder reads the previous output
            detail = "token" if tokens else f"features={features}"
            if steps == 1 and letter == "x":
                label = f"x ({detail})"
            else:
                label = f"{letter}_{number} ({detail})"
            sources[slot] = [self.box("input", 0, column, label, step)]
        self.note_input(signal, "sequence", steps)
        placed = _Seq(segment, sources, 0, steps)
        signal.placed.append(placed)
        return placed

    def steps_of(self, signal: _Pending) -> int:
        """The timesteps to draw for a model input: its own, or the `timesteps` argument.

        The argument applies to the first input read as a sequence; models whose steps are
        set by a layer (RepeatVector, Feedback, Reshape) ignore it.
        """
        steps = signal.shape[1]
        if signal.index == 0 and self.timesteps is not None and not signal.reshaped:
            if steps is not None and steps != self.timesteps:
                raise ConfigError(
                    f"The model takes {steps} timesteps per sample (samples, timesteps, features); "
                    f"received timesteps={self.timesteps}. Leave timesteps out to draw {steps}."
                )
            return self.timesteps
        if steps is not None:
            return int(steps)
        if self.need_steps:
            raise ConfigError(
                "The model's input has no fixed number of timesteps (input shape "
                f"{shape_words(signal.shape)}), so the picture needs one: pass timesteps=N, "
                "e.g. diagram(model, timesteps=10)."
            )
        self.facts.steps_known = False
        return 3

    def note_input(self, signal: _Pending, kind: str, steps: int | None) -> None:
        if signal.index == 0 and self.facts.first_input is None:
            self.facts.first_input = kind
            self.facts.input_steps = steps

    def finish(self, signal: Any, shape: Any, index: int) -> None:
        if isinstance(signal, _Pending):
            placed = self.place(signal)
            if isinstance(placed, _Pending):  # a vector model input, never read as a sequence
                column = self.next_column
                self.next_column += 1
                box = self.box("input", 0, column, f"x (features={_last(signal.shape)})", 0)
                self.note_input(signal, "vector", None)
                placed = _Vec([box])
            signal = placed
        if isinstance(signal, _Seq) and not signal.outputs_drawn:
            self.output_row(signal, _last(shape), index)
        elif isinstance(signal, _Vec) and signal.sources:
            column = max(self.boxes[s]["column"] for s in signal.sources)
            box = self.box("output", _TOP - index, column, f"y ({_last(shape)})")
            for source in signal.sources:
                self.arrow(source, box, "output")

    def output_row(self, signal: _Seq, features: Any, index: int) -> dict[int, int]:
        outputs = {}
        segment = signal.segment
        for slot in sorted(signal.sources):
            column = segment.offset + slot
            step = segment.slots[slot]
            if step is None:
                outputs[slot] = self.box("ellipsis", _TOP - index, column, "...")
            else:
                number = step - signal.start + 1
                outputs[slot] = self.box(
                    "output", _TOP - index, column, f"y_{number} ({features})", step
                )
            for source in signal.sources[slot]:
                self.arrow(source, outputs[slot], "output")
        return outputs

    # -- boxes and arrows -------------------------------------------------------------------
    def segment(self, steps: int) -> _Segment:
        steps = positive_int(steps, "timesteps")
        segment = _Segment(self.next_column, steps, elided_slots(steps, self.max_columns))
        if self.facts.drawn_steps is None:
            self.facts.drawn_steps = steps
        self.next_column += len(segment.slots)
        self.segments.append((segment.offset, len(segment.slots)))
        return segment

    def box(
        self,
        kind: str,
        row: int,
        column: int,
        label: str,
        step: int | None = None,
        layer: Any = None,
    ) -> int:
        name = None if layer is None else layer.name
        self.boxes.append(
            {
                "kind": kind,
                "row": row,
                "column": column,
                "label": label,
                "step": step,
                "layer": name,
            }
        )
        return len(self.boxes) - 1

    def arrow(self, source: int, target: int, kind: str) -> None:
        key = (source, target, kind)
        if key not in self._seen_arrows:
            self._seen_arrows.add(key)
            self.arrows.append(key)


def elided_slots(steps: int, max_columns: int) -> list[int | None]:
    """The timesteps shown as columns: all of them, or the first and last few around `None`.

    With `max_columns=6`, 50 steps show as steps 0, 1, 2, None (the "..." column), 48, 49.
    """
    if steps <= max_columns:
        return list(range(steps))
    shown = max_columns - 1
    head = math.ceil(shown / 2)
    tail = shown - head
    return [*range(head), None, *range(steps - tail, steps)]


def topology_from(facts: Facts, model: Any) -> str:
    """The name of the picture the facts describe (one of `TOPOLOGIES`)."""
    kind = type(model).__name__
    if kind == "Seq2Seq" or hasattr(model, "teacher_inputs") or facts.crossing:
        return "seq2seq"
    inputs = [shape for _, shape in model_inputs(model)]
    outputs = [shape for _, shape in model_outputs(model)]
    if kind == "Autoencoder" or facts.encoder_decoder:
        same = len(inputs) == 1 and len(outputs) == 1 and _tail(inputs[0]) == _tail(outputs[0])
        return "autoencoder" if same else "seq2seq"
    final = facts.final
    one_step = facts.steps_known and facts.input_steps == 1
    if facts.first_input != "sequence" or one_step:
        if isinstance(final, _Seq) and final.length > 1:
            return "one-to-many"
        return "one-to-one"
    if isinstance(final, _Seq):
        if final.length < final.segment.steps:
            return "many-to-many (last N)"
        return "many-to-many"
    if isinstance(final, _Vec):
        return "many-to-one"
    return "many-to-many" if rank(outputs[0] if outputs else None) == 3 else "many-to-one"


def _cell_label(rnn: Any) -> str:
    cell = rnn.cell
    units = getattr(cell, "output_size", None) or state_sizes(cell)[0]
    label = f"{type(rnn).__name__} {units}"
    return f"{label} (backward)" if rnn.go_backwards else label


def _last(shape: Any) -> Any:
    if shape is None or isinstance(shape, list) or not shape:
        return "?"
    return "?" if shape[-1] is None else shape[-1]


def _tail(shape: Any) -> Any:
    return None if shape is None or isinstance(shape, list) else tuple(shape[1:])


def _overlap(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


def _unique(ids: list[int]) -> list[int]:
    seen: set[int] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]
