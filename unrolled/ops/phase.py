"""Whether the current forward pass is a training step of `fit` (Keras's `training=True`).

Keras's `fit` calls the model with `training=True`, and every layer inside sees it; a plain
call `model(x)` is inference. The Trainer drives any `torch.nn.Module`, which may not take a
`training` argument, so it says so through this flag instead. Layers whose inference differs
by state rather than noise (BatchNormalization: moving statistics) read it, so that a plain
call never updates or uses batch statistics.

A mode the user sets (`model.train()` in a hand-written torch loop, Lightning) is PyTorch's
word for the same thing; the modes that `fit`/`predict` switch to and back (`set_mode`) are
not the user's, so layers can tell the two apart (`Layer.train`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["in_train_step", "library_sets_mode", "set_mode", "train_step"]

_IN_TRAIN_STEP: ContextVar[bool] = ContextVar("unrolled_in_train_step", default=False)
_LIBRARY_SETS_MODE: ContextVar[bool] = ContextVar("unrolled_library_sets_mode", default=False)


@contextmanager
def train_step() -> Iterator[None]:
    """Marks the forward passes inside as a training step (`fit`, `train_on_batch`).

    Example:
        >>> with train_step():
        ...     in_train_step()
        True
        >>> in_train_step()
        False
    """
    token = _IN_TRAIN_STEP.set(True)
    try:
        yield
    finally:
        _IN_TRAIN_STEP.reset(token)


def in_train_step() -> bool:
    """True inside `train_step()`: the Trainer's forward pass of a training batch."""
    return _IN_TRAIN_STEP.get()


def set_mode(module: Any, training: bool) -> None:
    """`module.train(training)` as unrolled's own switch (`fit`, `predict`), not the user's."""
    token = _LIBRARY_SETS_MODE.set(True)
    try:
        module.train(training)
    finally:
        _LIBRARY_SETS_MODE.reset(token)


def library_sets_mode() -> bool:
    """True while `set_mode` switches a module's train/eval mode."""
    return _LIBRARY_SETS_MODE.get()
