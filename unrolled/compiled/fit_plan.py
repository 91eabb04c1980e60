"""Whether a model's `fit` can run on a compiled epoch kernel, and on which.

Two kernels: `fit_kernel` (row by row, for the small batches of `[Masking ->] LSTM | GRU |
SimpleRNN -> Dense`, run by `fit_runner.EpochRunner`) and `stack_kernel` (matrix products
on MKL's sgemm, each batch split over threads, run by `stack_runner.StackRunner`) for those
models' larger batches and for every model `stack_plan` takes: stacked and Bidirectional
levels, an Embedding in front, a head on every step, the two-input encoder-decoder.

Taken, on either: Keras's Adam (AdamW), SGD, RMSprop (not centered) or Adagrad, with or
without decoupled weight decay and `clipnorm`, `global_clipnorm` or `clipvalue`, each
layer's options and the optimizer's settings within their tables in `allow_lists` (the
recurrent layers on their fused configuration, stateful or not, without dropout,
regularizers or constraints; a linear, sigmoid or softmax `Dense`; no AMSGrad, no Keras 2
`decay`), a loss and metrics the head takes (`head_plan`: MSE, MAE, Huber,
binary/categorical/sparse categorical cross-entropy; mse, mae, rmse and the accuracies),
float32 on the CPU, every weight trainable. Anything else declines, with the reason naming
the option, and `fit` takes the reference path.

`plan_fit(model, optimizer, objective, x, y, batch_size)` returns `(runner, reason)`, the
runner None when declined. `objective` is the Trainer's `fast_path.Objective` (the loss and
the compiled metrics), or a loss spec.
"""

from __future__ import annotations

from typing import Any

import torch

from unrolled.compiled.allow_lists import (
    FIT_LOSSES,
    FIT_METRICS,
    FIT_STRUCTURE,
    KERNEL_CELLS,
    KERNEL_OPTIMIZERS,
    MASKING_OPTIONS,
    OPTIMIZER_OPTIONS,
    RECURRENT_LAYERS,
    config_of,
    declined,
    dense_options,
    describe,
    fit_tables,
    recurrent_options,
    settings_of,
)
from unrolled.compiled.fit_runner import EpochRunner
from unrolled.compiled.head_plan import plan_head
from unrolled.compiled.jit import unavailable
from unrolled.compiled.stack_plan import (
    ENCODER_DECODER,
    STACK_STRUCTURE,
    STACK_STRUCTURE_WORDS,
    Level,
    StackModel,
    described,
    plan_stack,
    stack_inputs,
)
from unrolled.compiled.stack_runner import StackRunner
from unrolled.layers.core import Dense
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.masking import Masking

# Up to this many forward multiply-adds per batch, the row-by-row kernel (`fit_kernel`) is
# fastest: its plain loops cost less than a BLAS call at these sizes. Above it, the stack
# kernel's matrix products (`stack_kernel`, one level) take over.
MAX_WORK_PER_BATCH = 1 << 20
# Each thread of the batched kernel takes at least this many rows of a batch: below it the
# per-thread matrix products are too small to pay for the thread's start.
MIN_ROWS_PER_THREAD = 8
# Above WIDE_UNITS units, the batched kernel beats torch's fused operator (oneDNN) only with
# enough rows per thread. Measured against torch.nn.LSTM, 2 threads: 256 units at 16 rows per
# thread 0.73-0.88x; at 24-32 rows 1.13-1.40x; 128 units at 16 rows 1.13-1.22x.
WIDE_UNITS = 128
MIN_ROWS_PER_THREAD_WIDE = 24


# How model_blocker's reason starts when the model is not [Masking ->] recurrent -> Dense.
_STRUCTURE_WORDS = ("the kernel trains", "only a Sequential")


