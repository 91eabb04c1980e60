"""Whether a model's `fit` can run on a compiled epoch kernel (`fit_runner` runs it).

Two kernels: `fit_kernel` (row by row, for small batches) and `batched_kernel` (matrix
products on MKL's sgemm, the batch split over threads), chosen by the work per batch.

Supported: `[Masking ->] LSTM | GRU | SimpleRNN -> Dense` (a `Sequential`), the recurrent
layer on its fused configuration (default activations, GRU `reset_after=True`), returning
its last output, stateful or not, without dropout, regularizers or constraints; a linear
`Dense`; loss MSE; Keras's Adam (not AMSGrad) or SGD (with or without momentum/Nesterov),
without clipping or weight decay; float32 on the CPU; every weight trainable. Anything
else declines, with the reason, and `fit` takes the reference path.

`plan_fit(model, optimizer, loss, x, y, batch_size)` returns `(runner, reason)`: a
`fit_runner.EpochRunner`, or None when declined.
"""

from __future__ import annotations

from typing import Any

import torch

from unrolled import activations
from unrolled.compiled import codes
from unrolled.compiled.fit_runner import EpochRunner
from unrolled.compiled.jit import unavailable
from unrolled.layers.base import _weight_rules
from unrolled.layers.core import Dense
from unrolled.layers.gru import GRUCell
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.lstm import LSTMCell
from unrolled.layers.masking import Masking
from unrolled.layers.recurrent import RNN
from unrolled.layers.simple_rnn import SimpleRNNCell
from unrolled.training.update_rules import AdamRule, SGDRule

# Up to this many forward multiply-adds per batch, the row-by-row kernel (`fit_kernel`) is
# fastest: its plain loops cost less than a BLAS call at these sizes. Above it, the batched
# kernel (`batched_kernel`) takes over.
MAX_WORK_PER_BATCH = 1 << 20
# Each thread of the batched kernel takes at least this many rows of a batch: below it the
# per-thread matrix products are too small to pay for the thread's start.
MIN_ROWS_PER_THREAD = 8
# Above WIDE_UNITS units, the batched kernel beats torch's fused operator (oneDNN) only with
# enough rows per thread. Measured against torch.nn.LSTM, 2 threads: 256 units at 16 rows per
# thread 0.73-0.88x; at 24-32 rows 1.13-1.40x; 128 units at 16 rows 1.13-1.22x.
WIDE_UNITS = 128
MIN_ROWS_PER_THREAD_WIDE = 24


def _cell_code(cell: Any) -> int | None:
    if not isinstance(cell, (LSTMCell, GRUCell, SimpleRNNCell)):
        return None
    operator = cell.fused_operator()
    return None if isinstance(operator, str) else operator.kernel_code


def _model_blocker(model: Any) -> tuple[str | None, list[Any]]:
    """Why the model's layers do not fit the kernel (None if they do), and the layers."""
    if getattr(model, "_nodes", None) is not None or not hasattr(model, "layers"):
        return "only a Sequential model is compiled", []
    layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    if layers and isinstance(layers[0], Masking):
        body = layers[1:]
    else:
        body = layers
    if len(body) != 2 or not isinstance(body[0], RNN) or not isinstance(body[1], Dense):
        kinds = " -> ".join(type(layer).__name__ for layer in layers)
        return (
            f"the kernel trains [Masking ->] LSTM|GRU|SimpleRNN -> Dense; this model is {kinds}",
            [],
        )
    recurrent, dense = body
    cell = recurrent._cell()
    if not isinstance(cell, (LSTMCell, GRUCell, SimpleRNNCell)):
        return f"{recurrent.name}: {type(cell).__name__} is not an LSTM, GRU or SimpleRNN cell", []
    blocker = cell.fused_blocker()
    if blocker is not None:
        return f"{recurrent.name}: {blocker}", []
    if recurrent.use_cudnn is False:
        return f"{recurrent.name}: use_cudnn=False asks for the step loop", []
    for option in ("return_sequences", "return_state", "go_backwards"):
        if getattr(recurrent, option):
            return f"{recurrent.name}: {option}=True", []
    if recurrent.zero_output_for_mask and layers[0] is not recurrent:
        return f"{recurrent.name}: zero_output_for_mask=True", []
    if cell.dropout or cell.recurrent_dropout:
        return f"{recurrent.name}: dropout draws random masks each call", []
    if activations.name_of(dense.activation) != "linear":
        return (
            f"{dense.name}: activation={activations.serialize(dense.activation)!r} (only linear)",
            [],
        )
    if _weight_rules(model, "regularizer") or _weight_rules(model, "constraint"):
        return "regularizers and constraints run on the reference path", []
    if any(getattr(layer, "activity_regularizer", None) is not None for layer in layers):
        return "activity regularizers run on the reference path", []
    parameters = list(model.parameters())
    if not parameters:
        return "the model is not built yet", []
    if any(not p.requires_grad for p in parameters):
        return "some weights are frozen (trainable=False)", []
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in parameters):
        return "the kernel runs float32 on the CPU", []
    return None, layers


