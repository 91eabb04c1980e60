"""The compiled training path: when `fit` hands whole epochs to the module's own kernel.

The Trainer drives any `torch.nn.Module`, so it does not know which models a compiled
kernel can train. It asks the module, through an optional hook:

    module.fast_fit(optimizer, objective, x, y, batch_size) -> (runner or None, reason)

where `objective` is an `Objective`: the compiled loss resolved (a `losses.Loss`, or None
when there are several) and the compiled metrics (`CompiledMetrics`: the module may build
them, as the first batch would, to see which they are). `runner.run_epoch(order,
batch_size, on_batches)` trains one epoch in place, calls `on_batches(count)` as batches
finish, and returns the per-batch losses; with metrics, `runner.metric_values` then holds
each sample's value of each compiled metric `(samples, metrics)`, computed before each
update as the reference path computes them. Optionally, `runner.compile_note()` gives a
line to print before a first call that compiles.

Before asking, the Trainer declines what only it can see: per-batch callbacks, weighted
metrics, sample weights that are not one per sample (Keras's temporal `(samples,
timesteps)` ones), distributed or mixed-precision training. Sample weights (and
`class_weight`, which the Trainer has already made per sample) reach the runner as
`runner.sample_weights`, float32 `(samples,)` in `x`'s order, which the kernels read as
each sample's loss weight; a runner without that attribute stays on the reference path.
The choice and its reason are kept in `trainer.last_path`.

Switches to force the reference path: `compile(..., fast_path=False)` (or
`Trainer(..., fast_path=False)`), or the environment variable `UNROLLED_FAST_PATH=0`.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple

import numpy as np
import torch

from unrolled.training import losses as losses_module
from unrolled.training import metrics as metrics_module
from unrolled.training.data import ArrayData

SWITCH = "UNROLLED_FAST_PATH"


def switched_off() -> str | None:
    """Why `UNROLLED_FAST_PATH` (0, false, no, off) forces the reference path; None if it doesn't."""
    value = os.environ.get(SWITCH, "1")
    if value.strip().lower() in ("0", "false", "no", "off"):
        return f"{SWITCH}={value} forces the reference path"
    return None


class FitPath(NamedTuple):
    """Which path `fit` trains on, and why."""

    name: str  # "reference" or the module's compiled path (e.g. "compiled-epoch")
    reason: str


class Objective(NamedTuple):
    """What a compiled kernel must compute besides the model: the loss and the metrics."""

    loss: Any  # the compiled loss resolved (`losses.get`); None for several outputs' losses
    metrics: Any  # the Trainer's `CompiledMetrics` (built on the first batch, or by the hook)


def resolved_loss(loss: Any) -> Any:
    """The compiled loss spec as a `losses.Loss`; None when it is several, or not a loss."""
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None
    try:
        return losses_module.get(loss)
    except Exception:  # noqa: BLE001 - an unusual spec is simply not compiled
        return None


def compiled_hook(trainer: Any, enabled: bool | str, name: str, what: str) -> tuple[Any, str]:
    """The module's hook `name` (`fast_fit`, `fast_predict`), or None and why the Trainer
    keeps the reference path whatever the module could compile: the switches, distributed
    runs, mixed precision. `what`: the kernel's kind, for the reason."""
    if enabled is False:
        return None, "fast_path=False asks for the reference path"
    if (switch := switched_off()) is not None:
        return None, switch
    hook = getattr(trainer.module, name, None)
    if hook is None:
        return None, f"{type(trainer.module).__name__} has no compiled {what} kernel"
    if trainer._replicas is not None:
        return None, "distributed runs take the reference path"
    if trainer.precision is not None:
        return None, "mixed precision runs the reference path"
    return hook, ""


