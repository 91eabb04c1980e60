"""`Stepper`: a model's layers run with explicit states, the engine of rollouts.

Forecasting, seq2seq decoding, feedback generation and streaming all need the same
thing: run a chain of layers on a few timesteps, starting from given recurrent states,
and get the outputs and the new states back. The model's own `forward` cannot do that
(its states are zeros or stateful buffers), so the `Stepper` runs the layers itself:
each recurrent layer on torch's fused operator (the step loop where the fused one
cannot run), every other layer as it is, one step at a time.

Running the history in one call and then one step per call gives the same numbers as
a stateful model fed the same steps one call at a time, because state carries across.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from unrolled import activations
from unrolled.errors import ConfigError
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.cell import Cell
from unrolled.layers.cells_protocol import call_cell, state_sizes
from unrolled.layers.core import Activation, Dense
from unrolled.layers.dropout import Dropout
from unrolled.layers.embeddings import Embedding
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.masking import Masking
from unrolled.layers.recurrent import RNN
from unrolled.layers.time_distributed import TimeDistributed
from unrolled.ops.cell_kinds import FusedOperator
from unrolled.ops.fused import run_fused
from unrolled.ops.fused_step import run_fused_step
from unrolled.ops.loop import run_loop

# Layers that act on each timestep alone, so they step like they run.
POINTWISE = (Dense, Activation, Dropout, TimeDistributed, Embedding)

States = list[list[torch.Tensor]]  # one list per recurrent layer: [h, c] for an LSTM


class Stepper:
    """Runs `layers` (a chain) on `(samples, timesteps, features)` with explicit states.

    Args:
        layers: recurrent layers (not bidirectional, not `go_backwards`) and layers that act
            on each timestep alone (`Dense`, `TimeDistributed`, `Activation`, `Dropout`,
            `Embedding`, `Masking` with no step masked).
        name: the model's name, for messages.

    Call:
        `outputs, states = stepper(x, states)`; `states` None starts from zeros. Recurrent
        layers with `return_sequences=False` return the last step, as in the model.
    """

    def __init__(self, layers: Sequence[Any], name: str = "model") -> None:
        self.name = name
        self.layers = [layer for layer in layers if not isinstance(layer, InputLayer)]
        self.recurrent = [layer for layer in self.layers if isinstance(layer, RNN)]
        for layer in self.layers:
            _check_steppable(layer, name)
        if not self.recurrent:
            raise ConfigError(f"{name} has no recurrent layer, so there is no state to step.")
        last_sequence_ends = [i for i, r in enumerate(self.recurrent) if not r.return_sequences]
        if last_sequence_ends and last_sequence_ends[0] != len(self.recurrent) - 1:
            late = self.recurrent[last_sequence_ends[0]]
            raise ConfigError(
                f"{name}: {late.name} returns only its last step (return_sequences=False) but "
                "recurrent layers follow it, so the model cannot be stepped one timestep at a time."
            )

    @classmethod
    def of(cls, model: Any) -> Stepper:
        """The stepper of a `Sequential`, a single-chain functional `Model`, or a layer list."""
        if isinstance(model, (list, tuple)):
            return cls(model)
        name = getattr(model, "name", type(model).__name__)
        nodes = getattr(model, "_nodes", None)
        if nodes is None:
            return cls(list(model.layers), name)
        return cls(_chain_of(nodes, name), name)

    @property
    def state_sizes(self) -> list[list[int]]:
        return [state_sizes(layer.cell) for layer in self.recurrent]

    @property
    def stateful(self) -> bool:
        return any(layer.stateful for layer in self.recurrent)

    def zero_states(self, batch: int, like: torch.Tensor) -> States:
        """Zero states for `batch` rows, on `like`'s device and dtype."""
        return [[like.new_zeros(batch, size) for size in sizes] for sizes in self.state_sizes]

    def frozen(self) -> Callable[[torch.Tensor, States | None], tuple[torch.Tensor, States]]:
        """The same computation with the weights read once, for inference loops.

        Each generated step then costs the fused operator and a matrix product, with no
        per-layer bookkeeping. Valid while the weights do not change (no training).
        """
        stages = [_frozen_stage(layer, self.name) for layer in self.layers]

        def run(x: torch.Tensor, states: States | None = None) -> tuple[torch.Tensor, States]:
            new_states: States = []
            for recurrent, stage in stages:
                if recurrent:
                    given = None if states is None else states[len(new_states)]
                    x, final = stage(x, given)
                    new_states.append(final)
                else:
                    x = stage(x)
            return x, new_states

        return run

    def __call__(
        self, x: torch.Tensor, states: States | None = None
    ) -> tuple[torch.Tensor, States]:
        new_states: States = []
        recurrent_index = 0
        for layer in self.layers:
            if isinstance(layer, RNN):
                given = None if states is None else states[recurrent_index]
                x, final = _last_if(layer, *_run_recurrent(layer, x, given))  # (B, T or 1, U)
                new_states.append(final)
                recurrent_index += 1
            elif isinstance(layer, Masking):
                _refuse_masked_steps(layer, x, self.name)
            else:
                x = layer(x)
        return x, new_states