def model_blocker(model: Any) -> tuple[str | None, list[Any]]:
    """Why the model's layers do not fit the kernel (None if they do), and the layers.

    Each layer's options are checked against its table in `allow_lists`."""
    if getattr(model, "_nodes", None) is not None or not hasattr(model, "layers"):
        return "only a Sequential model is compiled", []
    layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    masked = bool(layers) and type(layers[0]) is Masking
    body = layers[1:] if masked else layers
    if len(body) != 2 or type(body[0]) not in RECURRENT_LAYERS or type(body[1]) is not Dense:
        kinds = " -> ".join(type(layer).__name__ for layer in layers)
        return f"the kernel trains {FIT_STRUCTURE}; this model is {kinds}", []
    recurrent, dense = body
    cell = recurrent._cell()
    if type(cell) not in KERNEL_CELLS:
        return f"{recurrent.name}: {type(cell).__name__} is not an LSTM, GRU or SimpleRNN cell", []
    checks = [(layers[0], MASKING_OPTIONS)] if masked else []
    checks += [
        (recurrent, recurrent_options(type(cell), True, masked)),
        (dense, dense_options(True)),
    ]
    for layer, table in checks:
        reason = declined(layer.name, config_of(layer), table)
        if reason is not None:
            return reason, []
    operator = cell.fused_operator()  # the tables took every option it reads
    if isinstance(operator, str):
        return f"{recurrent.name}: {operator}", []
    blocker = _model_weights_blocker(model)
    return (blocker, []) if blocker is not None else (None, layers)


def _planned_layers(model: Any) -> tuple[str | None, list[Any], StackModel | None]:
    """`(reason, layers, stack)`: the single-layer kernels' layers, else the stack kernel's
    model, else why neither takes the model (the reason of whichever planner got past the
    model's structure)."""
    blocker, layers = model_blocker(model)
    if blocker is None:
        return None, layers, None
    stack, reason = plan_stack(model)
    if stack is not None:
        return None, [], stack
    if reason.startswith(STACK_STRUCTURE_WORDS) and not blocker.startswith(_STRUCTURE_WORDS):
        return blocker, [], None
    return reason, [], None


def explain_lines(model: Any, width: int = 100) -> list[str]:
    """What `unrolled explain` says of the fit kernel: nothing when it takes the model's layers,
    else why not and the tables of what it takes (for the model's recurrent kinds, or all)."""
    reason, _, _ = _planned_layers(model)
    if reason is None:
        return []
    layers = list(getattr(model, "layers", []))
    cells = [type(layer._cell()) for layer in layers if type(layer) in RECURRENT_LAYERS]
    taken = tuple(dict.fromkeys(cell for cell in cells if cell in KERNEL_CELLS)) or KERNEL_CELLS
    masked = any(type(layer) is Masking for layer in layers)
    return [
        f"Compiled fit: declined, {reason}.",
        f"The fit kernels train {FIT_STRUCTURE}, {STACK_STRUCTURE}, and the encoder-decoder "
        f"{ENCODER_DECODER}, with loss {FIT_LOSSES}, metrics {FIT_METRICS}, on these options:",
        *describe(fit_tables(taken, masked), width),
    ]


def _optimizer_blocker(optimizer: Any, parameters: list[torch.Tensor]) -> str | None:
    name = type(optimizer).__name__.removesuffix("Rule")
    table = OPTIMIZER_OPTIONS.get(type(optimizer))
    if table is None:
        return f"optimizer {name}: the kernel implements Keras's {KERNEL_OPTIMIZERS}"
    if len(optimizer.param_groups) != 1:
        return "several parameter groups"
    if {id(p) for p in optimizer.param_groups[0]["params"]} != {id(p) for p in parameters}:
        return "the optimizer does not hold exactly the model's weights"
    return declined(f"optimizer {name}", settings_of(optimizer), table)


