"""ConvLSTM1D/2D/3D: LSTM with convolutions for matmuls, as Keras's convolutional recurrent layers.

The cell is one `CellKind` (`ops.cell_kinds.CONV_LSTM`: LSTM's gates i, f, c, o and states
h, c) and one step function (`ops.steps.conv_lstm_step`); the layer is our `RNN`, so
`return_sequences`, `return_state`, `go_backwards`, `stateful`, masks and `initial_state`
are the recurrent layers' own. Keras 2's module path was `keras.layers.convolutional_recurrent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unrolled import activations, constraints, initializers, regularizers
from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str
from unrolled.layers.base import Layer
from unrolled.layers.cell import KernelCell, Tensors, Weights
from unrolled.layers.lstm import LSTMCell
from unrolled.layers.recurrent import RNN, cell_and_options
from unrolled.ops import cell_kinds
from unrolled.ops.convert import as_real_tensor
from unrolled.ops.convolution import as_tuple, output_sizes
from unrolled.ops.steps import (
    ConvLSTMStep,
    ConvOptions,
    conv_lstm_inputs,
    conv_lstm_step,
    conv_lstm_step_from_inputs,
)

__all__ = ["ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell"]

# The spatial axes of a frame in words, by rank.
_SPATIAL_WORDS = {1: ("steps",), 2: ("rows", "cols"), 3: ("depth", "rows", "cols")}
# Options a Keras user reads off the layer (`layer.filters`), kept by the cell.
_CONV_OPTIONS = frozenset(
    "rank filters kernel_size strides padding data_format dilation_rate".split()
)


def _frame_words(rank: int, channels_last: bool) -> str:
    """`(rows, cols, channels)`: one frame's axes in words."""
    axes = list(_SPATIAL_WORDS[rank])
    return "(" + ", ".join([*axes, "channels"] if channels_last else ["channels", *axes]) + ")"