def _optimizer_blocker(optimizer: Any, parameters: list[torch.Tensor]) -> str | None:
    if type(optimizer) not in (AdamRule, SGDRule):
        return f"optimizer {type(optimizer).__name__}: the kernel implements Keras's Adam and SGD"
    if optimizer.clipnorm or optimizer.clipvalue or optimizer.global_clipnorm:
        return "gradient clipping runs on the reference path"
    if len(optimizer.param_groups) != 1:
        return "several parameter groups"
    group = optimizer.param_groups[0]
    if {id(p) for p in group["params"]} != {id(p) for p in parameters}:
        return "the optimizer does not hold exactly the model's weights"
    if group["weight_decay"] or group["decay"]:
        return "weight decay / learning-rate decay runs on the reference path"
    if type(optimizer) is AdamRule and group["amsgrad"]:
        return "amsgrad runs on the reference path"
    return None


def plan_fit(
    model: Any, optimizer: Any, loss: str | None, x: Any, y: Any, batch_size: int
) -> tuple[Any, str]:
    """`(runner, reason)` for training `model` on `x, y` in batches of `batch_size`; runner
    None when declined."""
    reason = unavailable()
    if reason is not None:
        return None, reason
    blocker, layers = _model_blocker(model)
    if blocker is not None:
        return None, blocker
    if loss != "mse":
        return None, f"loss {loss or 'other than MSE'}: the kernel implements mean squared error"
    parameters = list(model.parameters())
    blocker = _optimizer_blocker(optimizer, parameters)
    if blocker is not None:
        return None, blocker
    recurrent, dense = layers[-2], layers[-1]
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.dtype != torch.float32:
        return None, "x is not one float32 array (samples, timesteps, features)"
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0], dense.units):
        return None, f"y is not (samples, {dense.units}), the model's output shape"
    if x.shape[-1] != recurrent.input_features or x.device.type != "cpu":
        return None, "x does not match the model's features (or is not on the CPU)"
    cell = recurrent._cell()
    gates = codes.GATES[_cell_code(cell)]
    rows = min(batch_size, x.shape[0])
    work = rows * x.shape[1] * gates * cell.units * (cell.units + x.shape[-1])
    threads = 0  # the row-by-row kernel
    if work > MAX_WORK_PER_BATCH:
        threads = _threads_for(rows, cell.units)
        blocker = _batched_blocker(cell.units, rows, threads)
        if blocker is not None:
            return None, f"{work} multiply-adds per batch, {blocker}"
    mask_value = layers[0].mask_value if isinstance(layers[0], Masking) else None
    how = "" if not threads else f", batched over {threads} thread{'s' * (threads > 1)} (MKL sgemm)"
    runner = EpochRunner(
        recurrent, dense, optimizer, x, y, mask_value, _cell_code(cell), threads, work
    )
    return runner, (
        f"numba kernel: whole epochs of {type(recurrent).__name__} -> Dense, MSE, "
        f"{type(optimizer).__name__.removesuffix('Rule')}{how}"
    )


def _batched_blocker(units: int, rows: int, threads: int) -> str | None:
    """Why the batched kernel does not take a batch too big for the row-by-row one."""
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
