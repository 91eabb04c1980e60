"""Calls torch's fused RNN operators (oneDNN/ATen on CPU, cuDNN on CUDA).

These are the operators behind `torch.nn.LSTM/GRU/RNN`. Masked input runs them on
a packed batch of each row's valid steps (see `ops.masks`), so any mask stays on the
fused path.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np
import torch

from unrolled.ops import packing as packing_ops
from unrolled.ops import tracing
from unrolled.ops.cell_kinds import FusedOperator


@contextmanager
def _quiet_cudnn_layout_warning() -> Iterator[None]:
    # cuDNN warns that weights "are not part of single contiguous chunk of memory" when given
    # views of Keras-layout weights; the copy it makes is the price of that layout, not a bug.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="RNN module weights are not part of single contiguous"
        )
        yield


def _on_cuda(x: torch.Tensor) -> AbstractContextManager[None]:
    return _quiet_cudnn_layout_warning() if x.is_cuda else nullcontext()


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")  # torch >= 2.4
    except TypeError:
        return torch.is_autocast_cpu_enabled()


def _float32_under_cpu_autocast(
    x: torch.Tensor, hidden: Any, params: list[torch.Tensor]
) -> tuple[AbstractContextManager[Any], torch.Tensor, Any]:
    # CPU autocast sends the RNN operators to oneDNN's bfloat16/float16 kernels, which need
    # CPU features (AVX-512 BF16, AMX) that many machines lack: there the call fails with
    # "could not create a primitive descriptor". So under CPU autocast they run in the
    # weights' precision (float32), with autocast off for the call; inputs cast to match.
    if x.is_cuda or not _cpu_autocast():
        return nullcontext(), x, hidden
    dtype = params[0].dtype
    if isinstance(hidden, tuple):
        hidden = tuple(h.to(dtype) for h in hidden)
    else:
        hidden = hidden.to(dtype)
    return torch.autocast("cpu", enabled=False), x.to(dtype), hidden


def _hidden(
    kind: FusedOperator, states: list[torch.Tensor]
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    # torch wants (layers, B, U) states: a pair for LSTM, one tensor otherwise.
    stacked = tuple(s.unsqueeze(0) for s in states)
    return stacked if kind.paired_states else stacked[0]


# Zero initial states in torch's `(1, B, U)` layout, reused across calls: the operator
# never writes to them, and making them costs more than a tiny model's arithmetic.
_ZERO_HIDDEN: dict[tuple[Any, ...], Any] = {}
_ZERO_HIDDEN_LIMIT = 32


def _zero_hidden(kind: FusedOperator, x: torch.Tensor, state_size: int | list[int]) -> Any:
    sizes = (state_size,) if isinstance(state_size, int) else tuple(state_size)
    if not tracing.may_keep(x):
        return _hidden(kind, _zeros(x, sizes))
    # Inference-mode tensors cannot be saved for backward, so they are kept apart.
    key = (kind, x.shape[0], sizes, x.dtype, x.device, torch.is_inference_mode_enabled())
    hidden = _ZERO_HIDDEN.get(key)
    if hidden is None:
        hidden = _hidden(kind, _zeros(x, sizes))
        if len(_ZERO_HIDDEN) >= _ZERO_HIDDEN_LIMIT:
            _ZERO_HIDDEN.clear()
        _ZERO_HIDDEN[key] = hidden
    return hidden


def _keeps_workspace() -> bool:
    # The operator's `train` flag: keep what backward needs when gradients are on. A trace
    # is made for inference, and must not depend on the grad mode it was traced under.
    return torch.is_grad_enabled() and not torch.jit.is_tracing()


def _options(params: list[torch.Tensor]) -> tuple[bool, int, float, bool, bool]:
    # What torch's operators take after the weights: has_biases, num_layers, dropout, train,
    # bidirectional (the unpacked operator then takes batch_first).
    return len(params) == 4, 1, 0.0, _keeps_workspace(), False


def run_fused(
    kind: FusedOperator,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    params: list[torch.Tensor],
    state_size: int | list[int],
    final_states: bool = True,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One fused call over `x (B, T, F)`; returns outputs `(B, T, U)` and final states.

    `states` None means zeros (of `state_size`). With `final_states=False` the final
    states are not returned (an empty list).
    """
    hidden = _zero_hidden(kind, x, state_size) if states is None else _hidden(kind, states)
    arguments = (*_options(params), True)  # batch_first
    if x.is_cuda or _cpu_autocast():
        precision, x, hidden = _float32_under_cpu_autocast(x, hidden, params)
        with _on_cuda(x), precision:
            outputs, *final = kind.sequence(x, hidden, params, *arguments)
    else:  # the plain CPU call, without entering two context managers
        outputs, *final = kind.sequence(x, hidden, params, *arguments)
    return outputs, [s.squeeze(0) for s in final] if final_states else []


