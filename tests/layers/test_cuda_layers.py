"""CUDA: the non-recurrent layers and wrappers give the CPU's numbers and follow the data.

Skipped where no CUDA device is present.
"""

from __future__ import annotations

import copy

import pytest
import torch

import unrolled.layers as L

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TOL = {"atol": 1e-4, "rtol": 1e-4}


@pytest.fixture(autouse=True)
def _exact_cuda_matmuls():
    # TF32 would make cuda results differ from the CPU by ~1e-3; compare in full float32.
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def test_a_masked_embedding_bidirectional_chain_gives_the_cpu_numbers_on_cuda():
    torch.manual_seed(0)
    layers = [
        L.Embedding(10, 4, mask_zero=True),
        L.Bidirectional(L.LSTM(3, return_sequences=True)),
        L.TimeDistributed(L.Dense(2)),
    ]
    tokens = torch.tensor([[1, 2, 3, 0, 0], [0, 4, 5, 6, 7], [8, 0, 9, 0, 1]])
    on_cpu = tokens
    for layer in layers:
        on_cpu = layer(on_cpu)
    on_cuda = tokens.cuda()
    for layer in [copy.deepcopy(each).cuda() for each in layers]:
        on_cuda = layer(on_cuda)
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, **TOL)
    assert torch.equal(on_cuda._keras_mask.cpu(), on_cpu._keras_mask)


def test_lazily_built_layers_move_to_the_inputs_device():
    x = torch.randn(2, 3, 4, device="cuda")
    for layer in [L.Dense(2), L.TimeDistributed(L.Dense(2)), L.Bidirectional(L.GRU(2))]:
        assert layer(x).device.type == "cuda"
        assert all(w.device.type == "cuda" for w in layer.weights)


def test_seeded_dropout_draws_the_same_mask_on_cuda_as_on_the_cpu():
    x = torch.ones(4, 6)
    on_cpu = L.Dropout(0.5, seed=1)(x, training=True)
    on_cuda = L.Dropout(0.5, seed=1)(x.cuda(), training=True)
    assert torch.equal(on_cuda.cpu(), on_cpu)
