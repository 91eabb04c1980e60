"""Keras's rules for stateful models, checked before any batch runs.

A module that sets `stateful_batch_size = N` keeps per-row state between batches:
row i of batch k+1 continues the sequence of row i of batch k. That only means
something when every batch has exactly N rows in a fixed order, so fit, evaluate and
predict need `batch_size == N`, a number of samples divisible by N, and no shuffling.
"""

from __future__ import annotations

from typing import Any

from unrolled.errors import ConfigError, ShapeError


def fixed_batch_size(module: Any) -> int | None:
    """`module.stateful_batch_size`, or None for a module without stateful layers."""
    size = getattr(module, "stateful_batch_size", None)
    return None if size is None else int(size)


def check(
    module: Any,
    method: str,
    batch_size: int | None,
    num_samples: int | None,
    shuffle: bool | str = False,
    what: str = "x",
) -> int | None:
    """The batch size to use; raises when the data breaks the stateful rules.

    Returns `batch_size` unchanged for a module that is not stateful.
    """
    fixed = fixed_batch_size(module)
    if fixed is None:
        return batch_size
    if batch_size is not None and batch_size != fixed:
        extra = (
            " To run it at another batch size, call `model.reset_state(batch_size=N)` first, which "
            "starts every sequence over."
            if method == "predict"
            else ""
        )
        raise ConfigError(
            f"This model is stateful with a fixed batch size of {fixed}: each row of a batch "
            f"continues the sequence of the same row in the previous batch, so {method}() needs "
            f"batch_size={fixed}. Received: batch_size={batch_size}.{extra}"
        )
    if shuffle:
        raise ConfigError(
            f"{method}(shuffle={shuffle!r}) reorders samples between batches, but this stateful "
            f"model carries row i's state into row i of the next batch (sequence i of batch k+1 "
            "continues sequence i of batch k). Pass shuffle=False."
        )
    if num_samples is not None and num_samples % fixed:
        keep = num_samples - num_samples % fixed
        raise ShapeError(
            f"{method}(): `{what}` has {num_samples} samples, not a multiple of the stateful batch "
            f"size {fixed}; the last batch would have {num_samples % fixed} row(s) and break the "
            f"row-to-row state alignment. Drop the last {num_samples - keep} sample(s) "
            f"({what}[:{keep}]) or pad to {keep + fixed}."
        )
    return fixed