class ConvLSTMCell(KernelCell):
    """One ConvLSTM step with Keras's weights and gate order (i, f, c, o).

    Args:
        rank: 1, 2 or 3: the convolution's spatial axes.
        filters: channels of the output and of each state.
        kernel_size, strides, padding ("valid" or "same"), data_format, dilation_rate: the
            input convolution. The recurrent one is always "same", stride 1, as Keras's.
        unit_forget_bias: start the forget-gate bias at one.
        The other options are `LSTMCell`'s.

    Weights:
        `kernel (*kernel_size, channels, 4 * filters)`, `recurrent_kernel (*kernel_size,
        filters, 4 * filters)`, `bias (4 * filters,)`, gates side by side on the last axis.

    Shapes:
        inputs `(samples, *spatial, channels)`; states `[h, c]`, each `(samples, *spatial',
        filters)` (channels first: `(samples, channels, *spatial)` and `(samples, filters,
        *spatial')`).
    """

    kind = cell_kinds.CONV_LSTM
    input_mask_per_gate = True  # Keras's ConvLSTM draws one mask per gate for the inputs too

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        if rank not in (1, 2, 3) or isinstance(rank, bool):
            raise ConfigError(f"ConvLSTM `rank` must be 1, 2 or 3. Received: rank={rank!r}")
        super().__init__(positive_int(filters, "filters"), **kwargs)
        self.rank = int(rank)
        self.filters = self.units
        self.kernel_size = as_tuple(kernel_size, rank, "kernel_size")
        self.strides = as_tuple(strides, rank, "strides")
        self.dilation_rate = as_tuple(dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ConfigError(
                "Specifying `strides > 1` is not compatible with `dilation_rate > 1`. Provide "
                f"strides=1 or dilation_rate=1. Received: strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}"
            )
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ConfigError(
                f"ConvLSTM `padding` must be 'valid' or 'same'. Received: padding={padding!r}"
            )
        self.data_format = "channels_last" if data_format is None else data_format
        if self.data_format not in ("channels_last", "channels_first"):
            raise ConfigError(
                "`data_format` must be 'channels_last' or 'channels_first'. Received: "
                f"data_format={data_format!r}"
            )
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.filters, self.filters]
        self.step_shape: tuple[int, ...] | None = None  # one frame, set by build

    @property
    def channels_last(self) -> bool:
        return self.data_format == "channels_last"

    @property
    def options(self) -> ConvOptions:
        """The input convolution's strides, padding and dilation, for the step function."""
        return ConvOptions(self.strides, self.padding, self.dilation_rate, self.channels_last)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Builds for one step `(samples, *spatial, channels)` (channels last)."""
        frame = tuple(input_shape[1:])
        words = _frame_words(self.rank, self.channels_last)
        if len(frame) != self.rank + 1 or None in frame:
            raise ShapeError(
                f"{self.name}: each step must be a frame {words} of known size (ConvLSTM "
                f"layers need static frame sizes, as Keras's); received {shape_str(frame)}."
            )
        spatial = frame[:-1] if self.channels_last else frame[1:]
        channels = frame[-1] if self.channels_last else frame[0]
        out = output_sizes(
            spatial, self.padding, self.kernel_size, self.strides, self.dilation_rate
        )
        if 0 in out:
            raise ShapeError(
                f"{self.name}: a frame of {shape_str(tuple(spatial))} is smaller than the window "
                f"{self.kernel_size} (dilation {self.dilation_rate}) with padding='valid'. Use "
                "padding='same' or a smaller kernel_size."
            )
        self.step_shape = tuple(int(d) for d in frame)  # type: ignore[arg-type]
        self.output_spatial = out
        gates = self.kind.gate_count * self.filters
        self.add_weight("kernel", (*self.kernel_size, channels, gates), self.kernel_initializer)
        self.add_weight(
            "recurrent_kernel", (*self.kernel_size, self.filters, gates), self.recurrent_initializer
        )
        if self.use_bias:
            self.add_weight("bias", self.kind.bias_shape(self.filters), self._bias_initial_value())
        self.built = True

    @property
    def state_shapes(self) -> list[tuple[int, ...]]:
        """`h` and `c` after the samples axis: `(*spatial', filters)` (channels last)."""
        if self.step_shape is None:
            raise ConfigError(f"{self.name} is not built: its state shapes follow the frame size.")
        shape = (
            (*self.output_spatial, self.filters)
            if self.channels_last
            else (self.filters, *self.output_spatial)
        )
        return [shape, shape]

    def get_initial_state(self, batch_size: int) -> list[torch.Tensor]:
        options = {"device": self.kernel.device, "dtype": self.kernel.dtype}
        return [torch.zeros(batch_size, *shape, **options) for shape in self.state_shapes]

    # LSTM's gates, so LSTM's forget-gate bias of one (`units` is `filters`).
    _bias_initial_value = LSTMCell._bias_initial_value

    def project_sequence(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor | None:
        """`inputs (B, T, *frame)` convolved with `kernel` for every step at once:
        `(B, T, 4 * filters, *spatial')`; None under input dropout, which draws a mask per
        gate on each step's input."""
        if training and 0.0 < self.dropout < 1.0:
            return None
        return conv_lstm_inputs(inputs, self.kernel, self.bias, self.options)

    def call_projected(
        self, projected: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h_masks = self.recurrent_dropout_masks(states[0], self.kind.gate_count, training)
        hs = [states[0]] if h_masks is None else [states[0] * m for m in h_masks]
        functions = (self.activation, self.recurrent_activation)
        step = conv_lstm_step_from_inputs(
            projected, hs, states[1], self.recurrent_kernel, *functions, self.channels_last
        )
        return step.h, [step.h, step.c]

    def _step(self, xs: Tensors, hs: Tensors, states: Tensors, weights: Weights) -> ConvLSTMStep:
        functions = (self.activation, self.recurrent_activation)
        return conv_lstm_step(xs, hs, states[1], *weights, *functions, self.options)

    def get_config(self) -> dict[str, Any]:
        config = {k: v for k, v in super().get_config().items() if k != "units"}
        return {
            **config,
            "rank": self.rank,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "unit_forget_bias": self.unit_forget_bias,
        }


class ConvLSTM(RNN):
    """N-D convolutional LSTM over `(samples, timesteps, *spatial, channels)`; subclasses set `rank`.

    Args:
        filters: channels of the output and of each state (the number of kernels).
        kernel_size: the convolution window, an int or one int per spatial axis.
        strides: the input convolution's step; Keras refuses it above 1 with
            `dilation_rate` above 1, and so do we.
        padding: "valid" (no padding: frames shrink) or "same" (zeros so that
            `ceil(size / strides)` positions come out). The recurrent convolution is always
            "same" at stride 1, as Keras's.
        data_format: "channels_last" (default) or "channels_first" (frames `(channels,
            *spatial)`).
        dilation_rate: the gap between the window's taps (input convolution).
        activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, unit_forget_bias, kernel_regularizer,
            recurrent_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
            recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed: as
            `LSTM`'s; dropout draws one mask per gate, as Keras's ConvLSTM.
        return_sequences, return_state, go_backwards, stateful: as `RNN`'s.
        **kwargs: `unroll`, `zero_output_for_mask` (as `RNN`'s), `name`, `trainable`,
            `dtype`, `input_shape`, `batch_input_shape`, `batch_size`.

    Call:
        `layer(inputs, mask=None, training=None, initial_state=None)`. `mask` is
        `(samples, timesteps)`, or, from a `Masking` layer on channels-last frames,
        `(samples, timesteps, *spatial)`: then, as in Keras, each position keeps its own state
        where its step is masked (the frame size must not change: padding="same", strides 1).

    Path: always the step loop (torch has no fused ConvLSTM; `last_path` says so): the
    input convolution of all timesteps runs as one batched call (per step under input
    dropout in training), then one recurrent convolution per step for all four gates.
    """

    rank = 2
    supports_masking = True

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: activations.ActivationArg = "tanh",
        recurrent_activation: activations.ActivationArg = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerArg = "glorot_uniform",
        recurrent_initializer: initializers.InitializerArg = "orthogonal",
        bias_initializer: initializers.InitializerArg = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: regularizers.RegularizerArg = None,
        recurrent_regularizer: regularizers.RegularizerArg = None,
        bias_regularizer: regularizers.RegularizerArg = None,
        activity_regularizer: regularizers.RegularizerArg = None,
        kernel_constraint: constraints.ConstraintArg = None,
        recurrent_constraint: constraints.ConstraintArg = None,
        bias_constraint: constraints.ConstraintArg = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        **kwargs: Any,
    ) -> None:
        cell, options = cell_and_options(ConvLSTMCell, {**locals(), "rank": self.rank})
        super().__init__(cell, **options)

    def __getattr__(self, name: str) -> Any:
        if name in _CONV_OPTIONS and "cell" in self.__dict__.get("_modules", {}):
            return getattr(self._modules["cell"], name)
        return super().__getattr__(name)

    @property
    def input_rank(self) -> int:  # type: ignore[override]
        return self.rank + 3

    @property
    def input_words(self) -> str:
        """`(samples, timesteps, rows, cols, channels)` for this rank and data format."""
        channels_last = getattr(self._modules.get("cell"), "channels_last", True)
        return "(samples, timesteps, " + _frame_words(self.rank, channels_last)[1:]

    @property
    def state_words(self) -> str:  # type: ignore[override]
        axes = ", ".join(_SPATIAL_WORDS[self.rank])
        if self.cell.channels_last:
            return f"(samples, {axes}, filters)"
        return f"(samples, filters, {axes})"

    def _wrong_rank(self, shape: tuple[int | None, ...]) -> str:
        advice = ""
        if len(shape) == self.input_rank - 1:
            advice = (
                " If each sample is one frame, add a timesteps axis: x[:, None]; if each frame "
                "has one channel, add a channels axis: x[..., None]."
            )
        return (
            f"{type(self).__name__} expects inputs of shape {self.input_words}; received a "
            f"{len(shape)}-D array of shape {shape_str(shape)}.{advice}"
        )

    def state_shapes(self) -> list[tuple[int, ...]]:
        return self.cell.state_shapes

    def _check_features(self, x: torch.Tensor) -> None:
        frame = tuple(x.shape[2:])
        if frame != self.cell.step_shape:
            raise ShapeError(
                f"{self.name} was built for frames of shape {shape_str(self.cell.step_shape)} "
                f"{_frame_words(self.rank, self.cell.channels_last)}; received inputs of shape "
                f"{shape_str(x.shape)}. Its weights and states keep the frame size they were "
                "built for, as Keras's ConvLSTM layers do."
            )

    def _as_mask(self, mask: Any, x: torch.Tensor) -> torch.Tensor | None:
        if mask is None:
            return None
        m = as_real_tensor(mask, "mask").to(x.device)
        if m.dim() <= 3:
            return super()._as_mask(m, x)
        # A Masking layer's mask `(samples, timesteps, *spatial)`: masks each position.
        spatial = self.cell.output_spatial
        if not self.cell.channels_last or tuple(m.shape) != (*x.shape[:2], *spatial):
            raise ShapeError(
                f"{self.name}: a mask must be (samples, timesteps) = {shape_str(x.shape[:2])}, or "
                f"per position (samples, timesteps, {', '.join(_SPATIAL_WORDS[self.rank])}) = "
                f"{shape_str((*x.shape[:2], *spatial))} on channels-last frames whose size the "
                f"convolution keeps; received {shape_str(m.shape)}. Mask whole steps instead, "
                "e.g. mask.flatten(2).any(-1)."
            )
        return m if m.dtype is torch.bool else m != 0

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        Layer._build_from_weights(self, weights)  # the frame size cannot come from the weights

    def compute_output_shape(self, input_shape: Any) -> Any:
        """`(samples, *spatial', filters)`, with timesteps after samples for `return_sequences`."""
        samples, timesteps, frame = input_shape[0], input_shape[1], tuple(input_shape[2:])
        cell = self.cell
        spatial = frame[:-1] if cell.channels_last else frame[1:]
        out = output_sizes(
            spatial, cell.padding, cell.kernel_size, cell.strides, cell.dilation_rate
        )
        state = (*out, cell.filters) if cell.channels_last else (cell.filters, *out)
        output = (samples, timesteps, *state) if self.return_sequences else (samples, *state)
        if not self.return_state:
            return output
        return [output, (samples, *state), (samples, *state)]

    def get_config(self) -> dict[str, Any]:
        # Keras's keys: the cell's options without `rank` (the class says it) or `use_cudnn`.
        config = super().get_config()
        for key in ("rank", "use_cudnn"):
            config.pop(key, None)
        return config


