"""Calls torch's fused RNN operators (oneDNN/ATen on CPU, cuDNN on CUDA).

These are the operators behind `torch.nn.LSTM/GRU/RNN`. Masked input runs them on
a packed batch of each row's valid steps (see `ops.masks`), so any mask stays on the
fused path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from unrolled.ops import masks

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
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One fused call over `x (B, T, F)`; returns outputs `(B, T, U)` and final states.

    `states` None means zeros, made here directly in torch's `(1, B, U)` layout.
    """
    if states is None:
        sizes = [state_size] if isinstance(state_size, int) else state_size
        zeros = [x.new_zeros(1, x.shape[0], size) for size in sizes]
        hidden = tuple(zeros) if kind == "lstm" else zeros[0]
    else:
        hidden = _hidden(kind, states)
    with _on_cuda(x):
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
    return outputs, [s.squeeze(0) for s in final]


def run_fused_masked(
    kind: str,
    x: torch.Tensor,
    states: list[torch.Tensor],
    params: list[torch.Tensor],
    mask: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The fused operator under Keras masking: valid steps packed, outputs carried forward.

    Returns outputs `(B, T, U)` where masked steps repeat the previous output (zeros
    before the first valid step) and the states after each row's last valid step; a
    row with no valid step keeps its initial states.
    """
    plan = masks.compaction(mask)
    compacted = masks.compact(x, plan.order)  # (B, T, F): valid steps first
    rows = plan.lengths > 0
    all_rows = bool(rows.all())
    if not all_rows:
        compacted, run_states = compacted[rows], [s[rows] for s in states]
    else:
        run_states = states
    if compacted.shape[0] == 0:  # every row fully masked: nothing runs
        units = states[0].shape[-1]
        return x.new_zeros(x.shape[0], x.shape[1], units), list(states)

    packed = pack_padded_sequence(
        compacted, plan.lengths[rows].cpu(), batch_first=True, enforce_sorted=False
    )
    hidden = _hidden(kind, [s.index_select(0, packed.sorted_indices) for s in run_states])
    with _on_cuda(x):
        out_data, *final = FUSED_OPERATORS[kind](
            packed.data,
            packed.batch_sizes,
            hidden,
            params,
            len(params) == 4,
            1,
            0.0,
            torch.is_grad_enabled(),
            False,
        )
    out_packed = PackedSequence(
        out_data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
    )
    compact_out, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=x.shape[1])
    final = [s.squeeze(0).index_select(0, packed.unsorted_indices) for s in final]  # (B_run, U)

    if not all_rows:
        compact_out = _scatter_rows(compact_out, rows)
        final = [
            torch.where(rows.unsqueeze(-1), _scatter_rows(new, rows), old)
            for new, old in zip(final, states)
        ]
    return masks.carry_forward(compact_out, plan.positions), final


def _scatter_rows(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    # Back to all B rows, zeros where `rows` is False.
    full = values.new_zeros(rows.shape[0], *values.shape[1:])
    return full.index_put((rows.nonzero().squeeze(-1),), values)