def plan_fit(
    model: Any, optimizer: Any, objective: Any, x: Any, y: Any, batch_size: int
) -> tuple[Any, str]:
    """`(runner, reason)` for training `model` on `x, y` in batches of `batch_size` with
    `objective` (`fast_path.Objective`, or a loss spec); runner None when declined."""
    reason = unavailable()
    if reason is not None:
        return None, reason
    blocker, layers, stack = _planned_layers(model)
    if blocker is not None:
        return None, blocker
    if stack is not None:
        return _stack_fit(model, stack, optimizer, objective, x, y, batch_size)
    recurrent, dense = layers[-2], layers[-1]
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.dtype != torch.float32:
        return None, "x is not one float32 array (samples, timesteps, features)"
    if not isinstance(y, torch.Tensor) or y.dim() == 0 or y.shape[0] != x.shape[0]:
        return None, "y is not one array with as many samples as x"
    if x.shape[-1] != recurrent.input_features or x.device.type != "cpu":
        return None, "x does not match the model's features (or is not on the CPU)"
    cell = recurrent._cell()
    rows = min(batch_size, x.shape[0])
    work = rows * x.shape[1] * cell.kind.gate_count * cell.units * (cell.units + x.shape[-1])
    masking = layers[0] if isinstance(layers[0], Masking) else None
    if work > MAX_WORK_PER_BATCH:  # matrix products on threads: the stack kernel, one level
        level = Level((recurrent,), "concat", sequences=False, source=0)
        stack = StackModel(None, masking, (level,), dense, per_step=False)
        return _stack_fit(model, stack, optimizer, objective, x, y, batch_size)
    blocker = _optimizer_blocker(optimizer, list(model.parameters()))
    if blocker is not None:
        return None, blocker
    head, words = plan_head(dense, objective, y)
    if head is None:
        return None, words
    mask_value = None if masking is None else masking.mask_value
    code = cell.fused_operator().kernel_code
    runner = EpochRunner(recurrent, dense, optimizer, x, head, mask_value, code, work)
    activation = config_of(dense)["activation"]
    shown = "" if activation == "linear" else f"({activation})"
    return runner, (
        f"numba kernel: whole epochs of {type(recurrent).__name__} -> Dense{shown}, {words}, "
        f"{type(optimizer).__name__.removesuffix('Rule')}"
    )


def _stack_fit(
    model: Any, stack: StackModel, optimizer: Any, objective: Any, x: Any, y: Any, batch_size: int
) -> tuple[Any, str]:
    """`plan_fit` for a model `stack_plan` takes: the checks the single-layer path makes,
    for the stack kernel."""
    blocker = _model_weights_blocker(model)
    if blocker is None:
        blocker = _optimizer_blocker(optimizer, list(model.parameters()))
    if blocker is not None:
        return None, blocker
    inputs, reason = stack_inputs(stack, x)
    if inputs is None:
        return None, reason
    samples = inputs[0].shape[0]
    if not isinstance(y, torch.Tensor) or y.dim() == 0 or y.shape[0] != samples:
        return None, "y is not one array with as many samples as x"
    top = stack.levels[-1]
    steps = int(inputs[max(top.source, 0)].shape[1])  # the last level's: a decoder's own
    head, words = plan_head(stack.dense, objective, y, steps if stack.per_step else None)
    if head is None:
        return None, words
    rows = min(batch_size, samples)
    widest = max(level.directions[0]._cell().units for level in stack.levels)
    threads = _threads_for(rows, widest)
    x = inputs if len(inputs) > 1 else inputs[0]
    runner = StackRunner(stack, optimizer, x, head, threads, rows)
    blocker = _batched_blocker(widest, rows, threads)
    if blocker is not None:
        return None, f"{runner.forward_work} multiply-adds per batch, {blocker}"
    name = type(optimizer).__name__.removesuffix("Rule")
    return runner, (
        f"numba stack kernel: whole epochs of {described(stack)}, {words}, {name}, "
        f"batched over {threads} thread{'s' * (threads > 1)} (MKL sgemm)"
    )


def _model_weights_blocker(model: Any) -> str | None:
    parameters = list(model.parameters())
    if not parameters:
        return "the model is not built yet"
    if any(not p.requires_grad for p in parameters):
        return "some weights are frozen (trainable=False)"
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in parameters):
        return "the kernel runs float32 on the CPU"
    return None


def _batched_blocker(units: int, rows: int, threads: int) -> str | None:
    """Why the batched (stack) kernel does not take a batch."""
    if units > WIDE_UNITS and rows // threads < MIN_ROWS_PER_THREAD_WIDE:
        return (
            f"{units} units at {rows // threads} rows per thread: torch's fused operator is "
            f"faster (above {WIDE_UNITS} units the batched kernel needs "
            f"{MIN_ROWS_PER_THREAD_WIDE} rows per thread)"
        )
    from unrolled.compiled import blas

    missing = blas.missing()
    return None if missing is None else f"too many for the row-by-row kernel, and {missing}"


def _threads_for(rows: int, units: int) -> int:
    """Threads for the batched kernel, up to torch's thread setting as the user left it: wide
    layers get them all (on fewer, torch's operator, which uses all, wins), others as many as
    have MIN_ROWS_PER_THREAD rows each."""
    import numba

    limit = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if units > WIDE_UNITS:
        return limit
    return max(1, min(limit, rows // MIN_ROWS_PER_THREAD))
