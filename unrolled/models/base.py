"""`ModelBase`: the Keras model methods that `Sequential` and the functional `Model` share.

Layers by name, states, compile, fit, predict, summary and saving live here once. Training
itself lives in `unrolled.training`, which drives any `torch.nn.Module`; these methods hand
it the model and keep Keras's signatures. Subclasses provide `layers`, `input_shape`,
`build`, `forward` and `get_config`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from unrolled import files
from unrolled.compiled.fit_plan import plan_fit
from unrolled.compiled.predict_plan import plan_predict
from unrolled.errors import ConfigError
from unrolled.explain.summary import summary_text
from unrolled.layers.base import Layer
from unrolled.models.generator_methods import GeneratorMethods
from unrolled.models.inputs import build_from_data, check_input_shape
from unrolled.models.model_files import checked_path
from unrolled.saving import archive, serialization, weights
from unrolled.training import checkpoint
from unrolled.training.batch_sources import BatchSource, as_batch_source
from unrolled.training.callbacks import Callback, History
from unrolled.training.data import unpack_batch
from unrolled.training.engine import Trainer
from unrolled.training.fast_path import Objective


class ModelBase(GeneratorMethods, Layer):
    """A layer that is a whole model: trained, saved and explained by the methods below."""

    _trainer: Trainer | None = None
    history: Any = None
    _last_predict_path: Any = None
    _compile_args: dict[str, Any] | None = None
    # The layers were a ModuleList `_layers` up to 0.1.0: files and state dicts of that time
    # name them `_layers.0.cell.kernel`, loaded as `0.cell.kernel` (see `state_names`).
    legacy_state_prefix = "_layers."

    # -- structure ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Nothing beside the layers: `print(model)` is the tree of layers, as in torch."""
        return ""

    def _load_from_state_dict(  # type: ignore[no-untyped-def]
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        # `load_state_dict` of an old state dict: its `_layers.` names become today's before
        # this model and its layers (loaded after it, from the same dictionary) read them.
        old = prefix + self.legacy_state_prefix
        for name in [name for name in state_dict if name.startswith(old)]:
            state_dict[prefix + name[len(old) :]] = state_dict.pop(name)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    @property
    def layers(self) -> list[Any]:
        raise NotImplementedError

    @property
    def input_shape(self) -> Any:
        raise NotImplementedError

    def get_layer(self, name: str | None = None, index: int | None = None) -> Any:
        """A layer by name or by index in `layers`."""
        if index is not None:
            try:
                return self.layers[index]
            except IndexError:
                raise ConfigError(
                    f"{self.name} has {len(self.layers)} layers; received index={index}."
                ) from None
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = ", ".join(layer.name for layer in self.layers)
        raise ConfigError(f"No layer named {name!r} in {self.name}. Layers: {names}.")

    # -- states ---------------------------------------------------------------------------------
    def _stateful_layers(self) -> list[Any]:
        return [
            m
            for m in self.modules()
            if m is not self and getattr(m, "stateful", False) and hasattr(m, "reset_states")
        ]

    def reset_state(self, batch_size: int | None = None) -> None:
        """Zeros every stateful layer's states; with `batch_size`, starts them over at that size.

        `reset_state(batch_size=1)` is the explicit way to run a model trained statefully at
        batch size 32 on one sequence at a time (Keras needs a second model for that).
        """
        for layer in self._stateful_layers():
            layer.reset_states(batch_size) if batch_size is not None else layer.reset_states()

    def reset_states(self, batch_size: int | None = None) -> None:
        """Keras 2's name for `reset_state()` (Keras 3 models have no such method)."""
        warnings.warn(
            "model.reset_states() is Keras 2; Keras 3 models have none (Keras 3 code calls "
            "layer.reset_state() on each stateful layer). unrolled's model.reset_state() does that in one call.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.reset_state(batch_size)

    def get_states(self) -> dict[str, list[np.ndarray]]:
        """Each stateful layer's states by layer name."""
        return {layer.name: layer.get_states() for layer in self._stateful_layers()}

    def set_states(self, states: dict[str, Any]) -> None:
        """Sets stateful layers' states from `get_states()`'s dictionary."""
        by_name = {layer.name: layer for layer in self._stateful_layers()}
        unknown = set(states) - set(by_name)
        if unknown:
            raise ConfigError(
                f"No stateful layer named {sorted(unknown)}; stateful layers: {sorted(by_name)}."
            )
        for name, values in states.items():
            by_name[name].set_states(values)

    @property
    def stateful_batch_size(self) -> int | None:
        """The batch size the stateful layers are fixed at, or None when there are none."""
        for layer in self._stateful_layers():
            names = getattr(layer, "_state_names", [])
            if names:
                return int(getattr(layer, names[0]).shape[0])
            batch_shape = getattr(layer, "batch_shape", None)
            if batch_shape and batch_shape[0] is not None:
                return int(batch_shape[0])
        return None

    # -- compile and train ------------------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: float | Sequence[float] | Mapping[str, float] | None = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | str = "auto",
        auto_scale_loss: bool = True,
        mixed_precision: Any = None,
        fast_path: bool | str = "auto",
    ) -> None:
        """Sets the optimizer, loss and metrics by Keras name or object, in Keras 3's order.

        Args:
            optimizer: a Keras name (`"adam"`; Keras's default `"rmsprop"`), an
                `unrolled.optimizers` or Keras optimizer object, or a `torch.optim.Optimizer`.
            loss: a Keras loss name, object or function; a list or dict for several outputs.
            loss_weights: a float, or a list/dict of them for several outputs.
            metrics, weighted_metrics: metric names, objects or functions (the weighted ones
                also receive `sample_weight`/`class_weight`).
            run_eagerly: True trains on the reference path (`fast_path=False`), where every
                step is the model's own PyTorch code: breakpoints and prints in it run.
            steps_per_execution, jit_compile, auto_scale_loss: accepted for Keras code; they
                change nothing (see Keras differences).
            mixed_precision: None, `"bfloat16"` or `"float16"` (`training/precision.py`).
            fast_path: `"auto"` lets `fit` train whole epochs on the model's compiled kernel
                where it has one; False forces the reference path. `last_fit_path` says which.

        Raises:
            ConfigError: an unknown optimizer, loss or metric name; `loss_weights` holding
                metric names (Keras 2's order was `compile(optimizer, loss, metrics)`).

        Keras differences: PyTorch runs eagerly and `fast_path` picks compiled training, so
        `jit_compile` and `steps_per_execution` have nothing to switch; a float16 policy
        scales the loss on CUDA whatever `auto_scale_loss` says.

        Example:
            >>> model = Sequential([Input((5, 2)), LSTM(4), Dense(1)])
            >>> model.compile("adam", "mse", metrics=["mae"])
            >>> model.get_compile_config()["metrics"]
            ['mae']
        """
        loss_weights, metrics = _keras2_metrics(loss_weights, metrics)
        self._compile_args = {
            "optimizer": optimizer,
            "loss": loss,
            "metrics": metrics,
            "loss_weights": loss_weights,
        }
        # Only what differs from the defaults, so saved compile configs read as before.
        if weighted_metrics is not None:
            self._compile_args["weighted_metrics"] = weighted_metrics
        if mixed_precision is not None:
            self._compile_args["mixed_precision"] = mixed_precision
        if run_eagerly or not (isinstance(fast_path, str) and fast_path == "auto"):
            self._compile_args["fast_path"] = False if run_eagerly else fast_path
        self._trainer = None
        if getattr(self, "built", False):
            self._make_trainer()

    def _make_trainer(self) -> Trainer:
        if self._compile_args is None:
            raise ConfigError(
                f"{self.name} is not compiled: call model.compile(optimizer='adam', loss='mse') before fit/evaluate."
            )
        self._trainer = Trainer(self, **self._compile_args)
        return self._trainer

    def _trainer_for(self, x: Any) -> Trainer:
        if not getattr(self, "built", False):
            self._build_from_data(x)
        trainer = self._trainer or self._make_trainer()
        self._check_x(x)
        return trainer

    def _check_x(self, x: Any) -> None:
        """Refuses an array `x` of the wrong shape before batching, so the message shows x's
        own shape (100, 3), not a batch's (32, 3)."""
        expected = self.input_shape
        shape = getattr(x, "shape", None)
        if not isinstance(expected, tuple) or shape is None or not expected:
            return  # several inputs, a DataLoader, or a nested list: checked per batch
        if all(d is None or isinstance(d, int) for d in expected):
            check_input_shape(self.name, expected, tuple(shape))

    def _build_from_data(self, x: Any) -> None:
        # Only a Sequential without an input shape gets here: it builds from the first array
        # (a generator's first batch, which training still gets).
        if isinstance(x, BatchSource):
            x = unpack_batch(x.first_batch())[0]
        build_from_data(self, tuple(getattr(x, "shape", None) or np.shape(x)))

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
        """Trains the model on `x`, `y`; returns the `History` (`history.history["loss"]`).

        Keras 3's arguments in Keras's order, so `fit(x, y, 32, 2)` is batch size 32 for
        two epochs. After them, ours: `checkpoint` (a directory to resume from),
        `seed` (of the shuffling), `reset_states="epoch"`, `terminate_on_nan` and
        `distributed`, and Keras 1's `nb_epoch`; see `unrolled.training.Trainer.fit`.

        Example:
            >>> model = Sequential([Input((5, 2)), LSTM(4), Dense(1)])
            >>> model.compile("adam", "mse")
            >>> history = model.fit(np.zeros((64, 5, 2)), np.zeros((64, 1)), 32, 2, verbose=0)
            >>> history.epoch
            [0, 1]
        """
        x = as_batch_source(x, steps_per_epoch)  # a generator or PyDataset, as Keras 3 takes
        options = _arguments(locals())
        self.history = self._trainer_for(x).fit(**options, **legacy)
        return self.history

    @property
    def last_fit_path(self) -> Any:
        """How the last `fit` trained (`"compiled-epoch"` or `"reference"`) and why; None before."""
        return None if self._trainer is None else self._trainer.last_path

    def fast_fit(
        self, optimizer: Any, objective: Objective, x: Any, y: Any, batch_size: int
    ) -> tuple[Any, str]:
        """The Trainer's hook for compiled training (`training/fast_path.py`): a runner of
        whole epochs, or None and the reason the model stays on the reference path."""
        return plan_fit(self, optimizer, objective, x, y, batch_size)

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
        """The loss (and metrics) on `x`, `y`: `loss`, `[loss, *metrics]`, or a dict with
        `return_dict=True`, as Keras returns them. Keras 3's arguments in Keras's order;
        `x` may be a generator or PyDataset of `(x, y[, sample_weight])` batches."""
        x = as_batch_source(x, steps)
        options = _arguments(locals())  # before any other local
        trainer = self._trainer_for(x)
        result = trainer.evaluate(**options)
        self._last_predict_path = trainer.last_predict_path
        return result

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Iterable[Callback] | None = None,
    ) -> Any:
        """Outputs for `x` as NumPy arrays, in batches (no compile needed); Keras 3's arguments.
        `x` may be a generator or PyDataset of batches (`x` or `(x, ...)`). Arrays run on the
        compiled inference kernel where the model allows; `last_predict_path` says why not."""
        x = as_batch_source(x, steps)
        options = _arguments(locals())  # before any other local
        trainer = self._predictor(x)
        result = trainer.predict(**options)
        self._last_predict_path = trainer.last_predict_path
        return result

    @property
    def last_predict_path(self) -> Any:
        """How the last `predict` or `evaluate` computed the model's outputs
        (`"compiled-predict"` or `"reference"`) and why; None before."""
        return self._last_predict_path

    def fast_predict(self, x: Any) -> tuple[Any, str]:
        """The Trainer's hook for compiled inference (`training/evaluation.py`): a runner of
        the forward pass over all of `x`, or None and the reason for the reference path."""
        return plan_predict(self, x)

    def train_on_batch(self, x: Any, y: Any = None, **kwargs: Any) -> Any:
        return self._trainer_for(x).train_on_batch(x, y, **kwargs)

    def test_on_batch(self, x: Any, y: Any = None, **kwargs: Any) -> Any:
        return self._trainer_for(x).test_on_batch(x, y, **kwargs)

    def predict_on_batch(self, x: Any) -> Any:
        return self._predictor(x).predict_on_batch(x)

    def predict_classes(self, x: Any, batch_size: int | None = None, verbose: Any = 0) -> Any:
        """Keras 2's class predictions: the argmax of several outputs, or one output > 0.5.

        Removed in Keras 2.6 (Keras 3 has none); kept for old programs, with a warning.
        """
        warnings.warn(
            "predict_classes was removed in Keras 2.6; use np.argmax(model.predict(x), "
            "axis=-1), or (model.predict(x) > 0.5).astype('int32') for one sigmoid output.",
            DeprecationWarning,
            stacklevel=2,
        )
        proba = np.asarray(self.predict(x, batch_size=batch_size, verbose=verbose))
        return proba.argmax(axis=-1) if proba.shape[-1] > 1 else (proba > 0.5).astype("int32")

    def predict_proba(self, x: Any, batch_size: int | None = None, verbose: Any = 0) -> Any:
        """Keras 2's name of `predict` for probabilities (removed in Keras 2.6), with a warning."""
        warnings.warn(
            "predict_proba was removed in Keras 2.6; use model.predict(x).",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def _predictor(self, x: Any) -> Trainer:
        if not getattr(self, "built", False):
            self._build_from_data(x)
        self._check_x(x)
        if self._trainer is not None:
            return self._trainer
        return Trainer(self, loss=None)  # predicting needs no optimizer or loss

    # -- explaining ------------------------------------------------------------------------------
    def summary(self, print_fn: Any = None, line_length: int | None = None) -> str:
        """Prints (and returns) a Keras-style table, with each recurrent layer's gates and compute path."""
        text = summary_text(self)
        (print_fn or print)(text)
        return text

    # -- saving (file layout and loading: `model_files.py`) ----------------------------------------
    def save(
        self,
        filepath: str | os.PathLike[str],
        overwrite: bool = True,
        include_optimizer: bool = True,
    ) -> None:
        """Saves the whole model to one file (write it as `name.unrolled`), atomically.

        Args:
            filepath: the file to write. Its directory must exist.
            overwrite: False refuses to replace an existing file.
            include_optimizer: also save the optimizer's state (moments, step counts), so
                that training resumes where it stopped. The compile arguments are saved either way.

        Raises:
            ConfigError: the model holds something a file cannot keep without code (a
                `Lambda` with an unregistered function, a torch module without
                `get_config`); nothing is written then.

        Example:
            >>> model = Sequential([Input((24, 1)), LSTM(8), Dense(1)])
            >>> model.save("forecaster.unrolled")
            >>> same = unrolled.load_model("forecaster.unrolled")
        """
        path = checked_path(filepath, overwrite, "save")
        config = {
            "model": serialization.serialize_object(self, f"model {self.name!r}"),
            "compile_config": self._compile_config_or_none(),
        }
        tensors = files.tensors_to_bytes(self.state_dict())
        optimizer = None
        torch_optimizer = getattr(self._trainer, "_optimizer", None)
        if (
            include_optimizer
            and config["compile_config"] is not None
            and torch_optimizer is not None
        ):
            slots, info = checkpoint.optimizer_state(torch_optimizer, self)
            optimizer = (files.tensors_to_bytes(slots), info)
        archive.write(path, config, tensors, optimizer)

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Saves the weights (and stateful layers' states) alone, as safetensors, atomically.

        Name the file `name.safetensors`. Keras's `name.weights.h5` works too (with a
        warning): the file is safetensors whatever its name, not HDF5.
        """
        path = checked_path(filepath, overwrite, "save_weights")
        weights.save_weights(self, path)

    def load_weights(self, filepath: str | os.PathLike[str], skip_mismatch: bool = False) -> None:
        """Loads weights from `save_weights`'s file, or from a model file saved by `save`.

        Args:
            skip_mismatch: load the tensors that fit and warn about the others, instead of
                refusing the file.

        Raises:
            FileFormatError: a weight is missing, extra or of another shape, or the file is
                damaged; no weight has changed then.
        """
        path = os.fspath(filepath)
        tensors = weights.read_weights(path)
        weights.load_state(self, tensors, f"Weights file {path!r}", skip_mismatch)

    def get_compile_config(self) -> dict[str, Any] | None:
        """The arguments given to `compile()` as JSON-ready data, or None if not compiled.

        Raises:
            ConfigError: an argument cannot be saved (a torch optimizer object, an
                unregistered loss function).
        """
        if self._compile_args is None:
            return None
        return serialization.serialize(self._compile_args, "compile()")

    def compile_from_config(
        self, config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None
    ) -> None:
        """Compiles with the arguments `get_compile_config()` gave."""
        arguments = serialization.deserialize(dict(config), custom_objects, "compile_config")
        self.compile(**arguments)

    def _compile_config_or_none(self) -> dict[str, Any] | None:
        try:
            return self.get_compile_config()
        except ConfigError as error:
            warnings.warn(
                f"{self.name}: the compile() arguments cannot be saved ({error}). The file holds "
                "the model uncompiled; compile it again after loading.",
                stacklevel=3,
            )
            return None


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    """A method's own arguments from its `locals()`, taken first thing, by name (without
    `self` and a `**legacy` catch-all), to hand on to the Trainer method of the same name."""
    return {k: v for k, v in values.items() if k not in ("self", "legacy", "__class__")}


def _keras2_metrics(loss_weights: Any, metrics: Any) -> tuple[Any, Any]:
    """`(loss_weights, metrics)`, with Keras 2's third positional argument read as metrics.

    Keras 2's compile(optimizer, loss, metrics) put metrics third, where Keras 3 (and this
    compile) takes loss_weights: metric names there are that habit, not weights.
    """
    values = list(loss_weights.values()) if isinstance(loss_weights, Mapping) else loss_weights
    if not (
        isinstance(values, str)
        or isinstance(values, (list, tuple))
        and any(isinstance(v, str) or (callable(v) and not isinstance(v, type)) for v in values)
    ):
        return loss_weights, metrics
    if metrics is not None:
        raise ConfigError(
            "compile(): `loss_weights` must be a float, or a list or dict of floats for several "
            f"outputs. Received: loss_weights={loss_weights!r}. Keras 3's order is "
            "compile(optimizer, loss, loss_weights, metrics)."
        )
    warnings.warn(
        f"compile(): {loss_weights!r} in third place is read as metrics, Keras 2's order; "
        "Keras 3 takes loss_weights there. Pass them by name: compile(optimizer, loss, "
        "metrics=[...]).",
        DeprecationWarning,
        stacklevel=3,
    )
    return None, loss_weights
