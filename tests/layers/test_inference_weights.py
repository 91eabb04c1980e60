"""Inference calls keep the fused operator's weight views; every kind of weight change shows."""

from __future__ import annotations

import pytest
import torch

import unrolled


def torch_twin(layer: unrolled.LSTM | unrolled.SimpleRNN) -> torch.nn.Module:
    """A torch.nn module with the layer's current weights (the independent oracle)."""
    cell = layer.cell
    kernel, recurrent, bias = (w.detach().double() for w in cell.weights)
    cls = torch.nn.LSTM if isinstance(layer, unrolled.LSTM) else torch.nn.RNN
    module = cls(kernel.shape[0], cell.units, batch_first=True).double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(kernel.t())
        module.weight_hh_l0.copy_(recurrent.t())
        module.bias_ih_l0.copy_(bias)
        module.bias_hh_l0.zero_()
    return module


def check(layer: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        got = layer(x.to(layer.cell.kernel.dtype)).double()
        want = torch_twin(layer)(x.double())[0][:, -1]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [unrolled.LSTM, unrolled.SimpleRNN])
def test_weight_changes_between_inference_calls_are_seen(make):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 2)
    layer = make(4)
    layer(x)  # builds
    check(layer, x)  # keeps the views

    layer.set_weights([w.detach().numpy() * 0.5 for w in layer.cell.weights])  # in place
    check(layer, x)

    with torch.no_grad():
        layer.cell.kernel.data.add_(0.25)  # in place, behind autograd's back (no version bump)
    check(layer, x)

    layer.cell.recurrent_kernel.data = layer.cell.recurrent_kernel.data * -1.0  # new storage
    check(layer, x)

    layer.double()  # new storage and dtype
    check(layer, x)

    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)  # a training step in between
    layer(x.double()).sum().backward()
    optimizer.step()
    check(layer, x)
