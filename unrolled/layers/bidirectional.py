"""`Bidirectional(layer)`: a recurrent layer run forwards and backwards, outputs merged."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from unrolled.errors import ConfigError, ShapeError
from unrolled.layers.base import Layer, layer_from_spec
from unrolled.layers.cells_protocol import state_sizes
from unrolled.layers.recurrent import RNN

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a copy of `layer` forwards and another backwards over time and merges them.

    The backward copy is built from the layer's config with `go_backwards` inverted; its
    outputs come back in processing order and are flipped to input order before merging,
    so step t of the result sees the past (forward) and the future (backward) of step t.

    Args:
        layer: an `LSTM`, `GRU`, `SimpleRNN` or `RNN`. Its config makes both directions
            (`forward_layer`, `backward_layer`); the instance itself is not reused, as in Keras.
        merge_mode: "concat" (default; `2 * units` features), "sum", "mul", "ave", or None
            for the two outputs as a pair.
        weights: initial weights, the forward layer's then the backward layer's.
        backward_layer: a recurrent layer to use for the backward direction instead of a
            copy. It must differ from `layer` in `go_backwards` and agree in `stateful`,
            `return_sequences` and `return_state`.

    Call:
        `layer(inputs, initial_state=None, mask=None, training=None)`. `initial_state` lists
        the forward layer's states then the backward layer's (`[h_f, c_f, h_b, c_b]` for LSTM).
        With `return_sequences=True` masked steps output zeros in both directions (Keras sets
        `zero_output_for_mask` on both layers).

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, 2 * units)` for "concat"
        (`(samples, timesteps, 2 * units)` with `return_sequences`), `units` for the other
        modes. With `return_state`, `(output, *forward_states, *backward_states)`.

    Keras differences: a `layer` with `go_backwards=True` gets a forward-going backward copy
    (Keras 2's rule); Keras 3 refuses that layer.

    Example:
        >>> layer = Bidirectional(LSTM(4, return_sequences=True))
        >>> layer(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 5, 8])
    """

    supports_masking = True

    def __init__(
        self,
        layer: RNN,
        merge_mode: str | None = "concat",
        weights: Sequence[Any] | None = None,
        backward_layer: RNN | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, RNN):
            raise ConfigError(
                "Bidirectional expects a recurrent layer (LSTM, GRU, SimpleRNN or RNN); "
                f"received {type(layer).__name__}."
            )
        if backward_layer is not None and not isinstance(backward_layer, RNN):
            raise ConfigError(
                "Bidirectional expects `backward_layer` to be a recurrent layer; received "
                f"{type(backward_layer).__name__}."
            )
        if merge_mode not in MERGE_MODES:
            raise ConfigError(
                f"Invalid merge_mode for Bidirectional: expected one of 'concat', 'sum', 'mul', "
                f"'ave' or None; received {merge_mode!r}."
            )
        super().__init__(**kwargs)
        if self.batch_shape is None:
            # Keras 2 put the shape on the wrapped layer: Bidirectional(LSTM(4, input_shape=...)).
            self.batch_shape = layer.batch_shape
        self.forward_layer = _twin(
            layer, f"forward_{_strip(layer.name, 'forward_')}", layer.go_backwards
        )
        if backward_layer is None:
            backward_layer = _twin(
                layer, f"backward_{_strip(layer.name, 'backward_')}", not layer.go_backwards
            )
        else:
            backward_layer.use_cudnn = layer.use_cudnn  # Keras keeps the layer's choice for both
        self.backward_layer = backward_layer
        self._check_pair()
        for each in (self.forward_layer, self.backward_layer):
            each.zero_output_for_mask = each.return_sequences  # Keras forces this
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        if not self.trainable:
            self.trainable = False  # reaches the layers inside, built now or later
        self.build_from_hint()
        if weights is not None:
            self.set_weights(weights)

    def _check_pair(self) -> None:
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ConfigError(
                "Bidirectional: the forward and backward layers must differ in `go_backwards`; "
                f"received go_backwards={forward.go_backwards} for both."
            )
        for option in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, option) != getattr(backward, option):
                raise ConfigError(
                    f"Bidirectional: the forward and backward layers must agree in `{option}`; "
                    f"received {getattr(forward, option)} for the forward layer and "
                    f"{getattr(backward, option)} for the backward layer."
                )

    # -- weights and building -------------------------------------------------------------------
    @property
    def weights(self) -> list[nn.Parameter]:
        """The forward layer's weights, then the backward layer's (Keras's order)."""
        return [*self.forward_layer.weights, *self.backward_layer.weights]

    def build(self, input_shape: Sequence[int | None]) -> None:
        for each in (self.forward_layer, self.backward_layer):
            if not each.built:
                each.build(input_shape)
        self.built = True

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        if not weights or np.ndim(weights[0]) != 2:
            super()._build_from_weights(weights)
        batch = self.batch_shape[0] if self.batch_shape else None
        self.build((batch, None, int(np.shape(weights[0])[0])))

    # -- the call -------------------------------------------------------------------------------
    def forward(
        self,
        inputs: Any,
        initial_state: Any = None,
        mask: Any = None,
        training: bool | None = None,
    ) -> Any:
        forward_state, backward_state = self._split_initial_state(initial_state)
        options = {"mask": mask, "training": training}
        y = self.forward_layer(inputs, initial_state=forward_state, **options)
        y_rev = self.backward_layer(inputs, initial_state=backward_state, **options)
        self.built = True
        states: list[Any] = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)  # (samples, timesteps, units), back in input order
        merged = _merge(self.merge_mode, y, y_rev)
        if not self.return_state:
            return merged
        return (*merged, *states) if self.merge_mode is None else (merged, *states)

    def _split_initial_state(self, initial_state: Any) -> tuple[Any, Any]:
        if initial_state is None:
            return None, None
        states = (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        )
        forward_count = len(state_sizes(self.forward_layer.cell))
        count = forward_count + len(state_sizes(self.backward_layer.cell))
        if len(states) != count:
            raise ShapeError(
                f"{self.name} expects {count} initial states, the forward layer's "
                f"{forward_count} then the backward layer's {count - forward_count}; "
                f"received {len(states)}."
            )
        return states[:forward_count], states[forward_count:]

    # -- shapes and masks -----------------------------------------------------------------------
    def compute_output_shape(self, input_shape: Any) -> Any:
        """The forward layer's shapes, with the merged output and both layers' states."""
        shapes = self.forward_layer.compute_output_shape(tuple(input_shape))
        output, states = (shapes[0], list(shapes[1:])) if self.return_state else (shapes, [])
        if self.merge_mode == "concat":
            output = (*output[:-1], None if output[-1] is None else 2 * output[-1])
        outputs = [output, output] if self.merge_mode is None else [output]
        if self.return_state:
            return [*outputs, *states, *states]
        return outputs if self.merge_mode is None else output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input mask on the output(s) with `return_sequences`, None on states."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            masks += [None] * (2 * len(state_sizes(self.forward_layer.cell)))
        return masks if len(masks) > 1 else masks[0]

    # -- stateful -------------------------------------------------------------------------------
    def reset_states(self, batch_size: int | None = None) -> None:
        """Zeros both layers' states; with `batch_size`, starts them over at that size."""
        for each in (self.forward_layer, self.backward_layer):
            each.reset_states(batch_size)

    def reset_state(self) -> None:
        """Keras 3's name for `reset_states()`."""
        self.reset_states()

    def get_states(self) -> list[np.ndarray]:
        """The forward layer's states, then the backward layer's."""
        return [*self.forward_layer.get_states(), *self.backward_layer.get_states()]

    def set_states(self, states: Sequence[Any]) -> None:
        """Sets the states in `get_states` order: forward layer's, then backward layer's."""
        values = list(states)
        split = len(state_sizes(self.forward_layer.cell))
        self.forward_layer.set_states(values[:split])
        self.backward_layer.set_states(values[split:])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": _serialize(self.forward_layer),
            "backward_layer": _serialize(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bidirectional:
        config = dict(config)
        config["layer"] = layer_from_spec(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = layer_from_spec(config["backward_layer"])
        return cls(**config)


def _merge(mode: str | None, y: torch.Tensor, y_rev: torch.Tensor) -> Any:
    if mode == "concat":
        return torch.cat([y, y_rev], dim=-1)  # (..., 2 * units)
    if mode == "sum":
        return y + y_rev
    if mode == "mul":
        return y * y_rev
    if mode == "ave":
        return (y + y_rev) / 2
    return (y, y_rev)


def _twin(layer: RNN, name: str, go_backwards: bool) -> RNN:
    """A new layer with `layer`'s config, a new name and the given direction, and fresh weights.

    Layers whose constructor takes their config (LSTM, GRU, SimpleRNN) are rebuilt from it,
    unbuilt, as Keras does; an `RNN` over a cell is deep-copied and, if built, rebuilt.
    """
    config = layer.get_config()
    config.pop("batch_shape", None)  # the wrapper holds the input-shape hint
    config.update(name=name, go_backwards=go_backwards)
    if "cell" not in config:
        try:
            return type(layer)(**config)
        except (TypeError, ConfigError):
            pass  # a subclass whose constructor takes other arguments: copy it instead
    twin = copy.deepcopy(layer)
    twin.name, twin.go_backwards = name, go_backwards
    twin.batch_shape, twin._built_from_hint = None, False
    if twin.built:  # fresh weights, as a layer rebuilt from its config would have
        batch = getattr(twin, twin._state_names[0]).shape[0] if twin._state_names else None
        for module in twin.modules():
            if isinstance(module, Layer):
                module.built = False
        twin.build((batch, None, layer.input_features))
    return twin


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def _serialize(layer: Layer) -> dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
