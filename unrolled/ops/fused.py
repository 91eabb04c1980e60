"""Calls torch's fused RNN operators (oneDNN/ATen on CPU, cuDNN on CUDA).

These are the operators behind `torch.nn.LSTM/GRU/RNN`. Masked input runs them on
a packed batch of each row's valid steps (see `ops.masks`), so any mask stays on the
fused path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch

from unrolled.ops import packing as packing_ops

FUSED_OPERATORS: dict[str, Callable[..., tuple[torch.Tensor, ...]]] = {
    "lstm": torch.lstm,
    "gru": torch.gru,
    "rnn_tanh": torch.rnn_tanh,
    "rnn_relu": torch.rnn_relu,
}


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


def _hidden(kind: str, states: list[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    # torch wants (layers, B, U) states: a pair for LSTM, one tensor otherwise.
    stacked = tuple(s.unsqueeze(0) for s in states)
    return stacked if kind == "lstm" else stacked[0]


def run_fused(
    kind: str,
    x: torch.Tensor,
    states: list[torch.Tensor] | None,
    params: list[torch.Tensor],
    state_size: int | list[int],
    final_states: bool = True,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One fused call over `x (B, T, F)`; returns outputs `(B, T, U)` and final states.

    `states` None means zeros, made here directly in torch's `(1, B, U)` layout. With
    `final_states=False` the final states are not returned (an empty list).
    """
    if states is None:
        sizes = [state_size] if isinstance(state_size, int) else state_size
        zeros = [x.new_zeros(1, x.shape[0], size) for size in sizes]
        hidden = tuple(zeros) if kind == "lstm" else zeros[0]
    else:
        hidden = _hidden(kind, states)
    precision, x, hidden = _float32_under_cpu_autocast(x, hidden, params)
    with _on_cuda(x), precision:
        outputs, *final = FUSED_OPERATORS[kind](
            x,
            hidden,
            params,
            len(params) == 4,
            1,
            0.0,
            torch.is_grad_enabled(),
            False,
            True,
        )
    return outputs, [s.squeeze(0) for s in final] if final_states else []


def run_fused_masked(
    kind: str,
    x: torch.Tensor,
    states: list[torch.Tensor],
    params: list[torch.Tensor],
    mask: torch.Tensor,
    final_states: bool = True,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The fused operator under Keras masking: only valid steps run, outputs carried forward.

    Returns outputs `(B, T, U)` where masked steps repeat the previous output (zeros
    before the first valid step) and the states after each row's last valid step; a
    row with no valid step keeps its initial states.
    """
    batch, steps = mask.shape
    if batch == 1 and not mask.is_cuda:  # one row: read its mask once, slice instead of gather
        return _run_one_row(kind, x, states, params, mask[0].tolist())
    if not bool(mask.any()):  # every row fully masked: nothing runs
        units = states[0].shape[-1]
        return x.new_zeros(batch, steps, units), list(states)
    if bool((mask == mask[:1]).all()):  # one row, or every row padded alike: no packing needed
        return _run_shared_steps(kind, x, states, params, mask[0])
    if kind != "lstm" or not final_states:
        # The dense operator (much faster than the packed one on CPU) over each row's valid
        # steps moved to the front; the steps run after a row's end are never read. Exact for
        # every output and for h; only LSTM's c at a row's end would be lost, hence packing.
        return _run_left_aligned(kind, x, states, params, mask)
    packing = packing_ops.plan(mask)
    hidden = _hidden(kind, [s.index_select(0, packing.run_rows) for s in states])
    precision, packed, hidden = _float32_under_cpu_autocast(
        packing_ops.pack(x, packing), hidden, params
    )
    with _on_cuda(x), precision:
        out_data, *final = FUSED_OPERATORS[kind](
            packed,
            packing.batch_sizes,
            hidden,
            params,
            len(params) == 4,
            1,
            0.0,
            torch.is_grad_enabled(),
            False,
        )
    outputs = packing_ops.unpack(out_data, packing, batch, steps)  # (B, T, U)
    return outputs, [packing_ops.final_states(h[0], s, packing) for h, s in zip(final, states)]


def _run_one_row(
    kind: str,
    x: torch.Tensor,
    states: list[torch.Tensor],
    params: list[torch.Tensor],
    valid: list[bool],
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # The same computation as `_run_shared_steps`, with the mask as a Python list: a batch
    # of one (the seeds' stateful recipe) pays for no mask reductions or index tensors.
    kept = [t for t, v in enumerate(valid) if v]
    if not kept:
        return x.new_zeros(1, len(valid), states[0].shape[-1]), list(states)
    first, last = kept[0], kept[-1]
    contiguous = last - first + 1 == len(kept)
    x_run = x[:, first : last + 1] if contiguous else x[:, kept]  # (1, K, F)
    outputs, final = run_fused(kind, x_run, states, params, state_size=[])  # (1, K, U)
    if contiguous and last == len(valid) - 1:  # pre-padding: zeros, then every output
        if first == 0:
            return outputs, final
        return torch.cat([outputs.new_zeros(1, first, outputs.shape[2]), outputs], dim=1), final
    position, seen = [], 0  # for each step, 1 + the index of the last valid output (0: none)
    for v in valid:
        seen += v
        position.append(seen)
    with_zero = torch.cat([outputs.new_zeros(1, 1, outputs.shape[2]), outputs], dim=1)
    return with_zero[:, position], final  # (1, T, U)


def _run_shared_steps(
    kind: str,
    x: torch.Tensor,
    states: list[torch.Tensor],
    params: list[torch.Tensor],
    valid: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # Every row has the same valid steps: run them as one plain batch, then repeat each
    # output over the masked steps after it (zeros before the first), as Keras does.
    steps = valid.nonzero().squeeze(1)  # (K,)
    outputs, final = run_fused(kind, x.index_select(1, steps), states, params, state_size=[])
    position = valid.cumsum(0) - 1  # (T,): the last valid step at or before t, -1 before any
    with_zero = torch.cat(
        [outputs.new_zeros(outputs.shape[0], 1, outputs.shape[2]), outputs], dim=1
    )
    return with_zero.index_select(1, position + 1), final  # (B, T, U)


def _run_left_aligned(
    kind: str,
    x: torch.Tensor,
    states: list[torch.Tensor],
    params: list[torch.Tensor],
    mask: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    batch, steps, features = x.shape
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (B, T): valid steps first
    row_starts = torch.arange(batch, device=x.device).unsqueeze(1) * steps  # (B, 1)
    aligned = x.reshape(batch * steps, features).index_select(0, (row_starts + order).reshape(-1))
    outputs, _ = run_fused(
        kind, aligned.view(batch, steps, features), states, params, [], final_states=False
    )
    units = outputs.shape[-1]
    with_zero = torch.cat(
        [outputs.new_zeros(1, units), outputs.reshape(batch * steps, units)]
    )  # (1 + B*T, U)
    position = mask.cumsum(dim=1) - 1  # (B, T): the last valid step at or before t, -1 before any
    index = torch.where(position >= 0, row_starts + position + 1, torch.zeros_like(position))
    carried = with_zero.index_select(0, index.reshape(-1)).view(batch, steps, units)  # (B, T, U)
    # h after a row's last valid step is its last carried output; an empty row keeps its state.
    lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
    last = carried[:, -1]
    return carried, [torch.where(lengths > 0, last, states[0])]