def _run_recurrent(
    layer: RNN, x: torch.Tensor, states: list[torch.Tensor] | None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    cell = layer._cell()
    x = x.to(layer._reference_weight().dtype)
    if layer.input_features is not None and x.shape[-1] != layer.input_features:
        layer._check_features(x)
    dropout_active = layer.training and (
        getattr(cell, "dropout", 0.0) or getattr(cell, "recurrent_dropout", 0.0)
    )
    operator = cell.fused_operator() if isinstance(cell, Cell) else None
    if isinstance(operator, FusedOperator) and not dropout_active:
        return run_fused(
            operator, x, states, cell.fused_params(), cell.state_size, final_states=True
        )
    if states is None:
        states = [x.new_zeros(x.shape[0], size) for size in state_sizes(cell)]
    try:
        step = lambda x_t, s: call_cell(cell, x_t, s, layer.training)  # noqa: E731
        return run_loop(step, x, states, None)
    finally:
        if isinstance(cell, Cell):
            cell.reset_dropout_masks()


def _frozen_stage(layer: Any, model: str) -> tuple[bool, Callable[..., Any]]:
    """`(is_recurrent, function)` for one layer, its weights read now."""
    if isinstance(layer, RNN):
        cell = layer._cell()
        kind = cell.fused_operator() if isinstance(cell, Cell) else None
        if not isinstance(kind, FusedOperator):
            return True, lambda x, states: _last_if(layer, *_run_recurrent(layer, x, states))
        # Contiguous copies, made once: the operator runs slower on transposed views.
        params = [p.detach().contiguous() for p in cell.fused_params()]
        size = cell.state_size

        sizes = [size] if isinstance(size, int) else list(size)

        def recurrent(x: torch.Tensor, states: list[torch.Tensor] | None) -> Any:
            if x.shape[1] != 1:
                return _last_if(layer, *run_fused(kind, x, states, params, size, final_states=True))
            if states is None:
                states = [x.new_zeros(x.shape[0], s) for s in sizes]
            h, final = run_fused_step(kind, x[:, 0], states, params)  # (B, U)
            return (h[:, None] if layer.return_sequences else h), final

        return True, recurrent
    dense = layer.layer if isinstance(layer, TimeDistributed) else layer
    if isinstance(dense, Dense):
        weight = dense.kernel.detach().t().contiguous()  # (units, features): torch layout
        bias = None if dense.bias is None else dense.bias.detach()
        if activations.name_of(dense.activation) == "linear":
            return False, lambda x: F.linear(x, weight, bias)
        return False, lambda x: dense.activation(F.linear(x, weight, bias))
    if isinstance(layer, Masking):
        return False, lambda x: _refuse_masked_steps(layer, x, model) or x
    return False, layer


def _last_if(layer: RNN, outputs: torch.Tensor, final: list[torch.Tensor]) -> Any:
    return (outputs if layer.return_sequences else outputs[:, -1]), final


def _check_steppable(layer: Any, model: str) -> None:
    if isinstance(layer, Bidirectional):
        raise ConfigError(
            f"{model}: {layer.name} is bidirectional; its backward half needs the whole future, "
            "so the model cannot run one timestep at a time."
        )
    if isinstance(layer, RNN):
        if layer.go_backwards:
            raise ConfigError(
                f"{model}: {layer.name} has go_backwards=True; it needs the whole sequence, so "
                "the model cannot run one timestep at a time."
            )
        return
    if not isinstance(layer, (*POINTWISE, Masking)):
        raise ConfigError(
            f"{model}: {getattr(layer, 'name', type(layer).__name__)} ({type(layer).__name__}) "
            "may mix timesteps, so the model cannot run one timestep at a time. Steppable "
            "layers: recurrent layers, Dense, TimeDistributed, Activation, Dropout, Embedding, Masking."
        )


def _refuse_masked_steps(layer: Masking, x: torch.Tensor, model: str) -> None:
    if bool((x == layer.mask_value).all(dim=-1).any()):
        raise ConfigError(
            f"{model}: a step equals {layer.name}'s mask_value={layer.mask_value} in every feature, "
            "and rollouts do not skip masked steps. Give the history without padding."
        )


def _chain_of(nodes: Sequence[Any], model: str) -> list[Any]:
    """The layers of a functional graph that is one chain: each call feeds only the next."""
    layers: list[Any] = []
    previous_outputs: list[Any] | None = None
    for node in nodes:
        if isinstance(node.layer, InputLayer):
            previous_outputs = list(node.outputs)
            continue
        parents = list(node.parents())
        if (
            len(parents) != 1
            or len(node.outputs) != 1
            or previous_outputs is None
            or parents[0] is not previous_outputs[0]
            or node.kwargs
        ):
            raise ConfigError(
                f"{model} is not a single chain of layers (at {node.layer.name}); rollouts step "
                "a chain from one input to one output."
            )
        layers.append(node.layer)
        previous_outputs = list(node.outputs)
    return layers
