"""`Sequential`: layers applied one after another, the way the seeds build models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled.errors import ConfigError
from unrolled.layers.base import Layer, accepts
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.symbolic import SymbolicTensor
from unrolled.models.base import ModelBase
from unrolled.models.inputs import as_model_input, build_from_data, check_input_shape
from unrolled.saving import serialization
from unrolled.saving.registry import register_builtin


class Sequential(ModelBase):
    """A stack of layers, each feeding the next.

    The input shape comes from an `Input(...)` first, from `input_shape=`/`input_dim=` or
    `batch_input_shape=` on the first layer, or from the first batch of data. Once it is
    known, every layer is built, so `summary()`, `count_params()` and `compile()` work before
    any data is seen.

    The layers are the model's children, numbered as `torch.nn.Sequential` numbers its
    modules: `state_dict()` names are `0.cell.kernel`, `1.kernel`, ... (files written when
    they were `_layers.0.cell.kernel` load too, see `unrolled.state_names`). Numbers, not
    layer names: names come from a process-wide counter (`lstm_3`), so a file would not
    load into the same architecture built in another process, and a layer named like a
    module attribute (`training`) could not be registered at all.

    Example:
        >>> model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
        >>> model.output_shape
        (None, 1)
        >>> model
        Sequential(
          (0): LSTM(
            4, batch_shape=(None, 3, 1)
            (cell): LSTMCell(4)
          )
          (1): Dense(1)
        )
    """

    def __init__(
        self, layers: Sequence[Any] | None = None, name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        self._input_shape: tuple[int | None, ...] | None = None
        self._output_shape: Any = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Appends a layer (or an `Input(...)` as the first item, to give the input shape)."""
        if isinstance(layer, SymbolicTensor):
            if self.layers or self._input_shape is not None:
                raise ConfigError("An Input can only be the first item of a Sequential model.")
            self._input_shape = layer.shape
            self._output_shape = layer.shape
            return
        if isinstance(layer, InputLayer):
            self._input_shape = self._output_shape = layer.batch_shape
            return
        if not isinstance(layer, nn.Module):
            raise ConfigError(f"Sequential.add expects a layer; received {type(layer).__name__}.")
        if getattr(layer, "batch_shape", None) is not None:
            if not self.layers and self._input_shape is None:
                self._input_shape = self._output_shape = tuple(layer.batch_shape)
            elif isinstance(layer, Layer):
                layer.ignore_input_shape(f"not the first of {self.name}")
        self.add_module(str(len(self.layers)), layer)
        if self._output_shape is not None:
            self._output_shape = _build_and_shape(layer, self._output_shape)
        self.built = self._output_shape is not None

    def pop(self) -> Any:
        """Removes and returns the last layer."""
        layers = self.layers
        if not layers:
            raise ConfigError(f"{self.name} has no layers to pop.")
        layer = layers[-1]
        del self._modules[str(len(layers) - 1)]
        self._output_shape = self.compute_output_shape(self._input_shape)
        return layer

    # -- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list[Any]:
        """The layers in order (an Input given first is not one of them, as in Keras 3)."""
        return [module for key, module in self._modules.items() if key.isdigit()]

    @property
    def input_shape(self) -> Any:
        return self._input_shape

    @property
    def output_shape(self) -> Any:
        return self._output_shape

    @property
    def weights(self) -> list[nn.Parameter]:
        return [
            w
            for layer in self.layers
            for w in (layer.weights if isinstance(layer, Layer) else layer.parameters())
        ]

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Builds every layer for inputs of `input_shape` (samples axis included)."""
        self._input_shape = tuple(input_shape)
        shape: Any = self._input_shape
        for layer in self.layers:
            shape = _build_and_shape(layer, shape)
        self._output_shape = shape
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # -- config ---------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The layers' configs in order, and the input shape the model was built for."""
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_name,
            "layers": [
                serialization.serialize_object(layer, f"layer {index} of {self.name}")
                for index, layer in enumerate(self.layers)
            ],
        }
        if self._input_shape is not None:
            config["build_input_shape"] = list(self._input_shape)
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Sequential:
        """The model `get_config()` described, built for its input shape, with fresh weights.

        A subclass whose constructor takes its own options (and whose `get_config` returns
        them) is rebuilt as `cls(**config)`, as in Keras.
        """
        if cls.__init__ is not Sequential.__init__ or "layers" not in config:
            return cls(**serialization.deserialize(dict(config), custom_objects, cls.__name__))
        layers = [
            serialization.deserialize(layer, custom_objects, f"layer {index}")
            for index, layer in enumerate(config.get("layers", []))
        ]
        model = cls(name=config.get("name"), dtype=config.get("dtype"))
        first_has_shape = bool(layers) and getattr(layers[0], "batch_shape", None) is not None
        if config.get("build_input_shape") is not None and not first_has_shape:
            model.add(InputLayer(tuple(config["build_input_shape"])))
        for layer in layers:
            model.add(layer)
        if config.get("trainable") is False:
            model.trainable = False
        return model

    # -- running --------------------------------------------------------------------------------
    def forward(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        layers = self.layers
        if not layers:
            raise ConfigError(f"{self.name} has no layers yet; add some with .add(layer).")
        x = as_model_input(inputs, self.name)
        if self._input_shape is not None:
            check_input_shape(self.name, self._input_shape, tuple(x.shape))
        elif not self.built:
            build_from_data(self, tuple(x.shape))
            self.to(x.device)
        if mask is not None:
            x._keras_mask = torch.as_tensor(mask, device=x.device)
        for layer in layers:
            x = (
                layer(x, training=training)
                if training is not None and accepts(type(layer), "training")
                else layer(x)
            )
        return x


def _build_and_shape(layer: Any, shape: Any) -> Any:
    if not getattr(layer, "built", True):
        layer.build(shape)
    if hasattr(layer, "compute_output_shape"):
        return layer.compute_output_shape(shape)
    return None


register_builtin("unrolled.models", Sequential)
