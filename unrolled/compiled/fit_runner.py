"""The runner of the fits `fit_plan` accepts: epochs of a compiled kernel on a model's weights.

`run_epoch(order, batch_size, on_batches)` trains one epoch in kernel calls of about
CALL_SECONDS and returns the per-batch losses. The weights, optimizer slots and stateful
states are flattened into NumPy vectors for the kernel and written back after the epoch
(also when it is interrupted): the model's parameters and states and the optimizer's slots
and `iterations` end exactly where the reference path leaves them (to float32 rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np
import torch

from unrolled.compiled.cpu_load import free_cores
from unrolled.compiled.head_plan import Head
from unrolled.compiled.jit import will_compile
from unrolled.compiled.layout import FlatWeights, dense_shapes, flatten, unflatten
from unrolled.compiled.update_plan import UpdatePlan
from unrolled.layers.core import Dense
from unrolled.layers.recurrent import RNN
from unrolled.ops.weights import keras_weight_shapes

PATH_NAME = "compiled-epoch"
# An epoch runs in kernel calls of about this long: the progress bar moves between them, and
# Ctrl-C (which Python sees only between calls) stops training within this time.
CALL_SECONDS = 0.25
SLOWEST_MULTIPLY_ADDS_PER_SECOND = 1e9  # sizes the first call (a 2-core laptop does 20x)


class EpochRunner:
    """Runs epochs of the kernel on a model's weights, in place."""

    path_name = PATH_NAME

    def __init__(
        self,
        recurrent: RNN,
        dense: Dense,
        optimizer: Any,
        x: torch.Tensor,
        head: Head,
        mask_value: Any,
        cell_code: int,
        forward_work: int,
    ) -> None:
        cell = recurrent._cell()
        self.threads = 0  # the row-by-row kernel runs on the calling thread
        self.seconds_per_batch: float | None = None  # timed on each kernel call
        self.forward_work = forward_work  # multiply-adds of a batch's forward pass (the plan's)
        self.recurrent, self.optimizer = recurrent, optimizer
        self.cell_code = cell_code  # codes.CELL_*
        self.units = cell.units
        flat = FlatWeights()  # the cell's Keras weights, then the Dense layer's
        features = recurrent.input_features
        at = flat.add(cell, keras_weight_shapes(cell.kind, features, cell.units, cell.use_bias))
        dense_at = flat.add(dense, dense_shapes(cell.units, dense.units, dense.use_bias))
        self.weights, self.size = flat.tensors, flat.size
        self.offsets = np.array(  # in codes.OFFSET_* order
            [at["kernel"], at["recurrent_kernel"], at.get("bias", -1)]
            + [dense_at["kernel"], dense_at.get("bias", -1)],
            np.int64,
        )
        self.x = np.ascontiguousarray(x.detach().numpy())
        self.head = head
        self.y = head.y  # (samples, targets) float32
        # Each sample's metrics in the last epoch's order `(samples trained, M)`: fast_path
        # adds them to the compiled metrics.
        self.metric_values: torch.Tensor | None = None
        # Keras's sample_weight (or class_weight made per sample): each sample's loss weight.
        self.sample_weights = np.ones(self.x.shape[0], np.float32)
        if mask_value is None:
            self.valid = np.ones(self.x.shape[:2], np.uint8)
        else:
            self.valid = (self.x != np.float32(mask_value)).any(axis=-1).astype(np.uint8)

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
        metric_values = np.zeros((n, len(self.head.metrics)), np.float32)
        theta = flatten(self.weights)
        update = UpdatePlan(self.optimizer, self.weights)
        m, v = update.slots()
        states = self._read_states(batch_size)
        workspace = self._workspace(batch_size)
        kernel = self._kernel()
        # numba's OpenMP threads reset the process's OpenMP count, which is torch's too:
        # the user's torch.set_num_threads must hold after the fit.
        torch_threads = torch.get_num_threads()
        team = _numba_team(self.threads)  # numba's own setting, put back at the end
        done = 0
        try:
            while done < batches:
                if self.threads:  # the batch's parts on no more threads than cores free now
                    _numba_team(free_cores(self.threads))
                count = self._batches_per_call(batches - done)
                started = perf_counter()
                rows = slice(done * batch_size, (done + count) * batch_size)
                weights = (theta, m, v, update.code, update.hyper(), update.bounds)
                first_step = int(update.group["iterations"]) + done + 1
                self._call(
                    kernel, order_np[rows], batch_size, states, weights, first_step,
                    losses[done : done + count], metric_values[rows], workspace,
                )  # fmt: skip
                self.seconds_per_batch = (perf_counter() - started) / count
                done += count
                if on_batches is not None:
                    on_batches(count)
        finally:
            if team is not None:
                _numba_team(team)
            if torch.get_num_threads() != torch_threads:
                torch.set_num_threads(torch_threads)
            self.metric_values = torch.from_numpy(metric_values[: min(n, done * batch_size)])
            update.write_back(m, v, done)
            with torch.no_grad():
                unflatten(theta, self.weights)
            self._write_states(states)
        return torch.from_numpy(losses)

    def _read_states(self, batch_size: int) -> list[np.ndarray]:
        """The stateful layer's states as the kernel updates them (unused zeros otherwise)."""
        if not self.recurrent.stateful:
            return [np.zeros((1, self.units), np.float32)] * 2
        self.recurrent._check_stateful_batch(batch_size)
        states = [
            getattr(self.recurrent, name).detach().numpy().copy()
            for name in self.recurrent._state_names
        ]
        return states if len(states) > 1 else [states[0], np.zeros_like(states[0])]

    def _write_states(self, states: list[np.ndarray]) -> None:
        if self.recurrent.stateful:
            for name, value in zip(self.recurrent._state_names, states):
                setattr(self.recurrent, name, torch.from_numpy(value))

    def _call(
        self,
        kernel: Any,
        order: np.ndarray,
        batch_size: int,
        states: list[np.ndarray],
        weights: tuple[Any, ...],
        first_step: int,
        losses: np.ndarray,
        metric_values: np.ndarray,
        workspace: tuple[np.ndarray, ...],
    ) -> None:
        """One kernel call: the batches of `order`. `weights`: theta, the two slot vectors,
        the rule's code, settings and bounds."""
        theta, m, v, *rule = weights
        head, h_state, c_state = self.head, states[0], states[1]
        kernel(
            self.cell_code, self.units, self.x, self.y, self.valid, order, batch_size,
            self.recurrent.stateful, h_state, c_state, theta, self.offsets, m, v, *rule,
            first_step, losses, head.codes, head.delta, head.metrics, head.thresholds,
            metric_values, self.sample_weights, *workspace,
        )  # fmt: skip

    def _batches_per_call(self, left: int) -> int:
        """How many batches the next kernel call trains: about CALL_SECONDS' worth, as timed
        on the calls before, or before the first, estimated at a rate below any machine's."""
        seconds = self.seconds_per_batch
        if seconds is None:  # the forward pass, and twice that backward
            seconds = 3 * self.forward_work / SLOWEST_MULTIPLY_ADDS_PER_SECOND
        return max(1, min(left, int(CALL_SECONDS / max(seconds, 1e-12))))

    def _workspace(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """Buffers kept between kernel calls: the row-by-row kernel allocates its own."""
        return ()

    def compile_note(self) -> str | None:
        """A line for the user when the kernel's first call compiles it (once per machine,
        tens of seconds), None when it loads from numba's cache."""
        if not will_compile(self._kernel()):
            return None
        return (
            f"Compiling the {self.kernel_name} (once per machine, up to a minute; later runs "
            "load it from numba's cache)..."
        )

    kernel_name = "fit kernel"

    def _kernel(self) -> Any:
        """The epoch kernel; numba compiles it, or loads it from its cache, on first use."""
        from unrolled.compiled.fit_kernel import fit_epoch

        return fit_epoch


def _numba_team(threads: int) -> int | None:
    """Sets numba's parallel team to `threads` (0: the row kernel, no team) and returns the
    size it had. The batched kernels split each batch into their parts; a team larger than
    that leaves the spare threads spinning for work between batches, a core taken from
    whatever else runs (another process, or torch), and a smaller one (`cpu_load`) runs
    several parts per thread."""
    if not threads:
        return None
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    return before
