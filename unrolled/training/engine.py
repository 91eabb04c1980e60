"""`Trainer`: Keras's fit / evaluate / predict loop for any `torch.nn.Module`.

This file holds `fit` and the training step; `evaluate`, `predict` and the
inference-only batch calls are in `evaluation.py` (mixed in), the argument checks in
`fit_options.py`.

The module is called as `module(x)`: `x` is one tensor, or the list/dict of tensors
given for a multi-input model (the module unpacks it). It returns a tensor, or a
list/tuple/dict of tensors for several outputs. In a training step it is called in
training mode (`module.train()`) and inside `unrolled.ops.phase.train_step()`: Keras's
`training=True`, which layers with inference statistics (BatchNormalization) read, so that
a plain call outside `fit` stays inference.

Optional hooks, found by name on the module (a plain torch module needs none):

- `stateful_batch_size` (int or None): Keras's stateful rules are enforced (see
  `stateful.py`), and evaluate/predict default to that batch size.
- `reset_state()` (or `reset_states()`): called at each epoch start by `ResetStates()` or `reset_states="epoch"`.
- `regularization_losses()`: a list of scalar tensors added to the training loss
  (Keras reports the loss including them, and so do we).
- `apply_constraints()`: called after every optimizer step.
- `output_names`: names for several outputs, used in logs and to match dict targets.
- `stop_training`: set it to True (as Keras callbacks do) to stop after the current batch.

Example:
    >>> import numpy as np, torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    >>> trainer = Trainer(net, optimizer="sgd", loss="mse", metrics=["mae"])
    >>> x, y = np.random.rand(64, 3), np.random.rand(64, 1)
    >>> history = trainer.fit(x, y, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)
    ['loss', 'mae']
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from unrolled.errors import ConfigError, UnrolledError
from unrolled.ops import phase
from unrolled.training import data as data_module
from unrolled.training import distributed as distributed_module
from unrolled.training import fast_path as fast_path_module
from unrolled.training import metrics as metrics_module
from unrolled.training import optimizers, stateful
from unrolled.training.batch_sources import BatchSource, as_batch_source
from unrolled.training.callbacks import Callback, CallbackList, History, ResetStates, TerminateOnNaN
from unrolled.training.checkpoint import FitCheckpoint
from unrolled.training.compile_options import BatchMean, CompiledLoss, CompiledMetrics
from unrolled.training.data import ArrayData, Batch, Placement
from unrolled.training.evaluation import EvaluationMethods, switched_mode
from unrolled.training.fit_options import (
    DEFAULT_BATCH_SIZE,
    check_counts,
    check_fit_options,
    check_specs,
    legacy_epochs,
    loader_length,
    should_validate,
    stop_attribute,
)
from unrolled.training.precision import MixedPrecision
from unrolled.training.progress import Progress, resolve_verbose


class NonFiniteLossError(UnrolledError, FloatingPointError):
    """The training loss became NaN or infinite."""


class Trainer(EvaluationMethods):
    """Trains `module` with a Keras optimizer, loss and metrics.

    Args:
        module: any `torch.nn.Module`.
        optimizer: a Keras name (`"adam"`), an `unrolled.optimizers` object, a Keras
            optimizer object, or a `torch.optim.Optimizer` (used as it is). Built over
            `module.parameters()` when training starts, after the first forward pass if
            the module has no parameters yet (layers built on first call).
        loss: a Keras loss name, object or function; a list/dict for several outputs.
        metrics: metric names/objects/functions; a list per output or a dict for several.
        loss_weights: a float, or a list/dict for several outputs.
        weighted_metrics: metrics that also receive `sample_weight`/`class_weight`.
        mixed_precision: None (float32), `"bfloat16"` or `"float16"` (also Keras's
            `"mixed_bfloat16"`/`"mixed_float16"`): forward passes under `torch.autocast`,
            float32 weights and outputs, a GradScaler for float16 on CUDA (`precision.py`).
        fast_path: `"auto"` lets `fit` train whole epochs on the module's compiled kernel
            when it offers one (`module.fast_fit`, see `fast_path.py`); False forces the
            reference path. `trainer.last_path` says which path the last fit took, and why.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        mixed_precision: Any = None,
        fast_path: bool | str = "auto",
    ) -> None:
        if not isinstance(module, torch.nn.Module):
            raise ConfigError(f"Trainer needs a torch.nn.Module. Received: {type(module).__name__}")
        self.module = module
        if isinstance(optimizer, torch.optim.Optimizer):
            self._optimizer: torch.optim.Optimizer | None = optimizer
            self._optimizer_spec: Any = None
        else:
            self._optimizer = None
            self._optimizer_spec = (
                optimizer
                if optimizers._is_torch_class(optimizer)
                else optimizers.resolve(optimizer)
            )
        check_specs(loss, metrics, weighted_metrics)
        names = getattr(module, "output_names", None)
        self.compiled_loss = CompiledLoss(loss, loss_weights, names)
        self.compiled_metrics = CompiledMetrics(metrics, weighted_metrics, names)
        self.loss_tracker = BatchMean("loss")
        self.stop_training = False
        self.history: History | None = None
        self._hook_cache: tuple[Any, Any] = (None, (None, None))
        self.precision = MixedPrecision.resolve(mixed_precision)
        # "auto": fit trains on the module's compiled kernel where it has one (fast_path.py).
        self.fast_path = fast_path
        self.last_path: fast_path_module.FitPath | None = None
        # The process group during a distributed fit (distributed.py), else None.
        self._replicas: distributed_module.Replicas | None = None

    # ---- public API -----------------------------------------------------------------

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The torch optimizer, built over the module's parameters on first use."""
        if self._optimizer is None:
            parameters = [p for p in self.module.parameters() if p.requires_grad]
            if not parameters:
                raise ConfigError(
                    f"{type(self.module).__name__} has no trainable parameters yet; call it on a batch "
                    "(or build it) before creating the optimizer."
                )
            spec = self._optimizer_spec
            self._optimizer = (
                spec(parameters) if optimizers._is_torch_class(spec) else spec.build(parameters)
            )
        return self._optimizer

    def metric_objects(self) -> list[metrics_module.Metric]:
        """The compiled metric objects (built on the first batch)."""
        return self.compiled_metrics.all()

    def metric_direction(self, log_name: str) -> str | None:
        """`"up"`/`"down"` for the metric logged as `log_name` (e.g. `"acc"`, `"price_mae"`)."""
        for name, metric in zip(self.compiled_metrics.names, self.compiled_metrics.all()):
            if name == log_name:
                return metric.direction
        return None

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Iterable[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool | str = True,
        class_weight: dict[Any, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | list[int] = 1,
        checkpoint: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        reset_states: str | None = None,
        terminate_on_nan: bool = True,
        distributed: bool | str = "auto",
        **legacy: Any,
    ) -> History:
        """Trains for `epochs` epochs; returns the `History` (`history.history["loss"]`, ...).

        Keras's arguments and meaning, plus:
            seed: seeds the shuffling (a torch.Generator); by default it is drawn from
                torch's global generator, so `torch.manual_seed` makes runs repeatable.
            reset_states: `"epoch"` resets the module's states before every epoch.
            checkpoint: a directory. After every epoch the full training state (weights,
                optimizer, random generators, shuffling, epoch, history) is written there
                atomically; a later fit with the same directory resumes from it, so a run
                killed at any moment ends with the same weights as one never stopped
                (see `checkpoint.py`). Delete the directory to start over.
            terminate_on_nan: raise NonFiniteLossError, naming the epoch and batch, when
                the loss becomes NaN/inf (checked at each epoch end, without a per-batch
                device sync). With a `TerminateOnNaN` callback training stops quietly instead.
            distributed: `"auto"` trains data-parallel over the processes of a torchrun
                launch (or an initialized process group), `True` requires one, `False`
                trains this process alone. `batch_size` is then the global batch, split
                over the processes; see `distributed.py`.
            nb_epoch: Keras 1 spelling of `epochs` (DeprecationWarning).

        Raises:
            ConfigError, ShapeError: bad arguments or data (x/y lengths, NaN in data,
                stateful batch rules). NonFiniteLossError: the loss diverged.
        """
        epochs = legacy_epochs(epochs, legacy)
        verbose = resolve_verbose(verbose)
        x = as_batch_source(x, steps_per_epoch)
        validation_data = as_batch_source(validation_data, validation_steps, "validation_data")
        # Keras reorders a PyDataset's batches each epoch; a generator's come as it makes them.
        shuffle_batches, shuffle = (
            (bool(shuffle) and x.indexed, False) if isinstance(x, BatchSource) else (False, shuffle)
        )
        check_counts(
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_batch_size=validation_batch_size,
        )
        check_fit_options(validation_split, reset_states, shuffle)
        replicas = distributed_module.setup(self.module, distributed)
        place = data_module.placement(self.module)  # after setup: it may pick this process's GPU
        seed = int(seed) if seed is not None else int(torch.randint(0, 2**62, ()).item())
        if replicas is not None:
            seed = replicas.common_seed(seed)  # every process shuffles alike
            verbose = verbose if replicas.primary else 0
        generator = torch.Generator()
        generator.manual_seed(seed)
        if shuffle_batches:
            x.shuffle_with = generator

        if data_module.is_loader(x):
            if y is not None or sample_weight is not None:
                raise ConfigError(
                    "With a Dataset or DataLoader `x`, pass y and sample_weight inside it, not as arguments."
                )
            if validation_split:
                raise ConfigError(
                    "`validation_split` needs arrays; pass `validation_data` with a DataLoader."
                )
            batch_size = stateful.check(self.module, "fit", batch_size, None, shuffle)
            make_loader = data_module.loader_for if replicas is None else replicas.loader
            train: Any = make_loader(x, batch_size or DEFAULT_BATCH_SIZE, shuffle, generator)
            val = None
        else:
            if y is None:
                raise ConfigError(
                    "fit() needs targets `y` (or a Dataset/DataLoader yielding (x, y))."
                )
            if class_weight is not None and sample_weight is not None:
                raise ConfigError(
                    "Arguments `sample_weight` and `class_weight` cannot be given together."
                )
            train = ArrayData.build(x, y, sample_weight, *place)
            if class_weight is not None:
                train.sample_weight = data_module.class_weight_to_sample_weight(
                    train.y, class_weight
                )
                class_weight = None
            val = None
            if validation_split and validation_data is None:
                train, val = train.split(validation_split)
            batch_size = stateful.check(self.module, "fit", batch_size, train.num_samples, shuffle)
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        if validation_data is not None:
            val = self._validation(validation_data, place)
        val_batch_size = validation_batch_size or batch_size
        if replicas is not None and val is not None and not isinstance(val, ArrayData):
            val = replicas.loader(val, val_batch_size, False, torch.Generator())
        if isinstance(val, ArrayData):
            val_batch_size = (
                stateful.check(
                    self.module, "fit", val_batch_size, val.num_samples, what="validation data"
                )
                or val_batch_size
            )

        steps = (
            train.num_batches(batch_size) if isinstance(train, ArrayData) else loader_length(train)
        )
        if steps_per_epoch is not None and steps is not None:
            steps = min(steps, steps_per_epoch)
        user_callbacks = list(callbacks or [])
        val_runner: Any = None  # the inference kernel for the validation passes, or False
        history = next((c for c in user_callbacks if isinstance(c, History)), None) or History()
        extra: list[Callback] = [ResetStates()] if reset_states == "epoch" else []
        all_callbacks = extra + [c for c in user_callbacks if c is not history] + [history]
        cbs = (CallbackList if replicas is None else replicas.callbacks)(
            all_callbacks, self.module, self, {"verbose": verbose, "epochs": epochs, "steps": steps}
        )
        check_nan = terminate_on_nan and not any(
            isinstance(c, TerminateOnNaN) for c in all_callbacks
        )
        if self._optimizer is None and any(True for _ in self.module.parameters()):
            self.optimizer  # noqa: B018  (built now so callbacks can read it from the first epoch)
        keeper, resumed = None, None
        if checkpoint is not None:
            samples = train.num_samples if isinstance(train, ArrayData) else loader_length(train)
            keeper = FitCheckpoint(
                checkpoint,
                {
                    "samples": samples,
                    "batch_size": batch_size,
                    "shuffle": shuffle,
                    "steps_per_epoch": steps_per_epoch,
                },
            )
            if keeper.exists():
                resumed = keeper.restore(self.module, self._optimizer, generator)
                initial_epoch = (
                    epochs if resumed["stopped"] else max(initial_epoch, resumed["epoch"] + 1)
                )

        self.history = history
        if replicas is not None:
            # Before the path is chosen (distributed training takes the reference path) and
            # after a checkpoint is restored (DDP then shares rank 0's restored weights).
            replicas.start(batch_size)
            self._replicas = replicas
        runner, self.last_path = fast_path_module.choose(
            self, train, batch_size, cbs, steps_per_epoch, self.fast_path
        )
        fast_path_module.announce(runner, verbose)
        self._reset_stop()
        was_training = self.module.training
        epoch_logs: dict[str, Any] = {}
        try:
            cbs.call("on_train_begin", None)
            if resumed is not None:
                FitCheckpoint.restore_history(history, resumed)
            for epoch in range(initial_epoch, epochs):
                self._reset_trackers()
                cbs.call("on_epoch_begin", epoch, None)
                progress = Progress(verbose, steps)
                progress.epoch_begin(epoch, epochs)
                phase.set_mode(self.module, True)
                if isinstance(train, ArrayData):
                    order = data_module.epoch_order(
                        train.num_samples, batch_size, shuffle, generator
                    )
                    batches: Iterator[Batch] = (
                        train.batches(batch_size, order)
                        if replicas is None
                        else replicas.array_batches(train, batch_size, order)
                    )
                else:
                    batches = (
                        data_module.loader_batches if replicas is None else replicas.loader_batches
                    )(train, place, class_weight)
                if runner is not None:
                    done = fast_path_module.run_epoch(
                        self, runner, train, order, batch_size, progress
                    )
                else:
                    done = self._train_epoch(batches, cbs, progress, steps_per_epoch)
                if done == 0 and isinstance(train, BatchSource) and train.exhausted:
                    warnings.warn(
                        "Your input ran out of data; interrupting training. Make sure that your "
                        "generator can generate at least `steps_per_epoch * epochs` batches.",
                        stacklevel=2,
                    )
                    break
                if replicas is not None:
                    replicas.reduce(self)  # global logs: every process decides alike
                if check_nan:
                    self._raise_if_nonfinite(epoch, epochs)
                epoch_logs = self.logs()
                if val is not None and should_validate(epoch, validation_freq):
                    if val_runner is None:  # chosen once; it reads the weights at each call
                        val_runner, _ = self._choose_inference(
                            val, validation_steps, cbs, "on_test_batch"
                        )
                        val_runner = val_runner or False
                    val_logs = self._evaluate(
                        val, val_batch_size, cbs, validation_steps, place, val_runner or None
                    )
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                epoch_logs = dict(sorted(epoch_logs.items()))  # Keras sorts the keys of logs
                cbs.call("on_epoch_end", epoch, epoch_logs)
                progress.end(epoch_logs, done)
                if keeper is not None:
                    keeper.save(
                        self.module,
                        self._optimizer,
                        generator,
                        epoch,
                        history,
                        self._stop_requested(),
                    )
                stop = self._stop_requested()
                if replicas is not None:
                    stop = replicas.agree(stop)
                if stop:
                    break
            if replicas is not None:
                replicas.finish()
        finally:
            phase.set_mode(self.module, was_training)
            if replicas is not None:
                self._replicas = None
                replicas.close()
        cbs.call("on_train_end", epoch_logs)
        return history

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict[Any, float] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on one batch; returns its loss (and metrics) like `evaluate`."""
        if class_weight is not None and sample_weight is not None:
            raise ConfigError(
                "Arguments `sample_weight` and `class_weight` cannot be given together."
            )
        batch = ArrayData.build(x, y, sample_weight, *data_module.placement(self.module))
        if class_weight is not None:
            batch.sample_weight = data_module.class_weight_to_sample_weight(batch.y, class_weight)
        stateful.check(self.module, "train_on_batch", batch.num_samples, None)
        self._reset_trackers()
        with switched_mode(self.module, True):
            self._train_step(batch.x, batch.y, batch.sample_weight)
        logs = self.logs()
        return dict(sorted(logs.items())) if return_dict else self._flatten(logs)

    def logs(self) -> dict[str, float]:
        """The current logs in Keras's metric order: `loss`, the metrics, each output's loss.

        (`evaluate()` returns them in this order as a list; the dicts handed to callbacks
        and returned with `return_dict=True` have their keys sorted, as in Keras.)
        """
        logs = {"loss": self.loss_tracker.result()}
        if self.compiled_metrics.outputs is not None:
            logs.update(self.compiled_metrics.results())
        for tracker in self.compiled_loss.trackers:
            logs[tracker.name] = tracker.result()
        return logs

    # ---- loops -------------------------------------------------------------------------

    def _train_epoch(
        self,
        batches: Iterator[Batch],
        cbs: CallbackList,
        progress: Progress,
        steps_per_epoch: int | None,
    ) -> int:
        want_begin = cbs.wants("on_train_batch_begin")
        want_end = cbs.wants("on_train_batch_end")
        running = self._running_logs if progress.verbose == 1 else None
        stop_attr = stop_attribute(self.module)
        # Over several processes, a stop a batch callback asks for on one is agreed by all.
        replicas = self._replicas
        agree = replicas.agree if replicas is not None and replicas.batch_stops else None
        step = 0
        for x, y, sample_weight in batches:
            if want_begin:
                cbs.batch("on_train_batch_begin", step, None)
            self._train_step(x, y, sample_weight)
            if want_end:
                cbs.batch("on_train_batch_end", step, self._running_logs())
            progress.batch_end(running)
            step += 1
            stop = self.stop_training or stop_attr()
            if agree is not None:
                stop = agree(stop)
            if stop:
                self.stop_training = True
                break
            if steps_per_epoch is not None and step >= steps_per_epoch:
                break
        return step

    def _train_step(self, x: Any, y: Any, sample_weight: torch.Tensor | None) -> None:
        replicas, precision = self._replicas, self.precision
        forward = self.module if replicas is None else replicas.ddp
        with phase.train_step():  # Keras's training=True, for layers that read it
            y_pred = forward(x) if precision is None else precision.forward(forward, x)
        # Over several processes: this process's real rows (0 for a weight-0 stand-in row).
        size = self._rows(x)
        loss = data_loss = self.compiled_loss(y, y_pred, sample_weight, size)
        regularization, constrain = self._hooks
        if regularization is not None:
            extra = regularization()
            if extra:
                loss = loss + sum(extra)
        objective = loss if replicas is None else replicas.objective(data_loss, loss)
        optimizer = self._optimizer if self._optimizer is not None else self.optimizer
        optimizer.zero_grad(set_to_none=True)
        if precision is None:
            objective.backward()
            optimizer.step()
        else:
            precision.step(objective, optimizer)
        if constrain is not None:
            constrain()
        self.loss_tracker.add(loss, size)
        if (self.compiled_metrics.spec or self.compiled_metrics.weighted_spec) and size:
            self.compiled_metrics.update(y, y_pred, sample_weight)

    def _rows(self, x: Any) -> int:
        if self._replicas is not None:
            return self._replicas.rows
        return x.shape[0] if isinstance(x, torch.Tensor) else data_module.batch_size_of(x)

    # ---- helpers -----------------------------------------------------------------------

    @property
    def _hooks(self) -> tuple[Callable[[], list[torch.Tensor]] | None, Callable[[], None] | None]:
        # Looked up once per module: nn.Module.__getattr__ raises on a missing name, which
        # costs microseconds on every batch.
        if self._hook_cache[0] is not self.module:
            self._hook_cache = (
                self.module,
                (
                    getattr(self.module, "regularization_losses", None),
                    getattr(self.module, "apply_constraints", None),
                ),
            )
        return self._hook_cache[1]

    def _running_logs(self) -> dict[str, float]:
        logs = {"loss": self.loss_tracker.running()}
        if self.compiled_metrics.outputs is not None:
            logs.update(self.compiled_metrics.results())
        for tracker in self.compiled_loss.trackers:
            logs[tracker.name] = tracker.running()
        return dict(sorted(logs.items()))

    def _reset_trackers(self) -> None:
        self.loss_tracker.reset()
        self.compiled_metrics.reset()
        for tracker in self.compiled_loss.trackers:
            tracker.reset()

    def _raise_if_nonfinite(self, epoch: int, epochs: int) -> None:
        bad = self.loss_tracker.first_nonfinite()
        if bad is None:
            return
        value = float(self.loss_tracker.values[bad])
        raise NonFiniteLossError(
            f"The training loss became {value} at epoch {epoch + 1}/{epochs}, batch {bad + 1} "
            f"(of {len(self.loss_tracker.values)} this epoch). Usual causes: a learning rate too high, "
            "exploding gradients (try clipnorm=1.0 on the optimizer), or a log/division of zero in a "
            "custom loss. Pass terminate_on_nan=False to keep training, or use the TerminateOnNaN "
            "callback to stop quietly."
        )

    def _flatten(self, logs: dict[str, float]) -> Any:
        # Keras's `_flatten_metrics_in_order`: loss, the metrics of a single output, each
        # output's loss, then any other key sorted (so several outputs' metrics come last).
        first = ["loss"]
        if self.compiled_metrics.outputs is not None and self.compiled_metrics.outputs.count == 1:
            first += self.compiled_metrics.names
        first += [tracker.name for tracker in self.compiled_loss.trackers]
        order = [k for k in first if k in logs] + sorted(k for k in logs if k not in first)
        values = [logs[k] for k in order]
        return values[0] if len(values) == 1 else values

    def _reset_stop(self) -> None:
        self.stop_training = False
        if "stop_training" in vars(self.module) or hasattr(type(self.module), "stop_training"):
            self.module.stop_training = False

    def _stop_requested(self) -> bool:
        return self.stop_training or bool(stop_attribute(self.module)())

    def _validation(self, validation_data: Any, place: Placement) -> Any:
        if data_module.is_loader(validation_data):
            return data_module.loader_for(
                validation_data, DEFAULT_BATCH_SIZE, False, torch.Generator()
            )
        if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
            val_x, val_y, *rest = validation_data
            names = ("validation_data[0]", "validation_data[1]", "validation_data[2]")
            return ArrayData.build(val_x, val_y, rest[0] if rest else None, *place, names=names)
        raise ConfigError(
            "`validation_data` must be (x_val, y_val), (x_val, y_val, sample_weight_val) or a "
            f"Dataset/DataLoader. Received: {type(validation_data).__name__}"
        )
