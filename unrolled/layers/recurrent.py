"""`RNN(cell)`: runs a cell over time with Keras's options, on the fastest path that is exact.

The path is chosen in one place, `choose_path`, and recorded in `last_path`:
    fused         torch's fused operator over the whole batch
    fused-packed  the same operator on each row's valid steps, packed (masked input)
    loop          the step loop over `cell.call` (the reference)
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str
from unrolled.layers.base import Layer, layer_from_spec
from unrolled.layers.cell import Cell
from unrolled.layers.cells_protocol import (
    build_cell,
    built_input_features,
    call_cell,
    check_cell,
    state_sizes,
)
from unrolled.layers.keras2_paths import keras2_names
from unrolled.layers.stacked import StackedRNNCells
from unrolled.layers.symbolic import flatten
from unrolled.ops import tracing
from unrolled.ops.cell_kinds import FusedOperator
from unrolled.ops.convert import as_real_tensor
from unrolled.ops.fused import every_step_valid, host_mask, run_fused, run_fused_masked
from unrolled.ops.loop import run_loop
from unrolled.ops.masks import zero_masked_steps

# Cell options a Keras user reads off the layer (`layer.units`, `layer.dropout`, ...).
_CELL_OPTIONS = frozenset(
    "units activation recurrent_activation use_bias unit_forget_bias reset_after dropout "
    "recurrent_dropout seed kernel_initializer recurrent_initializer bias_initializer "
    "kernel_regularizer recurrent_regularizer bias_regularizer kernel_constraint "
    "recurrent_constraint bias_constraint state_size output_size implementation".split()
)


_LAYER_OPTIONS = frozenset({"name", "trainable", "dtype", "activity_regularizer"})

# Keras 1 argument names of LSTM, GRU and SimpleRNN and their Keras 3 spelling, as Keras 2's
# legacy support renamed them (Keras 3 refuses the old ones).
KERAS1_NAMES = {
    "output_dim": "units",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
}


class Path(NamedTuple):
    """Which compute path a call takes, and why."""

    name: str  # "fused", "fused-packed" or "loop"
    reason: str


class RNN(Layer):
    """Runs a cell, a user cell or a list of cells (stacked) over `(samples, timesteps, features)`.

    Args:
        cell: a `Cell`, any object with `call(inputs, states) -> (output, new_states)` and
            `state_size`, or a list of them (run as `StackedRNNCells`).
        return_sequences: return the output at every step `(samples, timesteps, units)`
            (many-to-many) instead of the last one `(samples, units)` (many-to-one).
        return_state: also return the final states, as `(output, *states)`.
        go_backwards: process the sequence in reverse; outputs come in processing order.
        stateful: keep each batch row's final states as the next call's initial states
            (for batches that continue the previous batch row by row).
        unroll: accepted for Keras compatibility; it never changes results.
        zero_output_for_mask: masked steps output zeros instead of repeating the last output.
        use_cudnn: "auto" takes the fused operator where exact, False forces the step
            loop, True raises if the fused operator cannot be used.

    Call:
        `layer(inputs, mask=None, training=None, initial_state=None)`. A masked step leaves
        the states unchanged and repeats the previous output (zeros before the first
        valid step).

    Keras differences: `training=None` follows the module's `train()`/`eval()` mode, as in
    PyTorch; it only matters for dropout.
    """

    supports_masking = True
    # The input's rank and its axes in words; a convolutional subclass (ConvLSTM) adds
    # spatial axes to the inputs and the states.
    input_rank = 3
    state_words = "(samples, units)"

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_cudnn: bool | str = "auto",
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, (list, tuple)):
            for each in cell:
                check_cell(each)
            cell = StackedRNNCells(cell)
        check_cell(cell)
        input_length = kwargs.pop("input_length", None)
        if input_length is not None:
            warnings.warn(
                f"{type(self).__name__}: `input_length` was removed in Keras 3; use "
                f"`input_shape=({input_length}, features)` or `Input((timesteps, features))`.",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        if self.batch_shape is not None and len(self.batch_shape) == 2:
            # Keras 2's `input_dim=F` (and `input_length=T`) on an RNN meant (samples, T, F).
            self.batch_shape = (self.batch_shape[0], input_length, self.batch_shape[1])
        if use_cudnn not in ("auto", True, False):
            raise ConfigError(
                f"Argument `use_cudnn` must be 'auto', True or False. Received: {use_cudnn!r}"
            )
        self.cell = cell
        for module in cell.modules() if isinstance(cell, torch.nn.Module) else ():
            if isinstance(module, Layer) and module.variable_dtype is None:
                module.variable_dtype = self.variable_dtype  # the layer's dtype= is its cell's
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.use_cudnn = use_cudnn
        self.input_features: int | None = None
        self.last_path: Path | None = None
        self._state_names: list[str] = []
        if self.batch_shape is not None and len(self.batch_shape) == self.input_rank:
            self.build_from_hint()

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in _CELL_OPTIONS and "cell" in self.__dict__.get("_modules", {}):
                return getattr(self._modules["cell"], name)
            raise

    @property
    def weights(self) -> list[torch.nn.Parameter]:
        """The cell's weights in Keras's `get_weights()` order."""
        if isinstance(self.cell, Cell):
            return self.cell.weights
        return list(self.cell.parameters()) if isinstance(self.cell, torch.nn.Module) else []

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape)
        if len(shape) != self.input_rank:
            raise ShapeError(f"{self.name}: {self._wrong_rank(shape)}")
        if shape[-1] is None:
            raise ShapeError(
                f"{self.name}: the features axis must be known to build; received {shape_str(shape)}."
            )
        features = int(shape[-1])
        built_for = built_input_features(self.cell)
        if built_for is not None and built_for != features:
            raise ShapeError(
                f"{self.name}: its cell was built for {built_for} features per timestep; received "
                f"input shape {shape_str(shape)} with {features}. Inputs are (samples, timesteps, features)."
            )
        self.input_features = features
        build_cell(self.cell, (shape[0], *shape[2:]))  # one step: (samples, features)
        if self.stateful and shape[0] is not None:
            self._create_states(int(shape[0]))
        self.built = True
        self._apply_trainable()

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        if not weights or np.ndim(weights[0]) != 2:
            super()._build_from_weights(weights)
        batch = self.batch_shape[0] if self.batch_shape else None
        self.build((batch, None, int(np.shape(weights[0])[0])))

    # -- the call ---------------------------------------------------------------------------
    def forward(
        self,
        inputs: Any,
        mask: Any = None,
        training: bool | None = None,
        initial_state: Any = None,
    ) -> torch.Tensor | tuple[Any, ...]:
        x = self._as_input(inputs)  # (B, T, F)
        if not self.built:
            self.build((x.shape[0] if self.stateful else None, *x.shape[1:]))
            self.to(x.device)
        self._check_features(x)
        cell = self._cell()
        mask = self._as_mask(mask, x)  # (B, T) bool or None
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        traced = tracing.is_traced(x)  # a trace cannot read the mask on the host
        # read once, on the host; a per-position mask (ConvLSTM's from Masking) only loops
        host = None if mask is None or traced or mask.dim() > 2 else host_mask(mask)
        if host is not None and every_step_valid(host):
            mask = None  # every step valid: the unmasked computation is the same
        training = self.training if training is None else bool(training)
        states = self._initial_states(x, initial_state)  # None: zeros, made where they are used

        path, operator = self._choose(mask is not None, training, traced)
        # Masked on the fused path, only the last output wanted: the run returns it alone `(B, U)`.
        last_only = (
            mask is not None
            and path.name != "loop"
            and not (self.return_sequences or self.zero_output_for_mask)
        )
        try:
            if path.name == "loop":
                # A cell may give the input side of every step at once (ConvLSTM).
                projected = cell.project_sequence(x, training) if isinstance(cell, Cell) else None
                if projected is None:
                    sequence = x
                    step = lambda x_t, s: call_cell(cell, x_t, s, training)  # noqa: E731
                else:
                    sequence = projected
                    step = lambda z_t, s: cell.call_projected(z_t, s, training)  # noqa: E731
                outputs, final = run_loop(step, sequence, states or self._zero_states(x), mask)
            else:
                x_run = self._apply_input_dropout(cell, x) if training and cell.dropout else x
                params = cell.fused_params()
                keep_states = self.return_state or self.stateful
                if mask is None:
                    run, arguments = run_fused, (cell.state_size, keep_states)
                else:
                    run, arguments = run_fused_masked, (mask, keep_states, last_only, host)
                if tracing.under_torch_compile():
                    outputs, final = tracing.run_outside_the_graph(
                        run, operator, x_run, states, params, *arguments
                    )
                else:
                    outputs, final = run(operator, x_run, states, params, *arguments)
        finally:
            if isinstance(cell, Cell):
                cell.reset_dropout_masks()
        if path is not self.last_path:  # assigning to a module attribute is slow; most calls repeat
            self.last_path = path

        if self.zero_output_for_mask and mask is not None:
            outputs = zero_masked_steps(outputs, mask)  # (B, T, U)
        if self.stateful:
            self._keep_states(final)
        if last_only or self.return_sequences:
            output = outputs
        else:
            output = outputs.select(1, -1)  # one view; `[:, -1]` makes two
        if self.return_state:
            return (output, *self._group_states(final))
        return output

    def compute_output_shape(self, input_shape: Any) -> Any:
        """`(samples, units)` or `(samples, timesteps, units)`, then one `(samples, size)` per state."""
        samples, timesteps = input_shape[0], input_shape[1]
        units = getattr(self.cell, "output_size", None) or state_sizes(self.cell)[0]
        output = (samples, timesteps, units) if self.return_sequences else (samples, units)
        if not self.return_state:
            return output
        return [output, *((samples, size) for size in state_sizes(self.cell))]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input mask continues only with `return_sequences`; states never carry one."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(state_sizes(self.cell))
        return output_mask

    def choose_path(
        self, masked: bool = False, training: bool = False, traced: bool = False
    ) -> Path:
        """The compute path a call with these properties takes, and the reason."""
        return self._choose(masked, training, traced)[0]

    def _choose(
        self, masked: bool, training: bool, traced: bool = False
    ) -> tuple[Path, FusedOperator | None]:
        # The answer depends only on the layer's and cell's options, so it is worked out
        # once per value of everything it reads (an activation set after a call included).
        cell = self._cell()
        recurrent_dropout = bool(training and 0.0 < getattr(cell, "recurrent_dropout", 0.0) < 1.0)
        options = cell.path_options() if isinstance(cell, Cell) else ()
        # torch.compile runs the masked fused call outside its graph; an export or a
        # jit.trace must record every operation, and the fused path reads the mask on the host.
        masked_trace = masked and traced and not tracing.under_torch_compile()
        half_on_cpu = self._half_on_cpu()
        key = (masked, recurrent_dropout, self.use_cudnn, masked_trace, half_on_cpu, options)
        cache = self.__dict__.setdefault("_kept_paths", {})
        if key not in cache:
            cache[key] = self._work_out_path(
                cell, masked, recurrent_dropout, masked_trace, half_on_cpu
            )
        return cache[key]

    def _half_on_cpu(self) -> bool:
        weight = self._reference_weight()
        return (
            weight is not None
            and weight.dtype in (torch.float16, torch.bfloat16)
            and weight.device.type == "cpu"
        )

    def _work_out_path(
        self,
        cell: Any,
        masked: bool,
        recurrent_dropout: bool,
        masked_trace: bool,
        half_on_cpu: bool,
    ) -> tuple[Path, FusedOperator | None]:
        if self.use_cudnn is False:
            return Path("loop", "use_cudnn=False asks for the step loop"), None
        if masked_trace:
            return Path("loop", "a masked call traced by torch.export or torch.jit.trace"), None
        if half_on_cpu:
            # oneDNN's 16-bit RNN kernels need CPU features (AVX-512 BF16, AMX) many lack.
            return Path("loop", "16-bit weights on the CPU: no portable fused kernel"), None
        if isinstance(cell, Cell):
            operator = cell.fused_operator()
        else:
            operator = "a user-defined cell has no fused torch operator"
        if not isinstance(operator, str) and recurrent_dropout:
            operator = "recurrent_dropout in training needs a fresh mask on h at every step"
        if isinstance(operator, str):
            if self.use_cudnn is True:
                raise ConfigError(
                    f"{self.name}: use_cudnn=True, but the fused operator cannot run: {operator}."
                )
            return Path("loop", operator), None
        name = f"torch.{operator.name}"
        if masked:
            reason = f"{name} on each row's valid steps (packed or moved to the front)"
            return Path("fused-packed", reason), operator
        return Path("fused", name), operator

    @staticmethod
    def _apply_input_dropout(cell: Any, x: torch.Tensor) -> torch.Tensor:
        masks = cell.input_dropout_masks(x[:, 0], 1, True)
        return x if masks is None else x * masks[0].unsqueeze(1)  # same mask at every step

    # -- checks at the boundary ---------------------------------------------------------------
    def _as_input(self, inputs: Any) -> torch.Tensor:
        kind = type(self).__name__
        x = as_real_tensor(inputs, "inputs")
        if x.dim() != self.input_rank:
            raise ShapeError(self._wrong_rank(tuple(x.shape)))
        if 0 in x.shape:
            raise ShapeError(
                f"{kind} needs at least one sample, one timestep and one feature; received inputs "
                f"of shape {shape_str(x.shape)} (samples, timesteps, features)."
            )
        reference = self._reference_weight()
        if reference is None:  # float64 and ints become the layer's dtype (float32), as in Keras
            return x.to(self.variable_dtype or torch.get_default_dtype())
        same_device = x.device == reference.device
        if same_device and x.dtype is reference.dtype:
            return x
        if not same_device and isinstance(inputs, torch.Tensor):
            raise ConfigError(
                f"{self.name}: inputs are on {x.device} but the weights are on {reference.device}; "
                f"move one of them, e.g. inputs.to('{reference.device}')."
            )
        return x.to(device=reference.device, dtype=reference.dtype)

    def _wrong_rank(self, shape: tuple[int | None, ...]) -> str:
        """What this layer expects, said for an input `shape` of the wrong rank."""
        return _rank_message(type(self).__name__, shape)

    def state_shapes(self) -> list[tuple[int, ...]]:
        """Each state's shape after the samples axis: `(units,)`; a ConvLSTM's has spatial axes."""
        return [(size,) for size in state_sizes(self.cell)]

    def _cell(self) -> Any:
        # The cell straight from the module's dictionaries: `self.cell` goes through two
        # __getattr__ calls, which cost microseconds on every call.
        cell = self._modules.get("cell")
        return cell if cell is not None else self.__dict__["cell"]

    def _reference_weight(self) -> torch.Tensor | None:
        # The cell's own first weight gives device and dtype without walking every module.
        cell = self._modules.get("cell")
        if cell is not None:
            for weight in cell._parameters.values():
                if weight is not None:
                    return weight
        return next(self.parameters(), None)

    def _check_features(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.input_features:
            raise ShapeError(
                f"{self.name} was built for {self.input_features} features per timestep; received "
                f"inputs of shape {shape_str(x.shape)} with {x.shape[-1]}. "
                "Inputs are (samples, timesteps, features)."
            )

    def _as_mask(self, mask: Any, x: torch.Tensor) -> torch.Tensor | None:
        if mask is None:
            return None
        m = as_real_tensor(mask, "mask")
        if m.dim() == 3 and m.shape[-1] == 1:
            m = m.squeeze(-1)
        expected = (x.shape[0], x.shape[1])
        if tuple(m.shape) != expected:
            raise ShapeError(
                f"{self.name}: mask must have shape (samples, timesteps) = {shape_str(expected)}; "
                f"received {shape_str(m.shape)}."
            )
        if m.dtype is not torch.bool:
            m = m != 0  # Keras casts masks to bool
        return m if m.device == x.device else m.to(x.device)

    def _initial_states(self, x: torch.Tensor, initial_state: Any) -> list[torch.Tensor] | None:
        batch = x.shape[0]
        if self.stateful:
            self._check_stateful_batch(batch)
        if initial_state is None:
            if self.stateful:
                return [getattr(self, name) for name in self._state_names]
            return None
        given = flatten(initial_state)
        shapes = self.state_shapes()
        if len(given) != len(shapes):
            raise ShapeError(
                f"{self.name} expects `initial_state` to hold {len(shapes)} state(s) of shapes "
                f"{', '.join(shape_str((batch, *s)) for s in shapes)}; received {len(given)}."
            )
        states = []
        for index, (value, shape) in enumerate(zip(given, shapes)):
            state = as_real_tensor(value, f"initial_state[{index}]")
            if tuple(state.shape) != (batch, *shape):
                raise ShapeError(
                    f"{self.name}: initial_state[{index}] must have shape {self.state_words} = "
                    f"{shape_str((batch, *shape))}; received {shape_str(state.shape)}."
                )
            states.append(state.to(device=x.device, dtype=x.dtype))
        return states

    def _zero_states(self, like: torch.Tensor) -> list[torch.Tensor]:
        return [like.new_zeros(like.shape[0], *shape) for shape in self.state_shapes()]

    # -- stateful buffers ---------------------------------------------------------------------
    def _create_states(self, batch: int) -> None:
        reference = next(self.parameters(), None)
        options = (
            {} if reference is None else {"device": reference.device, "dtype": reference.dtype}
        )
        shapes = self.state_shapes()
        self._state_names = [f"state_{i}" for i in range(len(shapes))]
        for name, shape in zip(self._state_names, shapes):
            self.register_buffer(name, torch.zeros(batch, *shape, **options))

    def _check_stateful_batch(self, batch: int) -> None:
        if not self._state_names:
            self._create_states(batch)
            return
        expected = getattr(self, self._state_names[0]).shape[0]
        if batch != expected:
            raise ShapeError(
                f"{self.name} is stateful: it keeps one state per batch row so that row i of the "
                f"next batch continues row i of this one, which fixes the batch size at {expected}. "
                f"Received a batch of {batch} samples. Feed batches of exactly {expected} (drop or pad "
                f"the last one), or call reset_states(batch_size={batch}) to start over at the new size."
            )

    def _keep_states(self, final: list[torch.Tensor]) -> None:
        # Detached: the next call starts a new graph (truncated backpropagation through time).
        # Reassigned, not copied in place, because autograd may still need the old values.
        for name, state in zip(self._state_names, final):
            setattr(self, name, state.detach())

    def reset_states(self, batch_size: int | None = None) -> None:
        """Zeros the stateful states; with `batch_size`, starts over at that batch size."""
        if batch_size is not None:
            self._create_states(positive_int(batch_size, "batch_size"))
            return
        for name in self._state_names:
            setattr(self, name, torch.zeros_like(getattr(self, name)))

    @property
    def states(self) -> list[torch.Tensor] | None:
        """Keras's `layer.states`: a stateful layer's kept states (`[h, c]` for LSTM), each
        `(samples, units)`, or None when the layer is not stateful or has not seen a batch.

        Keras differences: the list holds the current tensors, not variables updated in place;
        read `states` again after a call or `reset_states()`.
        """
        if not self.stateful or not self._state_names:
            return None
        return [getattr(self, name) for name in self._state_names]

    def reset_state(self) -> None:
        """Keras 3's name for `reset_states()`."""
        self.reset_states()

    def get_states(self) -> list[np.ndarray]:
        """The stateful states as NumPy arrays, flattened in cell order (`[h, c]` for LSTM)."""
        if not self.stateful:
            raise ConfigError(f"{self.name} is not stateful, so it keeps no states between calls.")
        return [getattr(self, name).detach().cpu().numpy().copy() for name in self._state_names]

    def set_states(self, states: Sequence[Any]) -> None:
        """Sets the stateful states (same order as `get_states`); also fixes the batch size."""
        if not self.stateful:
            raise ConfigError(f"{self.name} is not stateful, so it keeps no states between calls.")
        values = [as_real_tensor(s, f"states[{i}]") for i, s in enumerate(flatten(states))]
        shapes = self.state_shapes()
        if len(values) != len(shapes) or any(
            tuple(v.shape[1:]) != s for v, s in zip(values, shapes)
        ):
            after = [s[0] if len(s) == 1 else s for s in shapes]
            raise ShapeError(
                f"{self.name}.set_states expects {len(shapes)} arrays of shape {self.state_words} "
                f"with {after} after samples; received shapes {[shape_str(v.shape) for v in values]}."
            )
        self._create_states(values[0].shape[0])
        for name, value in zip(self._state_names, values):
            buffer = getattr(self, name)
            setattr(self, name, value.detach().to(device=buffer.device, dtype=buffer.dtype).clone())

    # -- outputs --------------------------------------------------------------------------------
    def _group_states(self, final: list[torch.Tensor]) -> list[Any]:
        # Keras returns stacked cells' states as one list per cell: `[h1, c1], [h2]`.
        if not isinstance(self.cell, StackedRNNCells):
            return final
        return self.cell.split_states(final)

    def get_config(self) -> dict[str, Any]:
        options = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "use_cudnn": self.use_cudnn,
        }
        cell_config = self.cell.get_config() if hasattr(self.cell, "get_config") else {}
        if type(self) is RNN:
            return {
                **super().get_config(),
                **options,
                "cell": {"class_name": type(self.cell).__name__, "config": cell_config},
            }
        # The layer's own name, trainable, dtype and activity_regularizer, not the cell's.
        cell_options = {k: v for k, v in cell_config.items() if k not in _LAYER_OPTIONS}
        return {**super().get_config(), **cell_options, **options}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RNN:
        config = dict(config)
        if "cell" in config:
            config["cell"] = layer_from_spec(config["cell"])
        return cls(**config)

    def _load_from_state_dict(  # type: ignore[no-untyped-def]
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        # A stateful layer creates its state buffers at its first batch (or build with a known
        # batch size); states loaded from a file make them now, at the saved batch size.
        if self.stateful:
            shapes = self.state_shapes()
            saved = [state_dict.get(f"{prefix}state_{i}") for i in range(len(shapes))]
            if saved and all(
                isinstance(s, torch.Tensor) and tuple(s.shape[1:]) == shape
                for s, shape in zip(saved, shapes)
            ):
                current = getattr(self, self._state_names[0]) if self._state_names else None
                if current is None or current.shape[0] != saved[0].shape[0]:
                    self._create_states(int(saved[0].shape[0]))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def _rank_message(kind: str, shape: tuple[int | None, ...]) -> str:
    received = f"received a {len(shape)}-D array of shape {shape_str(shape)}"
    expected = f"{kind} expects inputs of shape (samples, timesteps, features); {received}."
    # None (a size only the data knows, when built from a shape) is -1 in the advice.
    size = [-1 if d is None else d for d in shape]
    if len(shape) == 2:
        count = "" if shape[0] is None else f"{shape[0]} "
        return (
            f"{expected} For {count}sequences of {shape[1]} timesteps with one feature, use "
            f"x.reshape({size[0]}, {size[1]}, 1); for {count}samples of {shape[1]} features at a "
            f"single timestep, use x.reshape({size[0]}, 1, {size[1]})."
        )
    if len(shape) == 1:
        return f"{expected} For one series of timesteps with one feature, use x.reshape(1, {size[0]}, 1)."
    if len(shape) == 0:
        return f"{expected} A single number is not a sequence."
    return (
        f"{expected} Merge the extra axes into features, e.g. x.reshape({size[0]}, {size[1]}, -1)."
    )


def cell_and_options(cell_class: type, arguments: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A recurrent layer's arguments, split: its cell, made from the cell's options, and the
    options left for `RNN` (`return_sequences`, ..., `name`, `dtype`, input shapes).

    `arguments` is the layer constructor's `locals()`, taken first thing: its parameters,
    and in `kwargs` the ones it does not name. The layer's signature lists every option
    for readers and type checkers; the cell's signature decides which ones are the cell's,
    so no option is passed on by hand.
    """
    given = {k: v for k, v in arguments.items() if k not in ("self", "__class__", "kwargs")}
    given.update(arguments.get("kwargs", {}))
    cell_names: set[str] = set()
    for klass in cell_class.__mro__:
        if klass in (Cell, Layer) or not issubclass(klass, Cell):
            continue
        cell_names |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    # Keras names every layer's cell after its class, unnumbered (`lstm_cell`): it is part of
    # each weight's path, `lstm_1/lstm_cell/kernel`.
    cell_name = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cell_class.__name__)
    cell = cell_class(name=cell_name.lower(), **{k: v for k, v in given.items() if k in cell_names})
    return cell, {k: v for k, v in given.items() if k not in cell_names}


# Keras 2's `keras.layers.recurrent` held layers defined elsewhere here; found when first read.
__getattr__ = keras2_names(__name__)
