"""Keras's `evaluate`, `predict`, `test_on_batch` and `predict_on_batch` for `Trainer`.

A mixin: `Trainer` (engine.py) owns the module, the compiled loss and metrics, their
trackers and the logs; these methods run the module without training it, and `fit`
uses `_evaluate` for its validation passes.

`predict` and `evaluate` ask the module for a compiled inference kernel, through an
optional hook as `fit` does (`fast_path.py`):

    module.fast_predict(x) -> (runner or None, reason)

`runner.predict()` returns every sample's outputs at once (float32 NumPy); the batches are
then cut from them, so batch sizes, progress, the per-batch loss and metrics (sample
weights included) are the reference path's, computed by the same objects from the same
outputs. Before asking, the Trainer declines what only it can see: callbacks that act on
each batch, `steps`, Datasets and loaders, mixed precision and distributed runs. The same
switches as `fit` force the reference path (`fast_path=False`, `UNROLLED_FAST_PATH=0`); the
choice and its reason are kept in `trainer.last_predict_path`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch

from unrolled.errors import ConfigError
from unrolled.ops import phase
from unrolled.training import data as data_module
from unrolled.training import distributed as distributed_module
from unrolled.training import fast_path as fast_path_module
from unrolled.training import stateful
from unrolled.training.callbacks import Callback, CallbackList
from unrolled.training.compile_options import BatchMean, CompiledLoss, CompiledMetrics
from unrolled.training.data import ArrayData, Batch, Placement
from unrolled.training.fit_options import DEFAULT_BATCH_SIZE, check_counts, loader_length
from unrolled.training.precision import MixedPrecision
from unrolled.training.progress import Progress, resolve_verbose


@contextmanager
def switched_mode(module: torch.nn.Module, training: bool) -> Iterator[None]:
    """`module` in train (True) or eval (False) mode inside, switched as the library's own
    (`phase.set_mode`), and back in the mode it had after."""
    was_training = module.training
    phase.set_mode(module, training)
    try:
        yield
    finally:
        phase.set_mode(module, was_training)


class PredictPath(NamedTuple):
    """Which path `predict` or `evaluate` computed the outputs on, and why."""

    name: str  # "reference" (the module's forward per batch) or the module's compiled path
    reason: str


class EvaluationMethods:
    """The calls that run the module without training it; mixed into `Trainer`."""

    # Owned by Trainer (engine.py).
    module: torch.nn.Module
    precision: MixedPrecision | None
    compiled_loss: CompiledLoss
    compiled_metrics: CompiledMetrics
    loss_tracker: BatchMean
    _replicas: distributed_module.Replicas | None
    _hooks: tuple[Callable[[], list[torch.Tensor]] | None, Callable[[], None] | None]
    _rows: Callable[[Any], int]
    _reset_trackers: Callable[[], None]
    _running_logs: Callable[[], dict[str, float]]
    _flatten: Callable[[dict[str, float]], Any]
    logs: Callable[[], dict[str, float]]
    fast_path: bool | str
    last_predict_path: PredictPath | None = None

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Iterable[Callback] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """The loss and metrics on `x, y`: `loss`, `[loss, *metrics]`, or a dict with `return_dict`."""
        verbose = resolve_verbose(verbose)
        check_counts(batch_size=batch_size, steps=steps)
        place = data_module.placement(self.module)
        if data_module.is_loader(x):
            source, batch_size = self._loader_source(x, "evaluate", batch_size)
        else:
            if y is None:
                raise ConfigError(
                    "evaluate() needs targets `y` (or a Dataset/DataLoader yielding (x, y))."
                )
            source = ArrayData.build(x, y, sample_weight, *place)
            batch_size = self._batch_size("evaluate", batch_size, source.num_samples)
        total = (
            source.num_batches(batch_size)
            if isinstance(source, ArrayData)
            else loader_length(source)
        )
        cbs = CallbackList(
            list(callbacks or []),
            self.module,
            self,
            {"verbose": verbose, "epochs": 1, "steps": total},
        )
        progress = Progress(2 if verbose else 0, total)  # one line at the end, as Keras's bar ends
        runner = self._inference_runner(source, steps, cbs, "on_test_batch")
        fast_path_module.announce(runner, verbose)
        progress.begin()
        logs = self._evaluate(source, batch_size, cbs, steps, place, runner)
        progress.end(logs, min(total, steps) if (total and steps) else (total or 0))
        return dict(sorted(logs.items())) if return_dict else self._flatten(logs)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Iterable[Callback] | None = None,
    ) -> Any:
        """The module's outputs on `x` as NumPy arrays, computed in batches without gradients.

        For a stateful module the batch size defaults to its `stateful_batch_size`, and
        another one is refused (see `stateful.check`).
        """
        verbose = resolve_verbose(verbose)
        check_counts(batch_size=batch_size, steps=steps)
        place = data_module.placement(self.module)
        if data_module.is_loader(x):
            source, batch_size = self._loader_source(x, "predict", batch_size)
            batches: Iterator[Batch] = data_module.loader_batches(source, place, None)
            total = loader_length(source)
        else:
            source = ArrayData.build(x, None, None, *place, check=False)
            batch_size = self._batch_size("predict", batch_size, source.num_samples)
            batches = source.batches(batch_size)
            total = source.num_batches(batch_size)
        cbs = CallbackList(
            list(callbacks or []),
            self.module,
            self,
            {"verbose": verbose, "epochs": 1, "steps": total},
        )
        progress = Progress(2 if verbose else 0, total)
        runner = self._inference_runner(source, steps, cbs, "on_predict_batch")
        fast_path_module.announce(runner, verbose)
        progress.begin()
        outputs: list[Any] = []
        with switched_mode(self.module, False):
            cbs.call("on_predict_begin", None)
            if runner is not None:  # every batch at once; the bar moves as the batches would
                outputs.append(runner.predict())
                for _ in range(total):
                    progress.batch_end(None)
            else:
                outputs = self._predict_batches(batches, steps, cbs, progress)
        cbs.call("on_predict_end", None)
        progress.end({}, total if runner is not None else len(outputs))
        if not outputs:
            raise ConfigError("predict() received no samples: `x` gave no batch.")
        return outputs[0] if runner is not None else data_module.concatenate(outputs)

    def _predict_batches(
        self, batches: Iterable[Batch], steps: int | None, cbs: CallbackList, progress: Progress
    ) -> list[Any]:
        """The reference path's predictions: the module's forward on each batch."""
        outputs: list[Any] = []
        with torch.no_grad():
            for step, (x_batch, _, _) in enumerate(batches):
                if steps is not None and step >= steps:
                    break
                cbs.batch("on_predict_batch_begin", step, None)
                y_pred = self._infer(x_batch)
                outputs.append(y_pred)
                cbs.batch("on_predict_batch_end", step, {"outputs": y_pred})
                progress.batch_end(None)
        return outputs

    def _inference_runner(
        self, source: Any, steps: int | None, cbs: CallbackList, batch_hooks: str
    ) -> Any:
        """The module's compiled inference runner for `source`, or None for the reference
        path; the choice and its reason go to `last_predict_path`. `batch_hooks`: the
        callback methods' prefix (`on_predict_batch`) that keeps the reference path."""
        runner, self.last_predict_path = self._choose_inference(source, steps, cbs, batch_hooks)
        return runner

    def _choose_inference(
        self, source: Any, steps: int | None, cbs: CallbackList, batch_hooks: str
    ) -> tuple[Any, PredictPath]:
        def reference(reason: str) -> tuple[None, PredictPath]:
            return None, PredictPath("reference", reason)

        hook, reason = fast_path_module.compiled_hook(
            self, self.fast_path, "fast_predict", "inference"
        )
        if hook is None:
            return reference(reason)
        if not isinstance(source, ArrayData):
            return reference("the data is a Dataset or a loader, not arrays")
        if steps is not None:
            return reference("steps runs on the reference path")
        if cbs.wants(f"{batch_hooks}_begin") or cbs.wants(f"{batch_hooks}_end"):
            return reference("a callback acts on every batch")
        runner, reason = hook(source.x)
        if runner is None:
            return reference(reason)
        return runner, PredictPath(getattr(runner, "path_name", "compiled"), reason)

    def _batch_size(self, call: str, batch_size: int | None, samples: int | None) -> int:
        """The batch size `call` runs with: a stateful module's own, else the given one or
        Keras's default (`stateful.check` refuses a size that breaks a stateful module)."""
        return stateful.check(self.module, call, batch_size, samples) or DEFAULT_BATCH_SIZE

    def _loader_source(self, x: Any, call: str, batch_size: int | None) -> tuple[Any, int]:
        """A DataLoader over Dataset or loader input `x` (in order), and its batch size."""
        batch_size = self._batch_size(call, batch_size, None)
        return data_module.loader_for(x, batch_size, False, torch.Generator()), batch_size

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Loss and metrics on one batch, without training."""
        batch = ArrayData.build(x, y, sample_weight, *data_module.placement(self.module))
        stateful.check(self.module, "test_on_batch", batch.num_samples, None)
        self._reset_trackers()
        with switched_mode(self.module, False), torch.no_grad():
            self._test_step(batch.x, batch.y, batch.sample_weight)
        logs = self.logs()
        return dict(sorted(logs.items())) if return_dict else self._flatten(logs)

    def predict_on_batch(self, x: Any) -> Any:
        """The module's outputs on one batch, as NumPy arrays."""
        batch = ArrayData.build(x, None, None, *data_module.placement(self.module), check=False)
        stateful.check(self.module, "predict_on_batch", batch.num_samples, None)
        with switched_mode(self.module, False), torch.no_grad():
            return data_module.concatenate([self._infer(batch.x)])

    def _evaluate(
        self,
        source: Any,
        batch_size: int,
        cbs: CallbackList,
        steps: int | None,
        place: Placement,
        runner: Any = None,
    ) -> dict[str, float]:
        """The loss and metrics over `source`'s batches; with `runner` (a compiled inference
        runner), each batch's outputs are cut from all of its outputs, computed at once."""
        replicas = self._replicas  # set during a distributed fit: validation is sharded too
        if isinstance(source, ArrayData):
            batches = (
                source.batches(batch_size)
                if replicas is None
                else replicas.array_batches(source, batch_size)
            )
        else:
            batches = (data_module.loader_batches if replicas is None else replicas.loader_batches)(
                source, place, None
            )
        self._reset_trackers()
        with switched_mode(self.module, False):
            cbs.call("on_test_begin", None)
            want_begin = cbs.wants("on_test_batch_begin")
            want_end = cbs.wants("on_test_batch_end")
            with torch.no_grad():
                predicted = None if runner is None else _split(runner.predict(), batch_size)
                for step, (x, y, sample_weight) in enumerate(batches):
                    if steps is not None and step >= steps:
                        break
                    if want_begin:
                        cbs.batch("on_test_batch_begin", step, None)
                    y_pred = self._infer(x) if predicted is None else next(predicted)
                    self._score(x, y, y_pred, sample_weight)
                    if want_end:
                        cbs.batch("on_test_batch_end", step, self._running_logs())
        if replicas is not None:
            replicas.reduce(self)
        logs = self.logs()
        cbs.call("on_test_end", logs)
        return logs

    def _test_step(self, x: Any, y: Any, sample_weight: torch.Tensor | None) -> None:
        self._score(x, y, self._infer(x), sample_weight)

    def _score(self, x: Any, y: Any, y_pred: Any, sample_weight: torch.Tensor | None) -> None:
        """Adds one batch's loss and metrics of outputs `y_pred` to the trackers."""
        size = self._rows(x)
        loss = self.compiled_loss(y, y_pred, sample_weight, size)
        regularization = self._hooks[0]
        if regularization is not None:
            extra = regularization()
            if extra:
                loss = loss + sum(extra)
        self.loss_tracker.add(loss, size)
        if (self.compiled_metrics.spec or self.compiled_metrics.weighted_spec) and size:
            self.compiled_metrics.update(y, y_pred, sample_weight)

    def _infer(self, x: Any) -> Any:
        precision = self.precision
        return self.module(x) if precision is None else precision.forward(self.module, x)


def _split(outputs: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]:
    """All samples' outputs `(samples, ...)` as the consecutive batches `ArrayData` cuts."""
    return iter(torch.from_numpy(outputs).split(batch_size))
