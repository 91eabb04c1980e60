"""Batches from a Python generator or a Keras `PyDataset`/`Sequence`, as Keras 3's `fit` takes them.

A generator yields whole batches, `x`, `(x, y)` or `(x, y, sample_weight)`, forever or
until it stops. Epochs share it: with `steps_per_epoch`, each epoch takes that many batches
and the next epoch continues where it left off; without, an epoch runs it dry, and the next
finds it empty (training then stops with Keras's warning). A `PyDataset`-like object
(`__getitem__(i)` giving batch i, `__len__`, optionally `on_epoch_end`) is read whole each
epoch, its batches in a new order with `shuffle=True` (as Keras 3's fit does), in order
otherwise. A generator's batches come as it makes them, whatever `shuffle` says.

Keras differences: Keras 3 keeps the first two batches it peeks at (to learn their shapes)
and replays them at the start of every later pass, so a validation generator restarts with
them each epoch; here a generator always continues, as Keras 2's `fit_generator` read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from unrolled.errors import ConfigError

_ARRAY_TYPES = (list, tuple, dict, str, bytes, np.ndarray, torch.Tensor)


class BatchSource:
    """The batches of a generator or a `PyDataset`-like object, at most `steps` per pass.

    Args:
        source: a Python generator or iterator of batches, or an object with
            `__getitem__(index)` and `__len__` (Keras's `PyDataset`, Keras 2's `Sequence`).
        steps: the most batches one pass (an epoch, an evaluation) takes; None: until the
            generator stops, or every batch of a `PyDataset`.

    Example:
        >>> batches = (np.full((2, 1), i) for i in range(10))
        >>> source = BatchSource(batches, steps=2)
        >>> [int(x[0, 0]) for x in source], [int(x[0, 0]) for x in source]
        ([0, 1], [2, 3])
    """

    def __init__(self, source: Any, steps: int | None = None) -> None:
        self.source = source
        self.steps = steps
        self.indexed = not isinstance(source, Iterator)
        self.exhausted = False  # a generator that stopped: later passes get nothing
        self.shuffle_with: torch.Generator | None = None  # set: a PyDataset's batches reordered
        self._peeked: list[Any] = []

    def __iter__(self) -> Iterator[Any]:
        if self.indexed:
            count = len(self.source) if self.steps is None else min(self.steps, len(self.source))
            order = (
                torch.randperm(len(self.source), generator=self.shuffle_with)[:count].tolist()
                if self.shuffle_with is not None
                else range(count)
            )
            for index in order:
                yield self.source[index]
            if hasattr(self.source, "on_epoch_end"):
                self.source.on_epoch_end()
            return
        taken = 0
        while self.steps is None or taken < self.steps:
            if self._peeked:
                item = self._peeked.pop()
            else:
                try:
                    item = next(self.source)
                except StopIteration:
                    self.exhausted = True
                    return
            taken += 1
            yield item

    def __len__(self) -> int:
        """Batches per pass; a TypeError (no length) for a generator without `steps`."""
        if self.steps is not None:
            return min(self.steps, len(self.source)) if self.indexed else self.steps
        if self.indexed:
            return len(self.source)
        raise TypeError("a generator has no length")

    def first_batch(self) -> Any:
        """The first batch, which a pass still yields (a model builds from its shape)."""
        if self.indexed:
            return self.source[0]
        if not self._peeked:
            try:
                self._peeked.append(next(self.source))
            except StopIteration:
                raise ConfigError("The generator given as `x` yields no batch.") from None
        return self._peeked[0]


def is_batch_source(data: Any) -> bool:
    """Whether `data` is a generator/iterator of batches or a `PyDataset`-like sequence."""
    if isinstance(data, BatchSource):
        return True
    if isinstance(data, _ARRAY_TYPES) or isinstance(data, torch.utils.data.Dataset):
        return False
    if isinstance(data, Iterator):
        return True
    kind = type(data)
    names = {klass.__name__ for klass in kind.__mro__}
    return (
        hasattr(kind, "__getitem__")
        and hasattr(kind, "__len__")
        and bool(names & {"PyDataset", "Sequence"} or hasattr(kind, "on_epoch_end"))
    )


def as_batch_source(data: Any, steps: int | None, argument: str = "x") -> Any:
    """`data` as a `BatchSource` (taking `steps` batches a pass) if it is a generator or a
    `PyDataset`; anything else as it is.

    Raises:
        ConfigError: `data` is a TensorFlow dataset (`tf.data`), which only TensorFlow reads.
    """
    if type(data).__module__.split(".")[0] == "tensorflow" and hasattr(data, "as_numpy_iterator"):
        raise ConfigError(
            f"`{argument}` is a tf.data.Dataset ({type(data).__name__}), which needs TensorFlow; "
            "unrolled trains on torch. Pass its batches as a Python generator, "
            f"`{argument}=dataset.as_numpy_iterator()` (with `steps_per_epoch` if it repeats), "
            "or NumPy arrays, or a torch Dataset/DataLoader."
        )
    if isinstance(data, BatchSource) or not is_batch_source(data):
        return data
    return BatchSource(data, steps)
