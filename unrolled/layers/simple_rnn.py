"""SimpleRNN: `h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)`."""

from __future__ import annotations

from typing import Any

from unrolled import activations, constraints, initializers, regularizers
from unrolled.compat import keras1_names
from unrolled.errors import ConfigError
from unrolled.layers.cell import KernelCell, Tensors, Weights
from unrolled.layers.recurrent import KERAS1_NAMES, RNN, cell_and_options
from unrolled.ops import cell_kinds
from unrolled.ops.steps import SimpleRNNStep, simple_rnn_step


class SimpleRNNCell(KernelCell):
    """One fully connected recurrent step with Keras's weights.

    Shapes:
        inputs `(samples, features)`; states `[h (samples, units)]`.
    """

    kind = cell_kinds.SIMPLE_RNN

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        if "recurrent_activation" in kwargs:
            raise ConfigError(
                "Unrecognized keyword argument `recurrent_activation`: a SimpleRNN has no gates, "
                "so it takes only `activation`."
            )
        super().__init__(units, activation=activation, **kwargs)
        self.state_size = self.units

    def _step(self, xs: Tensors, hs: Tensors, states: Tensors, weights: Weights) -> SimpleRNNStep:
        return simple_rnn_step(xs, hs, *weights, self.activation)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class SimpleRNN(RNN):
    """Fully connected recurrent layer, Keras 3 arguments and numbers, on `torch.rnn_tanh`/`rnn_relu`.

    Args:
        units: size of the output and of the state.
        activation: Keras's default tanh; "relu" also runs on torch's fused operator.
        other arguments: as `LSTM` (a SimpleRNN has no gates: no `recurrent_activation`,
            no `unit_forget_bias`).

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, units)` or
        `(samples, timesteps, units)`; with `return_state=True` the tuple `(output, h)`.

    Example:
        >>> SimpleRNN(4, return_sequences=True)(torch.zeros(2, 3, 1)).shape
        torch.Size([2, 3, 4])
    """

    @keras1_names(KERAS1_NAMES)
    def __init__(
        self,
        units: int,
        activation: activations.ActivationArg = "tanh",
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerArg = "glorot_uniform",
        recurrent_initializer: initializers.InitializerArg = "orthogonal",
        bias_initializer: initializers.InitializerArg = "zeros",
        kernel_regularizer: regularizers.RegularizerArg = None,
        recurrent_regularizer: regularizers.RegularizerArg = None,
        bias_regularizer: regularizers.RegularizerArg = None,
        activity_regularizer: regularizers.RegularizerArg = None,
        kernel_constraint: constraints.ConstraintArg = None,
        recurrent_constraint: constraints.ConstraintArg = None,
        bias_constraint: constraints.ConstraintArg = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        seed: int | None = None,
        use_cudnn: bool | str = "auto",
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        cell, options = cell_and_options(SimpleRNNCell, locals())
        super().__init__(cell, **options)
