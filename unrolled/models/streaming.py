"""`Stream`: one model, one state per series, fed one new step at a time.

The seeds' "400 stocks sharing a network": data arrives as a stream, each series at its
own pace. A stateful model fixes which batch row is which series and needs every row
at every call; a `Stream` keeps each series' states under its id and runs any subset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.files import tensors_from_bytes, tensors_to_bytes, write_bytes
from unrolled.models.stepping import Stepper


class Stream:
    """Keeps one recurrent state per series id and steps any subset of the series.

    Args:
        model: a model that can run one timestep at a time (recurrent layers and layers
            that act on each step alone; stateful or not, its own states are left alone).

    Example:
        >>> stream = Stream(Sequential([Input((None, 2)), LSTM(8, return_sequences=True), Dense(1)]))
        >>> stream.add(["AAPL", "MSFT"])
        >>> stream.step(["MSFT"], np.ones((1, 2))).shape
        (1, 1)
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.stepper = Stepper.of(model)
        self._rows: dict[Hashable, int] = {}
        self._free: list[int] = []
        self._used = 0  # rows handed out so far; rows past it are spare capacity
        reference = next(model.parameters())
        self._states = [
            reference.new_zeros(0, size) for sizes in self.stepper.state_sizes for size in sizes
        ]

    @property
    def ids(self) -> list[Hashable]:
        """The series in the stream, in the order they were added."""
        return list(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, series_id: Hashable) -> bool:
        return series_id in self._rows

    def add(self, ids: Iterable[Hashable]) -> None:
        """Adds series that start from zero states."""
        for series_id in _as_ids(ids):
            if series_id in self._rows:
                raise ConfigError(f"Series {series_id!r} is already in the stream.")
            self._rows[series_id] = self._new_row()
        self.reset(ids)

    def drop(self, ids: Iterable[Hashable]) -> None:
        """Removes series; their rows are reused by later `add`s."""
        for series_id in _as_ids(ids):
            self._free.append(self._rows.pop(self._known(series_id)))

    def reset(self, ids: Iterable[Hashable] | None = None) -> None:
        """Zeros the states of `ids` (every series when None)."""
        rows = self._index(self.ids if ids is None else _as_ids(ids))
        for state in self._states:
            state[rows] = 0.0

    def step(self, ids: Sequence[Hashable], x: Any) -> np.ndarray:
        """Feeds each listed series its next step(s) and returns the model's outputs.

        Args:
            ids: the series to step, one per row of `x`.
            x: `(len(ids), features)` for one step each, or `(len(ids), timesteps, features)`.

        Returns:
            The outputs at each series' last step, `(len(ids), outputs)`.
        """
        ids = _as_ids(ids)
        reference = self._states[0]
        steps = torch.as_tensor(np.asarray(x), dtype=reference.dtype, device=reference.device)
        if steps.dim() == 2:
            steps = steps[:, None]  # (N, 1, F)
        if steps.dim() != 3 or steps.shape[0] != len(ids):
            raise ShapeError(
                f"x must be (len(ids), features) or (len(ids), timesteps, features) with "
                f"len(ids)={len(ids)}; received {shape_str(tuple(np.shape(x)))}."
            )
        rows = self._index(ids)
        states = self._gather(rows)
        with torch.no_grad():
            output, new_states = self.stepper.frozen()(steps, states)
        for state, new in zip(self._states, (s for layer in new_states for s in layer)):
            state[rows] = new
        last = output[:, -1] if output.dim() == 3 else output  # (N, outputs)
        return last.cpu().numpy()

    def get_states(self, series_id: Hashable) -> list[np.ndarray]:
        """One series' states, flattened in layer order (`[h, c]` per LSTM)."""
        row = self._rows[self._known(series_id)]
        return [state[row].cpu().numpy().copy() for state in self._states]

    def set_states(self, series_id: Hashable, states: Sequence[Any]) -> None:
        """Sets one series' states (the layout of `get_states`); adds the series if new."""
        if series_id not in self._rows:
            self.add([series_id])
        row = self._rows[series_id]
        if len(states) != len(self._states):
            raise ShapeError(
                f"Expected {len(self._states)} state arrays (layer order, [h, c] per LSTM); received {len(states)}."
            )
        for state, value in zip(self._states, states):
            tensor = torch.as_tensor(np.asarray(value), dtype=state.dtype, device=state.device)
            if tuple(tensor.shape) != tuple(state.shape[1:]):
                raise ShapeError(
                    f"A state of series {series_id!r} must have shape {shape_str(state.shape[1:])}; "
                    f"received {shape_str(tensor.shape)}."
                )
            state[row] = tensor

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes every series' states to a safetensors file (ids as JSON metadata), atomically."""
        rows = self._index(self.ids)
        tensors = {f"state_{i}": s[rows] for i, s in enumerate(self._states)}
        write_bytes(path, tensors_to_bytes(tensors, {"ids": json.dumps(self.ids)}))

    def restore(self, path: str | os.PathLike[str]) -> None:
        """Replaces the stream's series and states with those saved by `save`."""
        with open(path, "rb") as file:
            stored, metadata = tensors_from_bytes(file.read(), os.fspath(path))
        ids = json.loads(metadata.get("ids", "null") or "null")
        tensors = [stored.get(f"state_{i}") for i in range(len(self._states))]
        if (
            not isinstance(ids, list)
            or any(t is None for t in tensors)
            or any(t.shape[0] != len(ids) for t in tensors)
        ):
            raise ConfigError(f"{os.fspath(path)} is not a stream state file for this model.")
        for state, tensor in zip(self._states, tensors):
            if tensor.shape[1:] != state.shape[1:]:
                raise ShapeError(
                    f"{os.fspath(path)} holds states of shape {shape_str(tensor.shape[1:])}; this "
                    f"model's are {shape_str(state.shape[1:])}."
                )
        self._rows, self._free, self._used = {}, [], 0
        self._states = [s[:0] for s in self._states]
        self.add(ids)
        rows = self._index(ids)
        for state, tensor in zip(self._states, tensors):
            state[rows] = tensor.to(device=state.device, dtype=state.dtype)

    # -- rows -----------------------------------------------------------------------------------
    def _new_row(self) -> int:
        if self._free:
            return self._free.pop()
        capacity = self._states[0].shape[0]
        if self._used == capacity:  # grow by doubling, so adding n series costs O(n)
            grown = max(4, 2 * capacity)
            self._states = [
                torch.cat([s, s.new_zeros(grown - capacity, *s.shape[1:])]) for s in self._states
            ]
        self._used += 1
        return self._used - 1

    def _known(self, series_id: Hashable) -> Hashable:
        if series_id not in self._rows:
            raise ConfigError(
                f"Series {series_id!r} is not in the stream; add it first with stream.add([{series_id!r}])."
            )
        return series_id

    def _index(self, ids: Iterable[Hashable]) -> torch.Tensor:
        rows = [self._rows[self._known(i)] for i in ids]
        return torch.tensor(rows, dtype=torch.long, device=self._states[0].device)

    def _gather(self, rows: torch.Tensor) -> list[list[torch.Tensor]]:
        flat = iter(s.index_select(0, rows) for s in self._states)
        return [[next(flat) for _ in sizes] for sizes in self.stepper.state_sizes]


def _as_ids(ids: Any) -> list[Hashable]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        return [ids]
    listed = list(ids)
    if len(set(listed)) != len(listed):
        raise ConfigError(f"Series ids must be distinct; received {listed}.")
    return listed