def choose(
    trainer: Any,
    train: Any,
    batch_size: int,
    callbacks: Any,
    steps_per_epoch: int | None,
    enabled: bool | str,
) -> tuple[Any, FitPath]:
    """`(runner or None, FitPath)` for this fit."""

    def reference(reason: str) -> tuple[None, FitPath]:
        return None, FitPath("reference", reason)

    hook, reason = compiled_hook(trainer, enabled, "fast_fit", "training")
    if hook is None:
        return reference(reason)
    if not isinstance(train, ArrayData) or not _arrays(train.x):
        return reference("the data is not arrays (a Dataset, a loader, or a dict of inputs)")
    if (refusal := _weights_refusal(train)) is not None:
        return reference(refusal)
    if trainer.compiled_metrics.weighted_spec:
        return reference("weighted_metrics are computed on the reference path")
    if trainer.compiled_loss.loss_weights is not None:
        return reference("loss_weights run on the reference path")
    if callbacks.wants("on_train_batch_begin") or callbacks.wants("on_train_batch_end"):
        return reference("a callback acts on every batch")
    if steps_per_epoch is not None:
        return reference("steps_per_epoch runs on the reference path")
    objective = Objective(resolved_loss(trainer.compiled_loss.loss), trainer.compiled_metrics)
    runner, reason = hook(trainer.optimizer, objective, train.x, train.y, batch_size)
    if runner is None:
        return reference(reason)
    if train.sample_weight is not None:
        if not hasattr(runner, "sample_weights"):
            return reference(
                f"{type(runner).__name__} takes no sample weights: sample or class weights "
                "run on the reference path"
            )
        runner.sample_weights = per_sample_weights(train.sample_weight)
    return runner, FitPath(getattr(runner, "path_name", "compiled"), reason)


def _arrays(x: Any) -> bool:
    """One input array, or a list of them (a model with several inputs: the hook decides)."""
    if isinstance(x, (list, tuple)):
        return bool(x) and all(isinstance(part, torch.Tensor) for part in x)
    return isinstance(x, torch.Tensor)


def _weights_refusal(train: ArrayData) -> str | None:
    """Why `sample_weight` (or `class_weight` made per sample) keeps the fit on the reference
    path; None when there are none, or one per sample on the CPU, as the kernels read them."""
    weights = train.sample_weight
    if weights is None:
        return None
    if not _one_per_sample(weights, train.num_samples):
        n = train.num_samples
        return (
            f"sample_weight of shape {tuple(weights.shape)} runs on the reference path: the "
            f"compiled kernels take one weight per sample, (samples,) = ({n},) or ({n}, 1), "
            "not one per timestep"
        )
    if weights.device.type != "cpu":
        return (
            f"sample_weight on {weights.device} runs on the reference path: the compiled "
            "kernels read them from the CPU"
        )
    return None


def _one_per_sample(weights: torch.Tensor, samples: int) -> bool:
    """`(samples,)` or `(samples, 1)`: one weight for all of a sample's loss terms."""
    return tuple(weights.shape) in ((samples,), (samples, 1))


def per_sample_weights(weights: torch.Tensor) -> np.ndarray:
    """`weights` as the kernels read them: float32 `(samples,)`, indexed by the sample's row
    in `x` (the kernel looks them up through the epoch's order, never in shuffled order)."""
    flat = weights.detach().reshape(-1).to(torch.float32)  # (samples,)
    return np.ascontiguousarray(flat.numpy())


def announce(runner: Any, verbose: int) -> None:
    """Tells the user, before the first epoch, when the runner's kernel is about to compile:
    a fit that seems to hang for tens of seconds is otherwise a mystery."""
    note = getattr(runner, "compile_note", None)
    text = note() if verbose and note is not None else None
    if text:
        print(text, file=sys.stdout, flush=True)


def run_epoch(
    trainer: Any, runner: Any, train: ArrayData, order: Any, batch_size: int, progress: Any
) -> int:
    """One epoch on the runner; fills the loss tracker and the metrics as the per-batch loop
    would."""

    def advance(count: int) -> None:
        for _ in range(count):
            progress.batch_end(None)

    try:
        losses = runner.run_epoch(order, batch_size, advance)  # (batches,)
    finally:  # an interrupted epoch keeps the metrics of the batches it trained
        values = getattr(runner, "metric_values", None)  # (samples trained, metrics)
        if values is not None and len(values):
            for column, metric in zip(values.unbind(1), trainer.compiled_metrics.all()):
                # Each metric's own sum over samples and count, as its per-batch updates make.
                metrics_module.Mean.update_state(metric, column)
    batches, n = len(losses), train.num_samples
    if bool(torch.isfinite(losses).all()):
        # One size-weighted entry per epoch: the tracker's result is the same number.
        sizes = torch.full((batches,), float(batch_size), dtype=torch.float64)
        sizes[-1] = n - (batches - 1) * batch_size
        trainer.loss_tracker.add((losses.double() * sizes).sum() / n, n)
    else:  # per batch, so that the error names the batch where the loss diverged
        for index, value in enumerate(losses.unbind()):
            trainer.loss_tracker.add(value, min(batch_size, n - index * batch_size))
    return batches
