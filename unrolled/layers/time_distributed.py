"""`TimeDistributed(layer)`: the same layer applied to every timestep of a sequence."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.layers import symbolic
from unrolled.layers.base import Layer, layer_from_spec
from unrolled.layers.coerce import as_input
from unrolled.ops.convert import as_real_tensor


class TimeDistributed(Layer):
    """Applies `layer` to every timestep, with one set of weights for all of them.

    The timesteps are folded into the samples axis, `(samples * timesteps, ...)`, the
    layer runs once on that batch, and the result is unfolded: the same numbers as
    Keras's step-by-step loop, in one call.

    Any rank: `TimeDistributed(Conv2D(...))` on frames `(samples, timesteps, rows, cols,
    channels)` runs the convolution on `(samples * timesteps, rows, cols, channels)`, the
    CNN-LSTM pattern, and `TimeDistributed(Flatten())` then gives `(samples, timesteps, features)`
    for a recurrent layer.

    Args:
        layer: a layer taking `(samples, ...)`, e.g. `Dense(1)` for one prediction per step.

    Shapes:
        inputs `(samples, timesteps, ...)`; output `(samples, timesteps, ...layer output)`.
        A mask `(samples, timesteps)` passes through unchanged, as in Keras. A mask with more
        axes, e.g. `(samples, timesteps, steps)` for an inner `LSTM` on 4-D inputs, also
        reaches a layer whose call takes `mask`.

    A layer whose training output depends on the rows of its batch (`BatchNormalization`)
    runs once per timestep instead, as Keras runs every layer: each step is normalized by
    its own batch statistics.

    Keras differences: Keras also hands a layer that takes `mask` its slice of a
    `(samples, timesteps)` mask, one flag per sample; no layer here reads such a mask, so it
    is not passed.

    Raises:
        ShapeError: for inputs with fewer than 3 axes, or steps the wrapped layer refuses
            (named in the wrapper's words, `(samples, timesteps, rows, cols, channels)`).

    Example:
        >>> TimeDistributed(Dense(1))(torch.zeros(2, 10, 8)).shape
        torch.Size([2, 10, 1])
        >>> from unrolled.layers import Conv2D
        >>> TimeDistributed(Conv2D(4, 3))(torch.zeros(2, 5, 8, 8, 1)).shape
        torch.Size([2, 5, 6, 6, 4])
    """

    supports_masking = True

    def __init__(self, layer: nn.Module, **kwargs: Any) -> None:
        if not isinstance(layer, nn.Module):
            raise ConfigError(
                "TimeDistributed expects a layer instance, e.g. TimeDistributed(Dense(1)); "
                f"received {type(layer).__name__}."
            )
        super().__init__(**kwargs)
        self.layer = layer
        parameters = inspect.signature(type(layer).forward).parameters
        self._layer_takes_mask = "mask" in parameters
        self._layer_takes_training = "training" in parameters
        if not self.trainable:
            self.trainable = False  # reaches the layer inside, built now or later
        self.build_from_hint()

    @property
    def weights(self) -> list[nn.Parameter]:
        """The wrapped layer's weights, in its Keras order."""
        inner = self.layer
        return list(inner.weights) if isinstance(inner, Layer) else list(inner.parameters())

    def build(self, input_shape: Sequence[int | None]) -> None:
        step_shape = self._step_shape(tuple(input_shape))
        if isinstance(self.layer, Layer) and not self.layer.built:
            with self._per_step_errors(input_shape):
                self.layer.build(step_shape)
        self.built = True

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        if isinstance(self.layer, Layer) and not self.layer.built:
            self.layer._build_from_weights(weights)
        self.built = True

    def forward(self, inputs: Any, training: bool | None = None, mask: Any = None) -> torch.Tensor:
        x = as_input(inputs)
        self._step_shape(tuple(x.shape))
        self.ensure_built(x)
        samples, timesteps = x.shape[0], x.shape[1]
        kwargs: dict[str, Any] = {}
        if self._layer_takes_training and training is not None:
            kwargs["training"] = training
        m = None if mask is None else self._check_mask(mask, x)
        if m is not None and m.dim() > 2 and self._layer_takes_mask:
            # A mask with axes beyond (samples, timesteps) masks the inner layer's own steps.
            kwargs["mask"] = m.reshape(
                samples * timesteps, *m.shape[2:]
            )  # (samples * timesteps, ...)
        if getattr(self.layer, "statistics_of_the_batch", False):
            # Keras calls the layer once per timestep, so BatchNormalization takes each
            # step's own batch statistics and moves its moving ones once per step; folding
            # the steps into one batch would pool them.
            with self._per_step_errors(x.shape):
                steps = [self._step(x[:, t], m, t, kwargs) for t in range(timesteps)]
            return torch.stack(steps, dim=1)  # (samples, timesteps, ...out)
        folded = x.reshape(samples * timesteps, *x.shape[2:])  # (samples * timesteps, ...)
        with self._per_step_errors(x.shape):
            outputs = self.layer(folded, **kwargs)  # (samples * timesteps, ...out)
        return symbolic.map_structure(
            lambda y: y.reshape(samples, timesteps, *y.shape[1:]),  # (samples, timesteps, ...out)
            outputs,
        )

    def _step(
        self, x: torch.Tensor, mask: torch.Tensor | None, t: int, kwargs: dict[str, Any]
    ) -> torch.Tensor:
        """The layer on timestep `t` alone, `(samples, ...)`, with that step's mask."""
        if "mask" in kwargs:
            assert mask is not None
            kwargs = {**kwargs, "mask": mask[:, t]}  # (samples, ...)
        return self.layer(x, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        if not hasattr(self.layer, "compute_output_shape"):  # a plain torch module
            return super().compute_output_shape(shape)
        with self._per_step_errors(shape):
            step_output = self.layer.compute_output_shape(self._step_shape(shape))
        return _unfold_shapes(step_output, shape[1])

    def _step_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if len(shape) < 3:
            raise ShapeError(
                f"{self.name} expects inputs of shape (samples, timesteps, ...) with at least 3 "
                f"axes; received a {len(shape)}-D input of shape {shape_str(shape)}. Apply the "
                "layer directly to (samples, features) data."
            )
        return (shape[0], *shape[2:])

    @contextlib.contextmanager
    def _per_step_errors(self, shape: Sequence[int | None]) -> Iterator[None]:
        """Rephrases the wrapped layer's ShapeError for the inputs the user gave the wrapper.

        The wrapped layer sees `(samples * timesteps, ...)`; its message names the axes of one
        step, `(samples, rows, cols, channels)`, which the wrapper's inputs carry after a
        timesteps axis.
        """
        try:
            yield
        except ShapeError as error:
            inner = type(self.layer).__name__
            match = re.search(r"\(samples, ([^)]*)\)", str(error))
            expected = (
                f"(samples, timesteps, {match.group(1)})" if match else "(samples, timesteps, ...)"
            )
            raise ShapeError(
                f"{self.name} applies {inner} to every timestep, so it expects inputs of shape "
                f"{expected}; received {shape_str(tuple(shape))}. {inner} said: {error}"
            ) from None

    def _check_mask(self, mask: Any, x: torch.Tensor) -> torch.Tensor:
        m = as_real_tensor(mask, "mask").to(x.device)
        if m.dim() < 2 or tuple(m.shape[:2]) != tuple(x.shape[:2]):
            raise ShapeError(
                f"{self.name}: the mask must start with the (samples, timesteps) axes of the "
                f"inputs, {shape_str(x.shape[:2])}; received a mask of shape {shape_str(m.shape)}."
            )
        return m

    def get_config(self) -> dict[str, Any]:
        inner = self.layer
        config = inner.get_config() if hasattr(inner, "get_config") else {}
        return {
            **super().get_config(),
            "layer": {"class_name": type(inner).__name__, "config": config},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        config = dict(config)
        config["layer"] = layer_from_spec(config["layer"])
        return cls(**config)


def _unfold_shapes(step_shape: Any, timesteps: int | None) -> Any:
    # (samples, ...out) -> (samples, timesteps, ...out), for one shape or a list of them.
    if symbolic.is_shape(step_shape):
        return (step_shape[0], timesteps, *step_shape[1:])
    return type(step_shape)(_unfold_shapes(each, timesteps) for each in step_shape)
