"""`Cell`: one recurrent step, the unit that `RNN` loops over time.

A cell is Keras's contract: `state_size`, `build(input_shape)` and
`call(inputs, states, training=False) -> (output, new_states)`. Subclass it for a
cell of your own; `add_weight` creates parameters as Keras's does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled import activations, constraints, initializers, regularizers
from unrolled.errors import ConfigError, positive_int, rate
from unrolled.layers.base import Layer
from unrolled.ops import tracing
from unrolled.ops.cell_kinds import CellKind, FusedOperator
from unrolled.ops.weights import fused_params


class Cell(Layer):
    """Base class for recurrent cells.

    Subclasses set `state_size` (an int or a list of ints) and implement `build` and
    `call`. `fused_operator()` gives the torch operator that can run the whole sequence
    at once, or says why this configuration cannot use one.
    """

    state_size: int | list[int]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dropout = 0.0
        self.recurrent_dropout = 0.0
        self.seed: int | None = None
        self._generator: torch.Generator | None = None
        self._input_masks: list[torch.Tensor] | None = None
        self._recurrent_masks: list[torch.Tensor] | None = None

    @property
    def output_size(self) -> int:
        size = self.state_size
        return size if isinstance(size, int) else size[0]

    def forward(
        self, inputs: torch.Tensor, states: Sequence[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One step: `inputs (B, F)` and states `[(B, S), ...]` to output and new states."""
        if not self.built:
            self.build(tuple(inputs.shape))
        return self.call(inputs, list(states), training=training)

    def call(
        self, inputs: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def project_sequence(self, inputs: torch.Tensor, training: bool = False) -> torch.Tensor | None:
        """The input side of every step at once, `(B, T, ...)`, or None to step on the inputs.

        A cell whose input projection does not depend on the state (ConvLSTM's convolution)
        returns it, so the step loop computes it in one batched call and `call_projected`
        takes each step from it.
        """
        return None

    def call_projected(
        self, projected: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One step from this step's slice of `project_sequence`'s result."""
        raise NotImplementedError

    def get_initial_state(self, batch_size: int) -> list[torch.Tensor]:
        sizes = [self.state_size] if isinstance(self.state_size, int) else self.state_size
        reference = next(self.parameters(), None)
        options = (
            {} if reference is None else {"device": reference.device, "dtype": reference.dtype}
        )
        return [torch.zeros(batch_size, size, **options) for size in sizes]

    def fused_operator(self) -> FusedOperator | str:
        """The torch operator that runs this configuration's whole sequence, or why none can."""
        return "a user-defined cell has no fused torch operator"

    def fused_blocker(self) -> str | None:
        """Why this cell's configuration cannot use a fused operator, or None if it can."""
        found = self.fused_operator()
        return found if isinstance(found, str) else None

    def path_options(self) -> tuple[Any, ...]:
        """Every attribute `fused_operator()` reads: a layer's choice of path is kept per value."""
        return ()

    def fused_params(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Any = "glorot_uniform",
        trainable: bool = True,
    ) -> nn.Parameter:
        """Creates, registers and returns a parameter, like Keras's `add_weight`."""
        init = initializers.get(initializer, f"{name} initializer")
        reference = getattr(self, "_build_device", None)
        value = initializers.initial_value(init, shape, f"{name} initializer").to(
            device=reference, dtype=self.variable_dtype
        )
        parameter = nn.Parameter(value, requires_grad=trainable and self.trainable)
        self.register_parameter(name, parameter)
        return parameter

    # -- variational dropout: one mask per call (Keras), reused at every step -----------------
    def _init_dropout(self, dropout: float, recurrent_dropout: float, seed: int | None) -> None:
        self.dropout = rate(dropout, "dropout")
        self.recurrent_dropout = rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self._generator = None if seed is None else torch.Generator().manual_seed(int(seed))

    def _masks(self, like: torch.Tensor, drop: float, count: int) -> list[torch.Tensor]:
        keep = 1.0 - drop
        probabilities = torch.full((count, *like.shape), keep, dtype=like.dtype)
        if self._generator is None:
            sample = torch.bernoulli(probabilities.to(like.device))
        else:  # seeded draws are made on the CPU so a seed means the same masks on any device
            sample = torch.bernoulli(probabilities, generator=self._generator).to(like.device)
        return list(sample / keep)

    def input_dropout_masks(
        self, inputs: torch.Tensor, count: int, training: bool
    ) -> list[torch.Tensor] | None:
        """`count` masks over `inputs (B, F)` for this call, or None when dropout is off."""
        if not (training and 0.0 < self.dropout < 1.0):  # Keras ignores a rate of exactly 1
            return None
        if self._input_masks is None:
            self._input_masks = self._masks(inputs, self.dropout, count)
        return self._input_masks

    def recurrent_dropout_masks(
        self, h: torch.Tensor, count: int, training: bool
    ) -> list[torch.Tensor] | None:
        """`count` masks over the previous output `h (B, U)`, or None when recurrent dropout is off."""
        if not (training and 0.0 < self.recurrent_dropout < 1.0):
            return None
        if self._recurrent_masks is None:
            self._recurrent_masks = self._masks(h, self.recurrent_dropout, count)
        return self._recurrent_masks

    def reset_dropout_masks(self) -> None:
        """Forgets this call's masks; the layer calls it after every sequence."""
        if self._input_masks is not None or self._recurrent_masks is not None:  # assignment is slow
            self._input_masks = None
            self._recurrent_masks = None


Tensors = list[torch.Tensor]
Weights = Sequence[Any]  # (kernel, recurrent_kernel, bias or None)


class KernelCell(Cell):
    """A cell of one `CellKind` with Keras's `kernel`, `recurrent_kernel` and `bias`.

    The options LSTM, GRU and SimpleRNN cells share, declared once; subclasses set `kind`
    and implement `step` (the kind's pure step function, `ops.steps`).
    """

    kind: CellKind
    # Keras draws one input mask per gate only under recurrent dropout; its ConvLSTM always does.
    input_mask_per_gate = False

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = positive_int(units, "units")
        # Keras's choice between one matmul and one per gate; it never changes the results
        # (ops.steps takes one per gate only where dropout masks differ), so, as in Keras 3,
        # it is accepted, kept, and not part of the config.
        if implementation not in (0, 1, 2) or isinstance(implementation, bool):
            raise ConfigError(
                f"`implementation` must be 0, 1 or 2 (Keras's choice of matmuls, which never "
                f"changes the results). Received: implementation={implementation!r}"
            )
        self.implementation = int(implementation)
        self.activation = activations.get(activation, "activation")
        self.recurrent_activation = activations.get(recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        # Initializers are checked now and applied at build time.
        for argument, value in [
            ("kernel_initializer", kernel_initializer),
            ("recurrent_initializer", recurrent_initializer),
            ("bias_initializer", bias_initializer),
        ]:
            initializers.get(value, argument)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        # Applied by the training loop through Layer.regularization_losses/apply_constraints.
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.recurrent_regularizer = regularizers.get(
            recurrent_regularizer, "recurrent_regularizer"
        )
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.recurrent_constraint = constraints.get(recurrent_constraint, "recurrent_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")
        self._init_dropout(dropout, recurrent_dropout, seed)
        self.kernel: nn.Parameter
        self.recurrent_kernel: nn.Parameter
        self.register_parameter("bias", None)  # replaced at build when use_bias

    @property
    def weights(self) -> list[nn.Parameter]:
        """`[kernel, recurrent_kernel(, bias)]`: Keras's order."""
        if not self.built:
            return []
        return [self.kernel, self.recurrent_kernel] + ([self.bias] if self.bias is not None else [])

    def build(self, input_shape: Sequence[int | None]) -> None:
        features = input_shape[-1]
        if features is None:
            raise ConfigError(
                f"{self.name}: the features axis of the input must be known to build."
            )
        gates_units = self.kind.gate_count * self.units
        self.add_weight("kernel", (features, gates_units), self.kernel_initializer)
        self.add_weight("recurrent_kernel", (self.units, gates_units), self.recurrent_initializer)
        if self.use_bias:
            self.add_weight("bias", self.kind.bias_shape(self.units), self._bias_initial_value())
        self.built = True

    def step(
        self,
        inputs: torch.Tensor,
        states: list[torch.Tensor],
        training: bool = False,
        weights: Sequence[torch.Tensor | None] | None = None,
    ) -> Any:
        """One step with every gate: the kind's step record (`ops.steps`), e.g. `LSTMStep`.

        `weights`: `(kernel, recurrent_kernel, bias)` to use instead of the cell's own (the
        explain module passes float64 copies).
        """
        xs, hs = self._dropped_out(inputs, states[0], training)
        own = (self.kernel, self.recurrent_kernel, self.bias)
        return self._step(xs, hs, states, own if weights is None else weights)

    def _step(self, xs: Tensors, hs: Tensors, states: Tensors, weights: Weights) -> Any:
        """The kind's pure step function (`ops.steps`) on these inputs, states and weights."""
        raise NotImplementedError

    def call(
        self, inputs: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        values = self.step(inputs, states, training)
        return values.h, [getattr(values, name) for name in self.kind.states]

    def _dropped_out(
        self, inputs: torch.Tensor, h_prev: torch.Tensor, training: bool
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """`(xs, hs)` for a step function: one input and one `h_prev` per dropout mask.

        Keras uses one input mask unless recurrent dropout (or `input_mask_per_gate`) asks
        for one per gate.
        """
        gates = self.kind.gate_count
        per_gate = self.input_mask_per_gate or self.recurrent_dropout > 0
        x_masks = self.input_dropout_masks(inputs, gates if per_gate else 1, training)
        h_masks = self.recurrent_dropout_masks(h_prev, gates, training)
        xs = [inputs] if x_masks is None else [inputs * m for m in x_masks]
        hs = [h_prev] if h_masks is None else [h_prev * m for m in h_masks]
        return xs, hs

    def _bias_initial_value(self) -> Any:
        return self.bias_initializer

    def _transposed_params(self) -> list[torch.Tensor]:
        """`weights.fused_params` of the kind: the fused operator's views or copies.

        Without autograd (inference) they are kept between calls, stamped with each
        weight's storage, device, shape and version: a weight that gets new storage or a new
        shape (`.to()`, `.data = ...`) or changes in place (`set_weights`, an optimizer step;
        a gathered GRU copy would not show it) makes them again.
        """
        weights = self._parameters  # read directly: attribute lookups cost on every call
        kernel, recurrent, bias = weights["kernel"], weights["recurrent_kernel"], weights["bias"]
        kind = self.kind
        if torch.is_grad_enabled() or not tracing.may_keep(kernel):
            # fresh views: gradients reach the weights, and nothing traced is kept
            return fused_params(kind, kernel, recurrent, bias, self._zero_bias(bias))
        stamp = [kind] + [
            (w.data_ptr(), w.device, w.shape, w._version)
            for w in (kernel, recurrent, bias)
            if w is not None
        ]
        kept = self.__dict__.get("_kept_views")
        if kept is None or kept[0] != stamp:
            kept = (stamp, fused_params(kind, kernel, recurrent, bias, self._zero_bias(bias)))
            self.__dict__["_kept_views"] = kept
        return kept[1]

    def _zero_bias(self, bias: torch.Tensor | None) -> torch.Tensor | None:
        """Zeros shaped like `bias`, for torch's second bias (Keras has one); kept when allowed."""
        if bias is None or self.kind.bias_rows == 2:  # two rows: no zeros needed
            return None
        if not tracing.may_keep(bias):
            return torch.zeros_like(bias)
        # Inference-mode zeros cannot be saved for backward, so the mode is part of the key.
        key = (bias.shape, bias.device, bias.dtype, torch.is_inference_mode_enabled())
        kept = self.__dict__.get("_kept_zero_bias")
        if kept is None or kept[0] != key:
            kept = (key, torch.zeros_like(bias))  # not a buffer: never saved
            self.__dict__["_kept_zero_bias"] = kept
        return kept[1]

    def fused_operator(self) -> FusedOperator | str:
        return self.kind.fused_operator(
            activations.serialize(self.activation),
            activations.serialize(self.recurrent_activation),
        )

    def path_options(self) -> tuple[Any, ...]:
        return (self.kind, self.activation, self.recurrent_activation)

    def fused_params(self) -> list[torch.Tensor]:
        """The fused operator's `[w_ih, w_hh(, b_ih, b_hh)]`, views of the Keras weights."""
        return self._transposed_params()

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "recurrent_initializer": self.recurrent_initializer,
            "bias_initializer": self.bias_initializer,
            "kernel_regularizer": self.kernel_regularizer,
            "recurrent_regularizer": self.recurrent_regularizer,
            "bias_regularizer": self.bias_regularizer,
            "kernel_constraint": self.kernel_constraint,
            "recurrent_constraint": self.recurrent_constraint,
            "bias_constraint": self.bias_constraint,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
