"""`Lambda`: any function of the inputs as a layer, e.g. a slice of the last steps."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from unrolled.errors import ConfigError
from unrolled.layers import symbolic
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input


class Lambda(Layer):
    """Wraps `function(inputs, **arguments)` as a layer.

    Args:
        function: a callable on tensors. If it takes `mask` or `training` arguments it
            receives the input mask and the training flag.
        output_shape: the output shape per sample (samples axis left out), a list of them for
            several outputs, or a callable `f(input_shape) -> output_shape` (samples axis
            included). None infers the shape by running the function on zeros.
        mask: the output mask: a callable `f(inputs, mask)`, a fixed value, or None for no
            mask (then a mask arriving at the layer warns, as in Keras).
        arguments: extra keyword arguments for `function`.

    Shapes:
        whatever `function` returns.

    Example:
        >>> last_three = Lambda(lambda x: x[:, -3:, :])
        >>> last_three(torch.zeros(2, 10, 4)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(
        self,
        function: Any,
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise ConfigError(
                f"Lambda expects a callable `function`; received {type(function).__name__}."
            )
        if arguments is not None and not isinstance(arguments, dict):
            raise ConfigError(
                f"Lambda expects `arguments` to be a dict of keyword arguments; received "
                f"{type(arguments).__name__}."
            )
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        parameters = _parameters(function)
        self._takes_mask = "mask" in parameters
        self._takes_training = "training" in parameters
        self.build_from_hint()

    def forward(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        kwargs = dict(self.arguments)
        if self._takes_mask:
            kwargs["mask"] = mask
        if self._takes_training:
            kwargs["training"] = self.training if training is None else bool(training)
        x = symbolic.map_structure(_as_tensor, inputs)
        return self.function(x, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """From `output_shape` when given, otherwise by running `function` on zeros."""
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        samples = symbolic.flatten(input_shape)[0]

        def with_samples(shape: Any) -> Any:
            if symbolic.is_shape(shape):
                return (samples, *shape)
            return [with_samples(each) for each in shape]

        return with_samples(_as_shape(self._output_shape))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {**super().get_config(), "function": self.function}
        if self._output_shape is not None:
            config["output_shape"] = self._output_shape
        if self.mask is not None:
            config["mask"] = self.mask
        config["arguments"] = self.arguments
        return config


def _parameters(function: Any) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # some builtins have no signature
        return set()


def _as_tensor(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return as_input(value)
    return value


def _as_shape(shape: Any) -> Any:
    # An int is a one-axis shape; nested lists of shapes stay nested.
    if isinstance(shape, int):
        return (shape,)
    if symbolic.is_shape(shape):
        return tuple(shape)
    return [_as_shape(each) for each in shape]
