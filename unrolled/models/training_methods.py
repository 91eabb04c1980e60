"""The Keras model methods shared by `Model` and `Sequential`: states, compile, fit, predict, summary.

Training itself lives in `unrolled.training`, which drives any `torch.nn.Module`; these
methods hand it the model and keep Keras's signatures.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from unrolled.errors import ConfigError, ShapeError


class TrainingMethods:
    """Mixed into `Model` and `Sequential` (which provide `layers`, `build` and `forward`)."""

    _trainer: Any = None
    history: Any = None
    _compile_args: dict[str, Any] | None = None

    # -- states ---------------------------------------------------------------------------------
    def _stateful_layers(self) -> list[Any]:
        return [
            m
            for m in self.modules()
            if m is not self and getattr(m, "stateful", False) and hasattr(m, "reset_states")
        ]  # type: ignore[attr-defined]

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
        metrics: Any = None,
        loss_weights: Any = None,
        **kwargs: Any,
    ) -> None:
        """Sets the optimizer, loss and metrics by Keras name or object (Keras's default optimizer: rmsprop)."""
        self._compile_args = {
            "optimizer": optimizer,
            "loss": loss,
            "metrics": metrics,
            "loss_weights": loss_weights,
            **kwargs,
        }
        self._trainer = None
        if getattr(self, "built", False):
            self._make_trainer()

    def _make_trainer(self) -> Any:
        from unrolled.training.engine import Trainer

        if self._compile_args is None:
            raise ConfigError(
                f"{self.name} is not compiled: call model.compile(optimizer='adam', loss='mse') before fit/evaluate."  # type: ignore[attr-defined]
            )
        self._trainer = Trainer(self, **self._compile_args)
        return self._trainer

    def _trainer_for(self, x: Any) -> Any:
        if not getattr(self, "built", False):
            self._build_from_data(x)
        trainer = self._trainer or self._make_trainer()
        self._check_x(x)
        return trainer

    def _check_x(self, x: Any) -> None:
        """Refuses an array `x` of the wrong shape before batching, so the message shows x's
        own shape (100, 3), not a batch's (32, 3)."""
        from unrolled.models.functional import input_shape_message

        expected = getattr(self, "input_shape", None)
        shape = getattr(x, "shape", None)
        if not isinstance(expected, tuple) or shape is None or not expected:
            return  # several inputs, a DataLoader, or a nested list: checked per batch
        if not all(d is None or isinstance(d, int) for d in expected):
            return
        shape = tuple(shape)
        if len(shape) != len(expected) or any(
            e is not None and e != g for e, g in zip(expected[1:], shape[1:])
        ):
            raise ShapeError(input_shape_message(self.name, expected, shape))  # type: ignore[attr-defined]

    def _build_from_data(self, x: Any) -> None:
        # Only a Sequential without an input shape gets here: it builds from the first array.
        from unrolled.models.sequential import _shape_from_data

        self.build(_shape_from_data(tuple(getattr(x, "shape", None) or np.shape(x))))  # type: ignore[attr-defined]

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any) -> Any:
        """Trains the model; Keras's arguments (`batch_size`, `epochs`, `callbacks`, ...). Returns a `History`."""
        self.history = self._trainer_for(x).fit(x, y, **kwargs)
        return self.history

    @property
    def last_fit_path(self) -> Any:
        """How the last `fit` trained (`"compiled-epoch"` or `"reference"`) and why; None before."""
        return None if self._trainer is None else self._trainer.last_path

    def fast_fit(
        self, optimizer: Any, loss: str | None, x: Any, y: Any, batch_size: int
    ) -> tuple[Any, str]:
        """The Trainer's hook for compiled training (`training/fast_path.py`): a runner of
        whole epochs, or None and the reason the model stays on the reference path."""
        from unrolled.compiled.fit_plan import plan_fit

        return plan_fit(self, optimizer, loss, x, y, batch_size)

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any) -> Any:
        """The loss (and metrics) on `x`, `y`, Keras's return convention."""
        return self._trainer_for(x).evaluate(x, y, **kwargs)

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """Outputs for `x` as NumPy arrays, in batches (no compile needed)."""
        return self._predictor(x).predict(x, **kwargs)

    def train_on_batch(self, x: Any, y: Any = None, **kwargs: Any) -> Any:
        return self._trainer_for(x).train_on_batch(x, y, **kwargs)

    def test_on_batch(self, x: Any, y: Any = None, **kwargs: Any) -> Any:
        return self._trainer_for(x).test_on_batch(x, y, **kwargs)

    def predict_on_batch(self, x: Any) -> Any:
        return self._predictor(x).predict_on_batch(x)

    def _predictor(self, x: Any) -> Any:
        from unrolled.training.engine import Trainer

        if not getattr(self, "built", False):
            self._build_from_data(x)
        self._check_x(x)
        if self._trainer is not None:
            return self._trainer
        return Trainer(self, loss=None)  # predicting needs no optimizer or loss

    # -- explaining ------------------------------------------------------------------------------
    def summary(self, print_fn: Any = None, line_length: int | None = None) -> str:
        """Prints (and returns) a Keras-style table, with each recurrent layer's gates and compute path."""
        from unrolled.explain.summary import summary_text

        text = summary_text(self)
        (print_fn or print)(text)
        return text
