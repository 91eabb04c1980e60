"""CUDA: the same numbers as on the CPU (cuDNN vs oneDNN/ATen), and weights follow the data.

Skipped where no CUDA device is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

B, T, F, U = 4, 7, 3, 5
TOL = {"atol": 1e-4, "rtol": 1e-4}
MASK = torch.tensor(
    [[1, 1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    dtype=torch.bool,
)


@pytest.fixture(autouse=True)
def _exact_cuda_matmuls():
    # TF32 would make cuda results differ from the CPU by ~1e-3; compare in full float32.
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def cpu_and_cuda(cls, **kwargs):
    cpu = cls(U, return_sequences=True, return_state=True, **kwargs)
    cpu.build((None, T, F))
    rng = np.random.default_rng(0)
    cpu.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in cpu.get_weights()])
    gpu = cls(U, return_sequences=True, return_state=True, **kwargs)
    gpu.set_weights(cpu.get_weights())
    return cpu, gpu.to("cuda")


def inputs():
    return torch.randn(B, T, F, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
@pytest.mark.parametrize(
    "cls", [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN], ids=lambda c: c.__name__
)
def test_cuda_outputs_and_states_equal_cpu(cls, use_cudnn, masked):
    cpu, gpu = cpu_and_cuda(cls, use_cudnn=use_cudnn)
    x = inputs()
    mask = MASK if masked else None
    want_out, *want_states = cpu(x, mask=mask)
    got_out, *got_states = gpu(x.cuda(), mask=None if mask is None else mask.cuda())
    assert got_out.device.type == "cuda"
    torch.testing.assert_close(got_out.cpu(), want_out, **TOL)
    for got, want in zip(got_states, want_states):
        torch.testing.assert_close(got.cpu(), want, **TOL)


@pytest.mark.parametrize("cls", [unrolled.LSTM, unrolled.GRU], ids=lambda c: c.__name__)
def test_cuda_gradients_equal_cpu_gradients_under_mask(cls):
    cpu, gpu = cpu_and_cuda(cls)
    grads = []
    for layer, device in ((cpu, "cpu"), (gpu, "cuda")):
        x = inputs().to(device).requires_grad_()
        out, *_ = layer(x, mask=MASK.to(device))
        (out * torch.arange(U, dtype=torch.float32, device=device)).sum().backward()
        grads.append([x.grad.cpu(), *[w.grad.cpu() for w in layer.weights]])
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize(
    "cls", [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN], ids=lambda c: c.__name__
)
def test_lazy_build_on_cuda_input_places_weights_on_cuda(cls):
    layer = cls(U)
    out = layer(inputs().cuda())
    assert out.device.type == "cuda"
    assert all(w.device.type == "cuda" for w in layer.weights)


def test_stateful_states_live_on_cuda_and_continue_like_cpu():
    cpu, gpu = cpu_and_cuda(unrolled.LSTM, stateful=True)
    x = inputs()
    for chunk in (x[:, :3], x[:, 3:]):
        cpu(chunk)
        gpu(chunk.cuda())
    assert all(getattr(gpu, name).device.type == "cuda" for name in ("state_0", "state_1"))
    for got, want in zip(gpu.get_states(), cpu.get_states()):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_numpy_input_follows_cuda_weights():
    _, gpu = cpu_and_cuda(unrolled.GRU)
    out, _ = gpu(inputs().numpy())
    assert out.device.type == "cuda"


def test_seeded_dropout_draws_the_same_masks_on_cuda_as_on_cpu():
    cpu, gpu = cpu_and_cuda(unrolled.LSTM, dropout=0.5, seed=3)
    want, *_ = cpu(inputs(), training=True)
    got, *_ = gpu(inputs().cuda(), training=True)
    torch.testing.assert_close(got.cpu(), want, **TOL)


def test_cuda_tensor_into_cpu_layer_raises_config_error_naming_devices():
    cpu, _ = cpu_and_cuda(unrolled.LSTM)
    with pytest.raises(unrolled.ConfigError) as info:
        cpu(inputs().cuda())
    assert "cuda" in str(info.value) and "cpu" in str(info.value)
    assert not isinstance(info.value, RuntimeError)


def test_cpu_tensor_into_cuda_layer_raises_config_error_naming_devices():
    _, gpu = cpu_and_cuda(unrolled.LSTM)
    with pytest.raises(unrolled.ConfigError) as info:
        gpu(inputs())
    assert "cuda" in str(info.value) and "cpu" in str(info.value)
