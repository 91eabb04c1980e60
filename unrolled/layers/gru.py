"""GRU: the cell math (gates z, r, h, as Keras orders them) and the layer."""

from __future__ import annotations

from typing import Any

from unrolled import activations, constraints, initializers, regularizers
from unrolled.compat import keras1_names
from unrolled.layers.cell import KernelCell, Tensors, Weights
from unrolled.layers.recurrent import KERAS1_NAMES, RNN, cell_and_options
from unrolled.ops import cell_kinds
from unrolled.ops.cell_kinds import CellKind
from unrolled.ops.steps import GRUStep, gru_step


class GRUCell(KernelCell):
    """One GRU step with Keras's weights and gate order (update z, reset r, candidate h).

    With `reset_after=True` (Keras 3's default, and torch's and cuDNN's formula) the
    reset gate multiplies the recurrent candidate after its matmul, and the bias has
    two rows, `(2, 3 * units)`: input bias and recurrent bias. With `reset_after=False`
    it multiplies `h` before the matmul and the bias is `(3 * units,)`.

    Shapes:
        inputs `(samples, features)`; states `[h (samples, units)]`.
    """

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)
        self.state_size = self.units

    @property
    def kind(self) -> CellKind:  # type: ignore[override]
        return cell_kinds.GRU if self.reset_after else cell_kinds.GRU_RESET_BEFORE

    def _step(self, xs: Tensors, hs: Tensors, states: Tensors, weights: Weights) -> GRUStep:
        options = (self.reset_after, self.activation, self.recurrent_activation)
        return gru_step(xs, hs, states[0], *weights, *options)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}


class GRU(RNN):
    """Gated Recurrent Unit layer, Keras 3 arguments and numbers, on `torch.gru`.

    Args:
        units: size of the output and of the state.
        reset_after: Keras 3's default True matches torch and cuDNN; False is the
            original formula (step loop only).
        other arguments: as `LSTM` (a GRU has no `unit_forget_bias`).

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, units)` or
        `(samples, timesteps, units)`; with `return_state=True` the tuple `(output, h)`.

    Example:
        >>> GRU(8)(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 8])
    """

    @keras1_names(KERAS1_NAMES)
    def __init__(
        self,
        units: int,
        activation: activations.ActivationArg = "tanh",
        recurrent_activation: activations.ActivationArg = "sigmoid",
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
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        reset_after: bool = True,
        use_cudnn: bool | str = "auto",
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        cell, options = cell_and_options(GRUCell, locals())
        super().__init__(cell, **options)
