"""`stateful_batches`: long series cut into chunks that a stateful model reads batch by batch.

The seeds' "tanks": N series (one per tank) too long for one call are cut into chunks of
`steps_per_batch` steps, and row i of batch k+1 continues row i of batch k, so a stateful
layer carries each series' state across batches:

```
             batch 0            batch 1            batch 2 (reset before)
row 0   tank A steps 0-1   tank A steps 2-3   tank C steps 0-1
row 1   tank B steps 0-1   tank B steps 2-3   (padding)
```

Keras resets the states of a whole batch at once, so series are taken in groups of
`batch_size` (one series per row); a group runs for `ceil(longest / steps_per_batch)`
batches, shorter series are padded at the end (mask False there), and the states are reset
before the first batch of every group (`reset_before`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from unrolled.data.series import as_series
from unrolled.data.windowing import check_same_features
from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str


@dataclass(frozen=True, eq=False)
class StatefulBatches:
    """Chunked series laid out for a stateful model; see `stateful_batches`.

    Feed `fit` with it in one line:

        model.fit(b.x, b.y, batch_size=b.batch_size, shuffle=False,
                  sample_weight=b.sample_weight, callbacks=[ResetStatesAt(b.reset_before)])

    (`ResetStatesAt` is in `unrolled.callbacks`.)
    """

    x: np.ndarray  # (n_batches * batch_size, steps_per_batch, features)
    y: np.ndarray | None  # (n_batches * batch_size, steps_per_batch, target_features)
    mask: np.ndarray  # (n_batches * batch_size, steps_per_batch) bool, False on padding
    reset_before: list[int]  # batch indices before which states must start over
    batch_size: int
    steps_per_batch: int
    lengths: tuple[int, ...]  # each series' timesteps, in input order

    @property
    def n_batches(self) -> int:
        """The number of batches of `batch_size` rows (one epoch of `fit`)."""
        return len(self.x) // self.batch_size

    @property
    def sample_weight(self) -> np.ndarray:
        """`mask` as float32 `(samples, steps_per_batch)`: a temporal sample weight for `fit` that
        gives padded steps no weight in the loss."""
        return self.mask.astype(np.float32)

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """`(x, y, mask)` of batch `index`: `(batch_size, steps_per_batch, ...)` each (views)."""
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[rows], None if self.y is None else self.y[rows], self.mask[rows]

    def unbatch(self, outputs: Any) -> list[np.ndarray]:
        """Per-series arrays back from anything laid out like `x` (e.g. `predict`'s outputs
        with `return_sequences=True`): one `(length_i, ...)` array per series, padding dropped.

        Shapes:
            outputs: `(n_batches * batch_size, steps_per_batch, ...)`.
        """
        values = np.asarray(outputs)
        if values.shape[:2] != self.x.shape[:2]:
            raise ShapeError(
                f"`outputs` must be laid out like x: (samples, steps_per_batch, ...) = "
                f"{shape_str(self.x.shape[:2])} first. Received: outputs.shape="
                f"{shape_str(values.shape)}. Pass per-step outputs (return_sequences=True)."
            )
        blocks = values.reshape(self.n_batches, self.batch_size, *values.shape[1:])
        result = []
        for index, length in enumerate(self.lengths):
            group, row = divmod(index, self.batch_size)
            start, stop = self._group_batches(group)
            steps = blocks[start:stop, row]  # (chunks, steps_per_batch, ...)
            result.append(steps.reshape(-1, *values.shape[2:])[:length])
        return result

    def _group_batches(self, group: int) -> tuple[int, int]:
        stops = [*self.reset_before[1:], self.n_batches]
        return self.reset_before[group], stops[group]


def stateful_batches(
    sequences: Any,
    batch_size: int,
    steps_per_batch: int,
    targets: Any = None,
    padding_value: float = 0.0,
    dtype: Any = "float32",
) -> StatefulBatches:
    """Lays series out for a stateful model: row i of batch k+1 continues row i of batch k.

    Series `g * batch_size + i` goes to row `i` of group `g`; each group runs for
    `ceil(longest series in it / steps_per_batch)` batches; the states must be reset before
    each group's first batch (`reset_before`), and `ResetStatesAt(b.reset_before)` does it
    during `fit`.

    Args:
        sequences: a list of series, each `(timesteps,)` or `(timesteps, features)` (lengths
            may differ), or a `(series, timesteps, features)` array.
        batch_size: rows per batch: the stateful layer's batch size.
        steps_per_batch: timesteps per chunk.
        targets: optional, one target series per input series, aligned step by step:
            `(timesteps,)` or `(timesteps, target_features)` each (e.g. the input shifted by
            one step for next-step prediction); laid out like the inputs.
        padding_value: the value of padded steps in `x`. To give the layers the mask, put
            `Masking(mask_value=padding_value)` first, with a value no real step takes (or
            call the layer with `mask=b.mask` rows yourself).
        dtype: of `x` and `y` (Keras's float32 by default).

    Shapes:
        x: `(n_batches * batch_size, steps_per_batch, features)`, in the order `fit` reads it
        with `shuffle=False, batch_size=batch_size`; y:
        `(n_batches * batch_size, steps_per_batch, target_features)`; mask:
        `(n_batches * batch_size, steps_per_batch)`.

    Returns:
        a `StatefulBatches` with `x`, `y` (None without targets), `mask`, `reset_before`,
        `batch_size`, `steps_per_batch`, `lengths`, and `sample_weight` (the mask as float32,
        so that padded steps do not count in the loss).

    Raises:
        ShapeError: a series is empty or not 1-D/2-D, series have different feature counts,
            or a target series' length differs from its input series'.
        ConfigError: a bad `batch_size` or `steps_per_batch`, NaN or infinite values.

    Keras differences: Keras has no such helper; the seeds cut and order the chunks by hand.

    Example:
        >>> b = stateful_batches([np.arange(4.0), np.arange(3.0), np.arange(2.0)], 2, 2)
        >>> b.x.shape, b.reset_before, b.x[:, :, 0].tolist()
        ((6, 2, 1), [0, 2], [[0.0, 1.0], [0.0, 1.0], [2.0, 3.0], [2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        >>> b.mask[3].tolist(), b.mask[5].tolist()
        ([True, False], [False, False])
    """
    batch_size = positive_int(batch_size, "batch_size")
    steps = positive_int(steps_per_batch, "steps_per_batch")
    inputs = _series_list(sequences, "sequences")
    outputs = None if targets is None else _series_list(targets, "targets")
    if outputs is not None and len(outputs) != len(inputs):
        raise ShapeError(
            f"`targets` must hold one series per input series: {len(inputs)}. Received "
            f"{len(outputs)}."
        )
    for index, series in enumerate(inputs):
        if outputs is not None and len(outputs[index]) != len(series):
            raise ShapeError(
                f"targets[{index}] must have the timesteps of sequences[{index}]: {len(series)}. "
                f"Received: targets[{index}].shape={shape_str(outputs[index].shape)}"
            )

    lengths = tuple(len(s) for s in inputs)
    groups = math.ceil(len(inputs) / batch_size)
    chunks = [
        math.ceil(max(lengths[g * batch_size : (g + 1) * batch_size]) / steps)
        for g in range(groups)
    ]
    reset_before = [int(i) for i in np.cumsum([0, *chunks[:-1]])]
    n_batches = sum(chunks)

    def lay_out(series: list[np.ndarray], fill: Any, kind: Any) -> np.ndarray:
        # Built as (batches, rows, steps, ...) so that a series' chunks are one assignment.
        shape = (n_batches, batch_size, steps, *series[0].shape[1:])
        laid = np.full(shape, fill, dtype=kind)
        for index, values in enumerate(series):
            group, row = divmod(index, batch_size)
            start = reset_before[group]
            full, rest = divmod(len(values), steps)
            laid[start : start + full, row] = values[: full * steps].reshape(
                full, steps, *values.shape[1:]
            )
            if rest:
                laid[start + full, row, :rest] = values[full * steps :]
        return laid.reshape(n_batches * batch_size, *shape[2:])  # (samples, steps, ...)

    ones = [np.ones((n, 1), dtype=bool) for n in lengths]
    return StatefulBatches(
        x=lay_out(inputs, padding_value, dtype),
        y=None if outputs is None else lay_out(outputs, 0, dtype),
        mask=lay_out(ones, False, bool)[..., 0],
        reset_before=reset_before,
        batch_size=batch_size,
        steps_per_batch=steps,
        lengths=lengths,
    )


def _series_list(sequences: Any, name: str) -> list[np.ndarray]:
    """A list of `(timesteps, features)` arrays, all with the same features."""
    if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
        raise ShapeError(
            f"`{name}` is one 2-D array {shape_str(sequences.shape)}: pass a list of series, "
            f"e.g. [{name}] for one (timesteps, features) series, or list({name}) for one "
            "univariate series per row."
        )
    if isinstance(sequences, np.ndarray) and sequences.ndim != 3:
        raise ShapeError(
            f"`{name}` must be a list of series or a (series, timesteps, features) array. "
            f"Received: {name}.shape={shape_str(sequences.shape)}"
        )
    if not isinstance(sequences, (list, tuple, np.ndarray)) or len(sequences) == 0:
        raise ConfigError(
            f"`{name}` must be a non-empty list of series. Received: {type(sequences).__name__}"
        )
    series = [as_series(s, f"{name}[{i}]") for i, s in enumerate(sequences)]  # (T_i, F) each
    for index, values in enumerate(series):
        if len(values) == 0:
            raise ShapeError(f"`{name}[{index}]` is empty; every series needs a timestep.")
        check_same_features(series[0].shape[1], values.shape, f"{name}[{index}]", f"{name}[0]")
    return series
