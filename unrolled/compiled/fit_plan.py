"""Whether a model's `fit` can run on a compiled epoch kernel, and the runner that does.

Two kernels: `fit_kernel` (row by row, for small batches) and `batched_kernel` (matrix
products on MKL's sgemm, the batch split over threads), chosen by the work per batch.

Supported: `[Masking ->] LSTM | GRU | SimpleRNN -> Dense` (a `Sequential`), the recurrent
layer on its fused configuration (default activations, GRU `reset_after=True`), returning
its last output, stateful or not, without dropout, regularizers or constraints; a linear
`Dense`; loss MSE; Keras's Adam (not AMSGrad) or SGD (with or without momentum/Nesterov),
without clipping or weight decay; float32 on the CPU; every weight trainable. Anything
else declines, with the reason, and `fit` takes the reference path.

`plan_fit(model, optimizer, loss, x, y)` returns `(runner, reason)`: `runner` None when
declined. The runner's `run_epoch(order, batch_size, on_batches)` trains one epoch, in
kernel calls of about CALL_SECONDS, and returns the per-batch losses; the model's parameters, its stateful states and the optimizer's slots
and `iterations` end exactly where the reference path leaves them (to float32 rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np
import torch

from unrolled import activations
from unrolled.compiled import codes
from unrolled.compiled.jit import unavailable, will_compile
from unrolled.layers.base import _weight_rules
from unrolled.layers.core import Dense
from unrolled.layers.gru import GRUCell
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.lstm import LSTMCell
from unrolled.layers.masking import Masking
from unrolled.layers.recurrent import RNN
from unrolled.layers.simple_rnn import SimpleRNNCell
from unrolled.training.update_rules import AdamRule, SGDRule

PATH_NAME = "compiled-epoch"
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
# An epoch runs in kernel calls of about this long: the progress bar moves between them, and
# Ctrl-C (which Python sees only between calls) stops training within this time.
CALL_SECONDS = 0.25
SLOWEST_MULTIPLY_ADDS_PER_SECOND = 1e9  # sizes the first call (a 2-core laptop does 20x)


def _cell_code(cell: Any) -> int | None:
    if isinstance(cell, LSTMCell):
        return codes.CELL_LSTM
    if isinstance(cell, GRUCell):
        return codes.CELL_GRU
    if isinstance(cell, SimpleRNNCell):
        return codes.CELL_RNN_TANH if cell.fused_kind == "rnn_tanh" else codes.CELL_RNN_RELU
    return None


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
    if _cell_code(cell) is None:
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
    return _EpochRunner(recurrent, dense, optimizer, x, y, mask_value, threads), (
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


class _EpochRunner:
    """Runs epochs of the kernel on a model's weights, in place."""

    path_name = PATH_NAME

    def __init__(
        self,
        recurrent: RNN,
        dense: Dense,
        optimizer: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        mask_value: Any,
        threads: int,
    ) -> None:
        cell = recurrent._cell()
        self.threads = threads  # 0: the row-by-row kernel
        self.workspace: tuple[np.ndarray, np.ndarray] | None = None  # the batched kernel's
        self.seconds_per_batch: float | None = None  # timed on each kernel call
        self.recurrent, self.optimizer = recurrent, optimizer
        self.cell_code = _cell_code(cell)
        self.units = cell.units
        self.weights = [cell.kernel, cell.recurrent_kernel]
        offsets = [0, cell.kernel.numel(), -1, 0, -1]
        size = offsets[1] + cell.recurrent_kernel.numel()
        if cell.bias is not None:
            offsets[codes.OFFSET_BIAS] = size
            size += cell.bias.numel()
            self.weights.append(cell.bias)
        offsets[codes.OFFSET_DENSE] = size
        size += dense.kernel.numel()
        self.weights.append(dense.kernel)
        if dense.bias is not None:
            offsets[codes.OFFSET_DENSE_BIAS] = size
            size += dense.bias.numel()
            self.weights.append(dense.bias)
        self.offsets = np.array(offsets, np.int64)
        self.size = size
        self.x = np.ascontiguousarray(x.detach().numpy())
        self.y = np.ascontiguousarray(y.detach().numpy())
        if mask_value is None:
            self.valid = np.ones(self.x.shape[:2], np.uint8)
        else:
            self.valid = (self.x != np.float32(mask_value)).any(axis=-1).astype(np.uint8)

    def _flat(self, tensors: list[torch.Tensor]) -> np.ndarray:
        return np.concatenate([t.detach().reshape(-1).numpy() for t in tensors]).astype(
            np.float32, copy=False
        )

    def _slots(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        group = self.optimizer.param_groups[0]
        if type(self.optimizer) is AdamRule:
            names = ["momentum", "velocity"]
        elif group["momentum"]:
            names = ["momentum"]
        else:
            names = []
        flats = []
        for name in names:
            slots = [self.optimizer.state[p].get(name) for p in self.weights]
            flats.append(
                self._flat(
                    [
                        s if s is not None else torch.zeros_like(p)
                        for s, p in zip(slots, self.weights)
                    ]
                )
            )
        while len(flats) < 2:
            flats.append(np.zeros(1, np.float32))
        return names, flats[0], flats[1]

    def run_epoch(
        self,
        order: torch.Tensor | None,
        batch_size: int,
        on_batches: Callable[[int], None] | None = None,
    ) -> torch.Tensor:
        """Trains one epoch over the samples in `order`; returns each batch's loss `(batches,)`.

        The kernel runs in calls of about CALL_SECONDS each, `on_batches(count)` after each
        (a progress bar moves), and Ctrl-C is seen between them. However the epoch ends, even
        interrupted, the weights, slots, `iterations` and states written back are those after
        the last batch trained, as on the reference path.
        """
        n = self.x.shape[0]
        order_np = np.arange(n, dtype=np.int64) if order is None else order.numpy().astype(np.int64)
        batches = -(-n // batch_size)
        losses = np.zeros(batches, np.float32)
        theta = self._flat(self.weights)
        names, m, v = self._slots()
        group = self.optimizer.param_groups[0]
        if type(self.optimizer) is AdamRule:
            opt = codes.OPT_ADAM
        elif not group["momentum"]:
            opt = codes.OPT_SGD
        else:
            opt = codes.OPT_NESTEROV if group["nesterov"] else codes.OPT_MOMENTUM
        stateful = self.recurrent.stateful
        if stateful:
            self.recurrent._check_stateful_batch(batch_size)
            states = [
                getattr(self.recurrent, name).detach().numpy().copy()
                for name in self.recurrent._state_names
            ]
        else:
            states = [np.zeros((1, self.units), np.float32)]
        h_state = states[0]
        c_state = states[1] if len(states) > 1 else np.zeros_like(h_state)
        f32 = np.float32
        hyper = (
            opt,
            f32(group["lr"]),
            f32(group.get("beta_1", 0.9)),
            f32(group.get("beta_2", 0.999)),
            f32(group.get("epsilon", 1e-7)),
            f32(group.get("momentum", 0.0)),
        )
        workspace = self._workspace(batch_size) if self.threads else ()
        kernel = self._kernel()
        done = 0
        try:
            while done < batches:
                count = self._batches_per_call(batches - done, batch_size)
                started = perf_counter()
                kernel(
                    self.cell_code, self.units, self.x, self.y, self.valid,
                    order_np[done * batch_size : (done + count) * batch_size], batch_size,
                    stateful, h_state, c_state, theta, self.offsets, m, v, *hyper,
                    int(group["iterations"]) + done + 1, losses[done : done + count], *workspace,
                )  # fmt: skip
                self.seconds_per_batch = (perf_counter() - started) / count
                done += count
                if on_batches is not None:
                    on_batches(count)
        finally:
            group["iterations"] += done
            with torch.no_grad():
                self._unflat(theta, self.weights)
                for name, flat in zip(names, (m, v)):
                    self._unflat(flat, self.optimizer._slots(self.weights, name))
            if stateful:
                for name, value in zip(self.recurrent._state_names, states):
                    setattr(self.recurrent, name, torch.from_numpy(value))
        return torch.from_numpy(losses)

    def _batches_per_call(self, left: int, batch_size: int) -> int:
        """How many batches the next kernel call trains: about CALL_SECONDS' worth, as timed
        on the calls before, or before the first, estimated at a rate below any machine's."""
        seconds = self.seconds_per_batch
        if seconds is None:
            steps, features = self.x.shape[1:]
            gates = codes.GATES[self.cell_code]
            # forward, and twice that backward
            work = 3 * batch_size * steps * gates * self.units * (self.units + features)
            seconds = work / SLOWEST_MULTIPLY_ADDS_PER_SECOND
        return max(1, min(left, int(CALL_SECONDS / max(seconds, 1e-12))))

    def _workspace(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The batched kernel's per-thread buffers, allocated once per batch size."""
        from unrolled.compiled.batched_kernel import work_size

        rows = -(-min(batch_size, self.x.shape[0]) // self.threads)
        steps, features = self.x.shape[1:]
        floats = work_size(self.cell_code, steps, rows, features, self.units)
        gates = codes.GATES[self.cell_code] * self.units
        if self.workspace is None or self.workspace[0].shape[1] != floats:
            self.workspace = (
                np.empty((self.threads, floats), np.float32),
                np.empty((self.threads, 2 * rows * gates), np.int32),
            )
        return self.workspace

    def compile_note(self) -> str | None:
        """A line for the user when the kernel's first call compiles it (once per machine,
        tens of seconds), None when it loads from numba's cache."""
        kernel = self._kernel()
        if not will_compile(kernel):
            return None
        which = "batched fit kernel" if self.threads else "fit kernel"
        return (
            f"Compiling the {which} (once per machine, up to a minute; later runs load it "
            f"from numba's cache)..."
        )

    def _kernel(self) -> Any:
        """The epoch kernel; numba compiles it, or loads it from its cache, on first use."""
        if self.threads:
            from unrolled.compiled.batched_kernel import fit_epoch_batched

            return fit_epoch_batched
        from unrolled.compiled.fit_kernel import fit_epoch

        return fit_epoch

    @staticmethod
    def _unflat(flat: np.ndarray, tensors: list[torch.Tensor]) -> None:
        start = 0
        for t in tensors:
            count = t.numel()
            t.copy_(torch.from_numpy(flat[start : start + count]).view_as(t))
            start += count