class ConvLSTM1D(ConvLSTM):
    """1-D convolutional LSTM over `(samples, timesteps, steps, channels)`.

    Args: as `ConvLSTM`'s.

    Shapes:
        inputs `(samples, timesteps, steps, channels)`; output `(samples, steps', filters)`,
        or `(samples, timesteps, steps', filters)` with `return_sequences=True`; with
        `return_state=True` also `h` and `c`, each `(samples, steps', filters)`.

    Example:
        >>> layer = ConvLSTM1D(2, 3, padding="same", return_sequences=True)
        >>> layer(torch.zeros(4, 5, 7, 1)).shape
        torch.Size([4, 5, 7, 2])
    """

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """2-D convolutional LSTM over frames `(samples, timesteps, rows, cols, channels)`.

    Args: as `ConvLSTM`'s.

    Weights:
        `kernel (kh, kw, channels, 4 * filters)`, `recurrent_kernel (kh, kw, filters,
        4 * filters)`, `bias (4 * filters,)`: gates i, f, c, o side by side, as Keras's.

    Shapes:
        inputs `(samples, timesteps, rows, cols, channels)`; output `(samples, rows', cols',
        filters)`, or `(samples, timesteps, rows', cols', filters)` with
        `return_sequences=True`; with `return_state=True` also `h` and `c`.

    Example:
        >>> layer = ConvLSTM2D(4, (3, 3), padding="same", return_sequences=True)
        >>> layer(torch.zeros(2, 3, 8, 8, 1)).shape
        torch.Size([2, 3, 8, 8, 4])
        >>> layer.last_path.name
        'loop'
    """

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """3-D convolutional LSTM over volumes `(samples, timesteps, depth, rows, cols, channels)`.

    Args: as `ConvLSTM`'s.

    Example:
        >>> layer = ConvLSTM3D(2, 3)
        >>> layer(torch.zeros(1, 2, 4, 4, 4, 1)).shape
        torch.Size([1, 2, 2, 2, 2])
    """

    rank = 3
