"""Whether the fit kernels' head (`head_kernel.py`) takes a fit's loss, metrics and targets.

`plan_head(dense, objective, y)` reads the compiled loss (a Keras loss function or class
with its options, each within its table in `allow_lists.LOSS_OPTIONS`), the compiled
metrics (`allow_lists.METRIC_OPTIONS`, built as the reference path builds them from the
first batch) and the targets, and returns a `Head` (the kernels' arrays) or the reason it
declines, naming the loss, the metric or the option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unrolled.compiled import codes
from unrolled.compiled.allow_lists import (
    FIT_LOSSES,
    FIT_METRICS,
    HEAD_ACTIVATIONS,
    LOSS_CLASSES,
    LOSS_OPTIONS,
    METRIC_OPTIONS,
    config_of,
    declined,
)
from unrolled.layers.core import Dense
from unrolled.training import losses


@dataclass(frozen=True)
class Head:
    """The head's arguments to the kernels, the targets as they read them, and its words."""

    codes: np.ndarray  # (4,) int64, codes.HEAD_*
    delta: np.float32  # Huber's
    metrics: np.ndarray  # (M,) int64, codes.METRIC_*
    thresholds: np.ndarray  # (M,) float32, binary accuracy's
    y: np.ndarray  # (samples, outputs) float32, or (samples, 1) class ids for the sparse loss
    words: str  # e.g. "binary_crossentropy, metrics accuracy"


def _loss(objective: Any) -> tuple[Any, str | None]:
    """The compiled loss resolved (`losses.get`), or why it is not one the kernels take."""
    loss = getattr(objective, "loss", objective)  # a fast_path.Objective, or a loss spec
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None, f"the kernel trains one loss ({FIT_LOSSES})"
    try:
        resolved = losses.get(loss)
    except Exception:  # noqa: BLE001 - an unusual spec is simply not compiled
        return None, f"loss {loss!r}: the kernel implements {FIT_LOSSES}"
    if type(resolved) not in LOSS_CLASSES or getattr(resolved, "fn", None) not in LOSS_OPTIONS:
        name = getattr(resolved, "name", type(resolved).__name__)
        return None, f"loss {name}: the kernel implements {FIT_LOSSES}"
    return resolved, None


def plan_head(
    dense: Dense, objective: Any, y: Any, steps: int | None = None
) -> tuple[Head | None, str]:
    """`(Head, words)` for training `dense`'s outputs on `objective` (`fast_path.Objective`,
    or a loss spec) against targets `y`, or `(None, reason)`. With `steps`, the head runs on
    every one of that many steps: `y` holds each step's targets, and `Head.y` has a row per
    sample and step."""
    loss, reason = _loss(objective)
    if reason is not None:
        return None, reason
    code, table = LOSS_OPTIONS[loss.fn]
    reason = declined(f"loss {loss.name}", loss.get_config(), table)
    if reason is not None:
        return None, reason
    activation = config_of(dense)["activation"]  # the Dense table took it
    outputs = dense.units
    sparse = code == codes.LOSS_SPARSE_CCE
    targets, reason = _targets(y, outputs, sparse, steps)
    if targets is None:
        return None, reason
    compiled = getattr(objective, "metrics", None)
    metric_codes, thresholds, names = [], [], []
    if compiled is not None and compiled.spec:
        if compiled.outputs is None:  # as the reference path builds them, from a first batch
            compiled.build(
                y[:1], torch.zeros((1, outputs) if steps is None else (1, steps, outputs))
            )
        for metric in compiled.all():
            entry = METRIC_OPTIONS.get(type(metric))
            if entry is None:
                return None, (
                    f"metric {metric.name} ({type(metric).__name__}): the kernel computes "
                    f"{FIT_METRICS}"
                )
            reason = declined(f"metric {metric.name}", metric.get_config(), entry[1])
            if reason is not None:
                return None, reason
            if (entry[0] == codes.METRIC_SPARSE_ACCURACY) != sparse:
                return None, (
                    f"metric {metric.name}: the kernel computes it on "
                    f"{'values' if sparse else 'class ids'} only, and y holds "
                    f"{'class ids' if sparse else 'values'}"
                )
            metric_codes.append(entry[0])
            thresholds.append(metric.get_config().get("threshold", 0.5))
            names.append(metric.name)
    head = np.zeros(4, np.int64)
    head[codes.HEAD_LOSS], head[codes.HEAD_ACTIVATION] = code, HEAD_ACTIVATIONS[activation]
    head[codes.HEAD_FROM_LOGITS] = int(bool(loss.fn_kwargs.get("from_logits", False)))
    head[codes.HEAD_OUTPUTS] = outputs
    words = "MSE" if code == codes.LOSS_MSE else loss.fn.__name__
    if head[codes.HEAD_FROM_LOGITS]:
        words += " (from logits)"
    if names:
        words += f", metrics {', '.join(names)}"
    return Head(
        codes=head,
        delta=np.float32(loss.fn_kwargs.get("delta", 1.0)),
        metrics=np.array(metric_codes, np.int64),
        thresholds=np.array(thresholds, np.float32),
        y=targets,
        words=words,
    ), words


def _targets(
    y: Any, outputs: int, sparse: bool, steps: int | None
) -> tuple[np.ndarray | None, str]:
    """`y` as the kernels read it, or why not: `(samples, outputs)` values, or for the sparse
    loss `(samples,)` or `(samples, 1)` class ids in `0..outputs-1`; with `steps`, the same
    for each step (`(samples, steps, ...)`), a row per sample and step."""
    if not isinstance(y, torch.Tensor) or y.device.type != "cpu" or y.dim() == 0:
        return None, "y is not one array on the CPU"
    samples = y.shape[0]
    lead = (samples,) if steps is None else (samples, steps)
    rows = samples if steps is None else samples * steps
    values = y.detach().numpy()
    if sparse:
        if tuple(y.shape) not in (lead, (*lead, 1)):
            shown = "(samples,)" if steps is None else "(samples, timesteps)"
            return None, f"y is not {shown} class ids, as the sparse loss takes them"
        ids = values.reshape(rows, 1)
        if not ((ids >= 0) & (ids < outputs) & (ids == np.floor(ids))).all():
            return None, f"y holds values that are not class ids 0..{outputs - 1}"
        return np.ascontiguousarray(ids, np.float32), ""
    if outputs == 1 and tuple(y.shape) == lead:
        values = values.reshape(*lead, 1)
    if values.shape != (*lead, outputs):
        shown = f"(samples, {outputs})" if steps is None else f"(samples, {steps}, {outputs})"
        return None, f"y is not {shown}, the model's output shape"
    return np.ascontiguousarray(values.reshape(rows, outputs), np.float32), ""
