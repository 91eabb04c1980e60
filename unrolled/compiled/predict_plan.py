"""Whether a model's `predict` and `evaluate` can run on the inference kernel (`predict_kernel`).

Takes what the stack kernel trains (`stack_plan.plan_stack`: `[Embedding | Masking ->]`
recurrent levels, `Bidirectional` ones, the encoder-decoder graph, a Dense head on the last
step or on every step), stateless, with float32 weights on the CPU and array inputs the
stack kernel reads (`stack_plan.stack_inputs`). Frozen weights are taken: nothing is trained.

`plan_predict(model, x)` returns `(PredictRunner, reason)`, or `(None, reason)` when it
declines, the reason naming the layer, option or input. `PredictRunner.predict()` gives
every sample's outputs at once; the Trainer cuts them into Keras's batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled.compiled import codes
from unrolled.compiled.allow_lists import HEAD_ACTIVATIONS, config_of
from unrolled.compiled.jit import unavailable
from unrolled.compiled.layout import flatten
from unrolled.compiled.stack_layout import LV_STEPS, exp_scratch_ints, workspace_layout
from unrolled.compiled.stack_plan import StackModel, described, plan_stack, stack_inputs
from unrolled.compiled.stack_runner import StackRunner, kernel_inputs

# Each thread's workspace holds at most this many rows, and at most WORKSPACE_FLOATS floats
# (256 MiB): a group's buffers grow with its rows times the steps.
MAX_ROWS_PER_GROUP = 128
WORKSPACE_FLOATS = 1 << 26
# A thread takes at least this many samples: below it its start costs more than it saves.
MIN_ROWS_PER_THREAD = 8


class PredictRunner:
    """The inference kernel's arguments for one model and one input, and its call."""

    path_name = "compiled-predict"

    def __init__(self, stack: StackModel, inputs: list[torch.Tensor], threads: int) -> None:
        self.stack = stack
        arrays = [np.ascontiguousarray(a.detach().numpy()) for a in inputs]
        self.weights, _, self.embed, self.levels, self.dense = StackRunner._lay_out(stack, arrays)
        self.x, self.tokens, self.valid, self.x2, self.valid2 = kernel_inputs(stack, arrays)
        self.samples = arrays[0].shape[0]
        outputs = stack.dense.units
        self.head = np.zeros(4, np.int64)
        self.head[codes.HEAD_LOSS] = codes.LOSS_MSE  # computed and not read
        self.head[codes.HEAD_ACTIVATION] = HEAD_ACTIVATIONS[config_of(stack.dense)["activation"]]
        self.head[codes.HEAD_OUTPUTS] = outputs
        steps = int(self.levels[-1, LV_STEPS]) if stack.per_step else 1
        self.out_shape = (self.samples, steps, outputs)
        self.threads, self.rows = _groups(self.levels, self.samples, threads)

    def predict(self) -> np.ndarray:
        """Every sample's outputs, float32: `(samples, outputs)`, or `(samples, timesteps,
        outputs)` for a head on every step. Reads the model's weights as they are now."""
        from unrolled.compiled.predict_kernel import predict_stack

        theta = flatten(self.weights)
        out = np.empty(self.out_shape, np.float32)
        spots, shared, floats = workspace_layout(self.levels, self.rows, False)
        work = np.empty((self.threads, floats), np.float32)
        bits = np.empty((self.threads, exp_scratch_ints(self.levels, self.rows)), np.int32)
        predict_stack(
            self.levels, self.x, self.x2, self.tokens, self.embed, self.valid, self.valid2,
            theta, self.dense, self.head, self.stack.per_step, self.stack.masked, out,
            self.rows, work, spots, shared, bits,
        )  # fmt: skip
        return out if self.stack.per_step else out[:, 0]

    def compile_note(self) -> str | None:
        from unrolled.compiled.jit import will_compile
        from unrolled.compiled.predict_kernel import predict_stack

        if not will_compile(predict_stack):
            return None
        return (
            "Compiling the inference kernel (once per machine, up to a minute; later runs "
            "load it from numba's cache)..."
        )


def plan_predict(model: Any, x: Any) -> tuple[PredictRunner | None, str]:
    """`(runner, reason)` for the outputs of `model` on `x` (a tensor, or a list of them for
    several inputs, as `ArrayData` holds them); runner None when declined."""
    reason = unavailable()
    if reason is not None:
        return None, reason
    stack, reason = plan_stack(model)
    if stack is None:
        return None, reason
    stateful = [
        layer.name for level in stack.levels for layer in level.directions if layer.stateful
    ]
    if stateful:
        return None, (
            f"{stateful[0]} is stateful: its states carry from batch to batch, which the "
            "reference path keeps"
        )
    if stack.per_step and stack.masked:  # plan_stack declines these today; the kernel
        # reads every step's carried state, where zero_output_for_mask would give zeros
        return None, "outputs on every step of masked sequences run on the reference path"
    parameters = list(model.parameters())
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in parameters):
        return None, "the kernel runs float32 weights on the CPU"
    if not (
        isinstance(x, torch.Tensor)
        or (isinstance(x, (list, tuple)) and all(isinstance(a, torch.Tensor) for a in x))
    ):
        return None, "x is not an array or a list of arrays"
    inputs, reason = stack_inputs(stack, x)
    if inputs is None:
        return None, reason
    from unrolled.compiled import blas

    if blas.missing() is not None:
        return None, f"the inference kernel needs MKL: {blas.missing()}"
    runner = PredictRunner(stack, inputs, _threads_for(inputs[0].shape[0]))
    threads = runner.threads
    return runner, (
        f"numba inference kernel: the forward pass of {described(stack)}, over {threads} "
        f"thread{'s' * (threads > 1)} (MKL sgemm)"
    )


def _groups(levels: np.ndarray, samples: int, threads: int) -> tuple[int, int]:
    """`(threads, rows)`: how many groups run side by side, and the most rows in each
    (within `MAX_ROWS_PER_GROUP` and a workspace of `WORKSPACE_FLOATS`)."""
    threads = max(1, min(threads, samples))
    per_row = workspace_layout(levels, 1, False)[2]  # the layout grows by rows
    fits = max(1, WORKSPACE_FLOATS // per_row)
    rows = max(1, min(MAX_ROWS_PER_GROUP, fits, -(-samples // threads)))
    return threads, rows


def _threads_for(samples: int) -> int:
    """Threads for the kernel: up to torch's thread setting as the user left it, as many as
    have `MIN_ROWS_PER_THREAD` samples each."""
    import numba

    limit = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    return max(1, min(limit, samples // MIN_ROWS_PER_THREAD))
