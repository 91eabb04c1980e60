"""`dtype=` on layers: the weights and the computation in that type, as Keras's dtype policies.

The oracle is the NumPy reference in float64: a float64 layer matches it to 1e-12 (a float32
computation could not), 16-bit layers to their own precision.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy_rnn
import pytest
import torch

import unrolled
from unrolled.layers import GRU, LSTM, Dense, Embedding, SimpleRNN

X = np.random.default_rng(0).standard_normal((2, 4, 3))
STEPS = {
    "LSTM": numpy_rnn.lstm_step,
    "GRU": numpy_rnn.gru_step,
    "SimpleRNN": numpy_rnn.simple_rnn_step,
}
# dtype -> (torch dtype, tolerance against the float64 reference)
DTYPES = {
    "float64": (torch.float64, 1e-12),
    "float32": (torch.float32, 1e-6),
    "float16": (torch.float16, 1e-2),
    "bfloat16": (torch.bfloat16, 5e-2),
}


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("kind", sorted(STEPS))
def test_recurrent_weights_and_outputs_take_the_dtype(kind, dtype):
    torch_dtype, tolerance = DTYPES[dtype]
    layer = getattr(unrolled.layers, kind)(5, dtype=dtype, return_sequences=True)
    out = layer(torch.from_numpy(X))  # float64 data, cast to the layer's type
    assert {w.dtype for w in layer.cell.weights} == {torch_dtype}
    assert out.dtype == torch_dtype
    assert layer.get_config()["dtype"] == dtype
    weights = [w.detach().double().numpy() for w in layer.cell.weights]
    zeros = [np.zeros((2, 5))] * (2 if kind == "LSTM" else 1)
    want, _ = numpy_rnn.run(functools.partial(STEPS[kind], weights=weights), X, zeros)
    np.testing.assert_allclose(out.detach().double().numpy(), want, atol=tolerance)


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_dense_and_embedding_take_the_dtype(dtype):
    torch_dtype, tolerance = DTYPES[dtype]
    dense = Dense(2, dtype=dtype)
    out = dense(torch.from_numpy(X[:, 0]))
    assert dense.kernel.dtype == out.dtype == torch_dtype
    kernel, bias = (w.detach().double().numpy() for w in dense.weights)
    np.testing.assert_allclose(
        out.double().detach().numpy(), X[:, 0] @ kernel + bias, atol=tolerance
    )
    embedding = Embedding(6, 2, dtype=dtype)
    assert embedding(torch.tensor([[1, 5]])).dtype == torch_dtype


@pytest.mark.parametrize("value", [torch.float64, {"config": {"name": "float64"}}])
def test_torch_dtypes_and_keras_policy_configs_are_read(value):
    assert LSTM(2, dtype=value).variable_dtype == torch.float64


@pytest.mark.parametrize("value", ["mixed_float16", "int32", "float8"])
def test_other_dtypes_are_refused_with_the_accepted_ones(value):
    with pytest.raises(unrolled.ConfigError, match="mixed_precision|'float16', 'bfloat16'"):
        GRU(2, dtype=value)


def test_a_float64_model_fits_and_saves_in_float64(tmp_path):
    model = unrolled.Sequential(
        [unrolled.Input((4, 3)), LSTM(5, dtype="float64"), Dense(1, dtype="float64")]
    )
    model.compile(optimizer="adam", loss="mse")
    y = X.sum(axis=(1, 2))[:, None]
    model.fit(X, y, epochs=2, verbose=0)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled")
    assert {p.dtype for p in loaded.parameters()} == {torch.float64}
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_sixteen_bit_recurrent_layers_on_the_cpu_take_the_step_loop_and_say_why():
    layer = SimpleRNN(3, dtype="float16")
    layer(torch.from_numpy(X))
    assert layer.last_path.name == "loop" and "16-bit" in layer.last_path.reason
