"""Keras weight layouts to and from torch's fused operators, for any `CellKind`.

Keras keeps `kernel (input_dim, G * units)` and `recurrent_kernel (units, G * units)`
with gates side by side on the last axis; torch's fused operators want
`weight_ih (G * units, input_dim)`, `weight_hh (G * units, units)` and two biases. The
gate order of each layout is the kind's (`ops.cell_kinds`): where torch's order is
Keras's, the mapping is a transpose (a view, no copy); otherwise the blocks are gathered.

Keras's single bias becomes torch's `bias_ih`, with `bias_hh` zero; a bias with two rows
(GRU `reset_after=True`: input bias, recurrent bias) gives `bias_ih` and `bias_hh`.
"""

from __future__ import annotations

import torch

from unrolled.ops.cell_kinds import GRU, LSTM, SIMPLE_RNN, CellKind


def keras_weight_shapes(
    kind: CellKind, features: int, units: int, use_bias: bool = True
) -> list[tuple[str, tuple[int, ...]]]:
    """Keras's `[(name, shape)]` for a cell of `kind`, in Keras's order.

    Example:
        >>> from unrolled.ops.cell_kinds import GRU  # the kind, not the layer
        >>> keras_weight_shapes(GRU, features=2, units=3)
        [('kernel', (2, 9)), ('recurrent_kernel', (3, 9)), ('bias', (2, 9))]
    """
    width = kind.gate_count * units
    shapes = [("kernel", (features, width)), ("recurrent_kernel", (units, width))]
    return shapes + ([("bias", kind.bias_shape(units))] if use_bias else [])


def block_index(order: tuple[int, ...], units: int, device: torch.device) -> torch.Tensor:
    """Column index that lays Keras's gate blocks out in `order` (the Keras block per position)."""
    return torch.cat([torch.arange(units, device=device) + k * units for k in order])


def reorder_blocks(weight: torch.Tensor, order: tuple[int, ...], units: int) -> torch.Tensor:
    """`weight (..., G * units)` with its gate blocks in `order`; the tensor itself if unchanged."""
    if order == tuple(range(len(order))):
        return weight
    return weight.index_select(-1, block_index(order, units, weight.device))


def fused_params(
    kind: CellKind,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    zero_bias: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """`[w_ih, w_hh(, b_ih, b_hh)]` for the kind's torch operator from Keras weights.

    `zero_bias`, zeros shaped like a one-row `bias`, may be passed in to save an
    allocation per call.
    """
    order, units = kind.torch_order, recurrent_kernel.shape[0]
    # (G*U, F), (G*U, U): views of the Keras weights when the gate order is the same
    params = [reorder_blocks(w, order, units).t() for w in (kernel, recurrent_kernel)]
    if bias is None:
        return params
    bias = reorder_blocks(bias, order, units)
    if kind.bias_rows == 2:
        return params + [bias[0], bias[1]]  # (G*U,) each: input bias, recurrent bias
    return params + [bias, torch.zeros_like(bias) if zero_bias is None else zero_bias]


_KIND_OF_MODULE = ((torch.nn.LSTM, LSTM), (torch.nn.GRU, GRU), (torch.nn.RNN, SIMPLE_RNN))


def keras_weights_from_torch(module: torch.nn.RNNBase) -> list[torch.Tensor]:
    """Keras-layout `[kernel, recurrent_kernel, bias]` from a one-layer, one-direction torch RNN.

    For `nn.LSTM` and `nn.RNN` torch's two biases are summed into Keras's one; for
    `nn.GRU` they become the two rows of a `reset_after=True` bias.
    """
    if module.num_layers != 1 or module.bidirectional:
        raise ValueError("Only one-layer, one-direction torch RNNs map onto a single Keras layer.")
    kind = next(kind for torch_class, kind in _KIND_OF_MODULE if isinstance(module, torch_class))
    back = tuple(kind.torch_order.index(k) for k in range(kind.gate_count))  # torch -> Keras
    u = module.hidden_size
    weights = [module.weight_ih_l0.detach().t(), module.weight_hh_l0.detach().t()]
    if module.bias:
        b_ih, b_hh = module.bias_ih_l0.detach(), module.bias_hh_l0.detach()
        weights.append(torch.stack([b_ih, b_hh]) if kind.bias_rows == 2 else b_ih + b_hh)
    return [reorder_blocks(w, back, u) for w in weights]