def _zeros(x: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor]:
    # `(B, U)` zeros for each state.
    return [x.new_zeros(x.shape[0], size) for size in sizes]


def host_mask(mask: torch.Tensor) -> list[bool] | np.ndarray:
    """A `(B, T)` bool mask read once on the host, for the index arithmetic of masking.

    One CPU row becomes a Python list (its valid steps are then sliced, with no further
    torch operation); several rows, or a GPU mask, a NumPy array `(B, T)`, where an
    operation on a few thousand booleans costs a microsecond instead of a torch dispatch.
    """
    if mask.shape[0] == 1 and mask.device.type == "cpu":
        return mask.tolist()[0]
    return (mask if mask.device.type == "cpu" else mask.cpu()).numpy()


def every_step_valid(host: list[bool] | np.ndarray) -> bool:
    """Whether a `host_mask` has no masked step."""
    return all(host) if isinstance(host, list) else bool(host.all())


def run_fused_masked(
    kind: FusedOperator,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    params: list[torch.Tensor],
    mask: torch.Tensor,
    final_states: bool = True,
    last_only: bool = False,
    host: list[bool] | np.ndarray | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The fused operator under Keras masking: only valid steps run, outputs carried forward.

    Returns outputs `(B, T, U)` where masked steps repeat the previous output (zeros
    before the first valid step) and the states after each row's last valid step; a
    row with no valid step keeps its initial states. `states` None means zeros.

    `final_states=False`: the final states may be left out (an empty list) or inexact
    (LSTM's c). `last_only`: only the last step's output is wanted; it comes back alone,
    `(B, U)`. `host`: `host_mask(mask)`, if the caller has read it already.

    The index arithmetic runs on the host, in Python for one row and in NumPy for several,
    where it costs microseconds instead of a torch dispatch per operation.
    """
    host = host_mask(mask) if host is None else host
    if isinstance(host, list):  # one row: its valid steps are sliced rather than gathered
        if not any(host):
            return _nothing_runs(kind, x, states, params, last_only)
        return _run_shared_steps(kind, x, states, params, host, final_states, last_only)
    valid = host  # (B, T)
    if not valid.any():  # every row fully masked
        return _nothing_runs(kind, x, states, params, last_only)
    if (valid == valid[:1]).all():  # every row padded alike: no packing needed
        row = valid[0].tolist()
        return _run_shared_steps(kind, x, states, params, row, final_states, last_only)
    if not kind.paired_states or not final_states:
        # The dense operator (much faster than the packed one on CPU) over each row's valid
        # steps moved to the front; the steps run after a row's end are never read. Exact for
        # every output and for h; only LSTM's c at a row's end would be lost, hence packing.
        return _run_left_aligned(kind, x, states, params, valid, last_only)
    return _run_packed(kind, x, states, params, mask, last_only)


def _state_sizes(kind: FusedOperator, params: list[torch.Tensor]) -> list[int]:
    return [params[1].shape[1]] * kind.state_count  # w_hh is (G * U, U)


def _index(values: Any, device: torch.device) -> torch.Tensor:
    index = torch.as_tensor(values, dtype=torch.int64)
    return index if device.type == "cpu" else index.to(device, non_blocking=True)


def _nothing_runs(
    kind: FusedOperator,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    params: list[torch.Tensor],
    last_only: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # Every step masked: zero outputs, and the states stay as they came.
    initial = _zeros(x, _state_sizes(kind, params)) if states is None else list(states)
    units = params[1].shape[1]
    outputs = x.new_zeros(x.shape[0], units) if last_only else x.new_zeros(*x.shape[:2], units)
    if torch.is_grad_enabled():
        # Keras runs the cell and masks its result, so every weight gets a zero gradient, and
        # momentum still moves it; with no gradient at all an optimizer would skip it. The
        # inputs too: the layers before (an Embedding, a lower LSTM) get zeros, not nothing.
        outputs = outputs + (sum(p.sum() for p in params) + x.sum()) * 0.0
    return outputs, initial


def _run_shared_steps(
    kind: FusedOperator,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    params: list[torch.Tensor],
    valid: list[bool],
    final_states: bool,
    last_only: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # Every row has the same valid steps, at least one: run them as one plain batch, then
    # repeat each output over the masked steps after it (zeros before the first), as Keras
    # does. Contiguous valid steps (pre- or post-padding) are a slice, not a gather.
    kept = [t for t, v in enumerate(valid) if v]
    first, last = kept[0], kept[-1]
    contiguous = last - first + 1 == len(kept)
    x_run = (
        x.narrow(1, first, len(kept)) if contiguous else x.index_select(1, _index(kept, x.device))
    )
    outputs, final = run_fused(
        kind, x_run, states, params, _state_sizes(kind, params), final_states
    )  # (B, K, U)
    if last_only:  # the last step's output is the last valid step's
        return outputs.select(1, -1), final
    batch, steps, units = x.shape[0], len(valid), outputs.shape[2]
    if contiguous and last == steps - 1:  # pre-padding: zeros, then every output
        if first == 0:
            return outputs, final
        return torch.cat([outputs.new_zeros(batch, first, units), outputs], dim=1), final
    position, seen = [], 0  # for each step, 1 + the index of the last valid output (0: none)
    for v in valid:
        seen += v
        position.append(seen)
    with_zero = torch.cat([outputs.new_zeros(batch, 1, units), outputs], dim=1)
    return with_zero.index_select(1, _index(position, x.device)), final  # (B, T, U)


def _run_left_aligned(
    kind: FusedOperator,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    params: list[torch.Tensor],
    valid: np.ndarray,
    last_only: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    batch, steps, features = x.shape
    # All index arithmetic first, in NumPy; then only torch (each switch costs time).
    lengths = valid.sum(axis=1)  # (B,)
    longest = int(lengths.max())  # steps past the longest row's end are never read: not run
    order = np.argsort(~valid, axis=1, kind="stable")[:, :longest]  # (B, K): valid steps first
    row_starts = np.arange(batch)[:, None] * steps  # (B, 1)
    gather = (row_starts + order).reshape(-1)
    if last_only:  # each row's output after its last valid step
        read = np.maximum(lengths - 1, 0)  # (B,)
    else:  # the left-aligned index of the last valid step at or before t
        position = np.cumsum(valid, axis=1)  # (B, T)
        started = position > 0
        read = np.maximum(position - 1, 0)
    empty_rows = np.flatnonzero(lengths == 0)

    aligned = x.reshape(batch * steps, features).index_select(0, _index(gather, x.device))
    outputs, _ = run_fused(
        kind,
        aligned.view(batch, longest, features),
        states,
        params,
        _state_sizes(kind, params),
        final_states=False,
    )
    # Read outputs through (row, step) indices: the operator's batch-first outputs are a
    # transposed view, which a reshape would copy whole.
    rows = _index(np.arange(batch), x.device)
    if last_only:
        carried = outputs[rows, _index(read, x.device)]  # (B, U)
    else:
        carried = outputs[rows.unsqueeze(1), _index(read, x.device)]  # (B, T, U)
        not_started = torch.from_numpy(~started).to(x.device, non_blocking=True).unsqueeze(2)
        carried = carried.masked_fill(not_started, 0.0)  # zeros before a row's first valid step
    if len(empty_rows):  # rows with no valid step output zeros
        empty = _index(empty_rows, x.device)
        carried = carried.index_fill(0, empty, 0.0)
    last = carried if last_only else carried[:, -1]  # (B, U)
    if len(empty_rows) == 0:
        return carried, [last]  # h after each row's last valid step: its last output
    # An empty row keeps its initial state.
    initial = last.new_zeros(last.shape) if states is None else states[0]
    return carried, [last.index_copy(0, empty, initial.index_select(0, empty))]


def _run_packed(
    kind: FusedOperator,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    params: list[torch.Tensor],
    mask: torch.Tensor,
    last_only: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # Rows padded differently, LSTM's final c wanted: the packed operator stops each row
    # at its end, so every state is exact.
    batch, steps = mask.shape
    states = _zeros(x, _state_sizes(kind, params)) if states is None else states
    packing = packing_ops.plan(mask)
    hidden = _hidden(kind, [s.index_select(0, packing.run_rows) for s in states])
    precision, packed, hidden = _float32_under_cpu_autocast(
        packing_ops.pack(x, packing), hidden, params
    )
    with _on_cuda(x), precision:
        out_data, *final = kind.sequence(
            packed, packing.batch_sizes, hidden, params, *_options(params)
        )
    outputs = packing_ops.unpack(out_data, packing, batch, steps)  # (B, T, U)
    if last_only:
        outputs = outputs[:, -1]
    return outputs, [packing_ops.final_states(h[0], s, packing) for h, s in zip(final, states)]
