"""The one home of gate order and weight layouts.

Keras keeps `kernel (input_dim, G * units)` and `recurrent_kernel (units, G * units)`
with gates side by side on the last axis; torch's fused operators want
`weight_ih (G * units, input_dim)`, `weight_hh (G * units, units)` and two biases.

    LSTM   Keras i, f, c, o   torch i, f, g, o   same order: a transpose (a view, no copy)
    GRU    Keras z, r, h      torch r, z, n      swap the first two blocks
    RNN    one block          one block          a transpose

Keras's single LSTM/SimpleRNN bias becomes torch's `bias_ih`, with `bias_hh` zero.
A GRU with `reset_after=True` has bias rows (input bias, recurrent bias), which are
torch's `bias_ih` and `bias_hh`.
"""

from __future__ import annotations

import torch


def gru_gate_swap(units: int, device: torch.device) -> torch.Tensor:
    """Column index that turns Keras's z, r, h blocks into torch's r, z, n (and back)."""
    z, r, h = (torch.arange(units, device=device) + k * units for k in range(3))
    return torch.cat([r, z, h])


def lstm_fused_params(
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    zero_bias: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """`[w_ih, w_hh(, b_ih, b_hh)]` for `torch.lstm` from Keras LSTM weights.

    `zero_bias`, zeros shaped like `bias`, may be passed in to save an allocation per call.
    """
    params = [kernel.t(), recurrent_kernel.t()]  # (4U, F), (4U, U): views
    if bias is not None:
        params += [bias, torch.zeros_like(bias) if zero_bias is None else zero_bias]
    return params


def simple_rnn_fused_params(
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    zero_bias: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """`[w_ih, w_hh(, b_ih, b_hh)]` for `torch.rnn_tanh`/`rnn_relu` from Keras SimpleRNN weights."""
    return lstm_fused_params(
        kernel, recurrent_kernel, bias, zero_bias
    )  # one block: same transposes


def gru_fused_params(
    kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None
) -> list[torch.Tensor]:
    """`[w_ih, w_hh(, b_ih, b_hh)]` for `torch.gru` from Keras GRU weights (`reset_after=True`)."""
    swap = gru_gate_swap(recurrent_kernel.shape[0], kernel.device)
    params = [kernel.index_select(1, swap).t(), recurrent_kernel.index_select(1, swap).t()]
    if bias is not None:
        bias_rows = bias.index_select(1, swap)  # (2, 3U): input bias, recurrent bias
        params += [bias_rows[0], bias_rows[1]]
    return params


def keras_weights_from_torch(module: torch.nn.RNNBase) -> list[torch.Tensor]:
    """Keras-layout `[kernel, recurrent_kernel, bias]` from a one-layer, one-direction torch RNN.

    For `nn.LSTM` and `nn.RNN` torch's two biases are summed into Keras's one; for
    `nn.GRU` they become the two rows of a `reset_after=True` bias.
    """
    if module.num_layers != 1 or module.bidirectional:
        raise ValueError("Only one-layer, one-direction torch RNNs map onto a single Keras layer.")
    w_ih, w_hh = module.weight_ih_l0.detach(), module.weight_hh_l0.detach()
    b_ih = module.bias_ih_l0.detach() if module.bias else None
    b_hh = module.bias_hh_l0.detach() if module.bias else None
    if isinstance(module, torch.nn.GRU):
        swap = gru_gate_swap(module.hidden_size, w_ih.device)  # the swap is its own inverse
        weights = [w_ih.t().index_select(1, swap), w_hh.t().index_select(1, swap)]
        if b_ih is not None:
            weights.append(torch.stack([b_ih, b_hh]).index_select(1, swap))
        return weights
    weights = [w_ih.t(), w_hh.t()]
    if b_ih is not None:
        weights.append(b_ih + b_hh)
    return weights
