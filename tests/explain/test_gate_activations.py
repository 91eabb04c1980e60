"""Gate activations of one sample against an independent NumPy computation, and the layer itself."""

from __future__ import annotations

import functools

import numpy as np
import numpy_rnn
import pytest
import torch

import unrolled as U
from unrolled import topologies
from unrolled.explain import gate_activations


def _sample(steps, features, seed=0):
    return np.random.default_rng(seed).normal(size=(steps, features)).astype(np.float32)


def _numpy_lstm_gates(x, kernel, recurrent_kernel, bias, activation=np.tanh):
    """Keras's LSTM written out in float64, keeping every gate."""
    u = recurrent_kernel.shape[0]
    h, c = np.zeros(u), np.zeros(u)
    found = {key: [] for key in "ifgoch"}
    for x_t in np.asarray(x, np.float64):
        z = x_t @ kernel + h @ recurrent_kernel + bias
        i = numpy_rnn.sigmoid(z[:u])
        f = numpy_rnn.sigmoid(z[u : 2 * u])
        g = activation(z[2 * u : 3 * u])
        o = numpy_rnn.sigmoid(z[3 * u :])
        c = f * c + i * g
        h = o * activation(c)
        for key, value in zip("ifgoch", (i, f, g, o, c, h)):
            found[key].append(value)
    return {key: np.stack(rows) for key, rows in found.items()}


def test_lstm_gates_match_numpy_and_the_last_h_is_the_layer_output():
    model = topologies.many_to_one(timesteps=12, features=2, units=6)
    x = _sample(12, 2)
    found = gate_activations(model, x)
    assert sorted(found) == sorted("ifgoch") and all(v.shape == (12, 6) for v in found.values())
    lstm = model.layers[0]
    want = _numpy_lstm_gates(x, *[w.astype(np.float64) for w in lstm.get_weights()])
    for key in "ifgoch":
        np.testing.assert_allclose(found[key], want[key], atol=1e-6, err_msg=key)
    # h and c also agree with the shared reference's step function
    outputs, (h, c) = numpy_rnn.run(
        functools.partial(numpy_rnn.lstm_step, weights=lstm.get_weights()),
        x[None],
        [np.zeros((1, 6)), np.zeros((1, 6))],
    )
    np.testing.assert_allclose(found["h"], outputs[0], atol=1e-6)
    np.testing.assert_allclose(found["c"][-1], c[0], atol=1e-6)
    with torch.no_grad():
        own = lstm(torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(found["h"][-1], own, atol=1e-5)


def test_a_later_layer_gets_its_inputs_from_the_layers_before_it():
    model = U.Sequential(
        [
            U.Input((9, 3)),
            U.Dense(4, activation="tanh"),
            U.LSTM(5, return_sequences=True),
            U.LSTM(2),
        ]
    )
    x = _sample(9, 3, seed=1)
    found = gate_activations(model, x, layer=1)
    with torch.no_grad():
        before = model.layers[1](model.layers[0](torch.from_numpy(x[None])))  # (1, 9, 5)
        own = model.layers[2](before).numpy()[0]
    second = model.layers[2]
    want = _numpy_lstm_gates(
        before.numpy()[0], *[w.astype(np.float64) for w in second.get_weights()]
    )
    for key in "ifgoch":
        np.testing.assert_allclose(found[key], want[key], atol=1e-5, err_msg=key)
    np.testing.assert_allclose(found["h"][-1], own, atol=1e-5)
    assert gate_activations(model, x[None], layer=second.name)["h"].shape == (9, 2)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_end_in_the_layers_output(reset_after):
    model = U.Sequential([U.Input((7, 2)), U.GRU(4, reset_after=reset_after), U.Dense(1)])
    x = _sample(7, 2, seed=2)
    found = gate_activations(model, x)
    assert sorted(found) == ["g", "h", "r", "z"]
    gru = model.layers[0]
    outputs, _ = numpy_rnn.run(
        functools.partial(numpy_rnn.gru_step, weights=gru.get_weights(), reset_after=reset_after),
        x[None],
        [np.zeros((1, 4))],
    )
    np.testing.assert_allclose(found["h"], outputs[0], atol=1e-6)
    assert ((found["z"] > 0) & (found["z"] < 1)).all()
    with torch.no_grad():
        own = gru(torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(found["h"][-1], own, atol=1e-5)


def test_gates_follow_an_activation_assigned_to_the_cell():
    model = topologies.many_to_one(timesteps=8, features=2, units=4)
    x = _sample(8, 2, seed=6)
    lstm = model.layers[0]
    model.predict(x[None], verbose=0)  # a first call, then the cell's math changes
    lstm.cell.activation = U.activations.get("relu")
    found = gate_activations(model, x)
    weights = [w.astype(np.float64) for w in lstm.get_weights()]
    want = _numpy_lstm_gates(x, *weights, activation=numpy_rnn.relu)
    for key in "ifgoch":
        np.testing.assert_allclose(found[key], want[key], atol=1e-6, err_msg=key)
    assert not np.allclose(found["h"], _numpy_lstm_gates(x, *weights)["h"], atol=1e-3)
    with torch.no_grad():
        own = lstm(torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(found["h"][-1], own, atol=1e-5)


def test_backward_half_of_a_bidirectional_runs_in_processing_order():
    model = topologies.many_to_one(
        timesteps=6, features=2, units=3, bidirectional=True, cell="simplernn"
    )
    x = _sample(6, 2, seed=3)
    wrapper = model.layers[0]
    found = gate_activations(model, x, layer=f"{wrapper.name}/{wrapper.backward_layer.name}")
    assert sorted(found) == ["h"]
    with torch.no_grad():
        own = wrapper.backward_layer(torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(found["h"][-1], own, atol=1e-5)


def test_masked_steps_keep_the_state_and_have_no_gates():
    model = U.Sequential([U.Masking(0.0, input_shape=(6, 2)), U.LSTM(3)])
    x = _sample(6, 2, seed=4)
    x[4:] = 0.0  # post-padding
    found = gate_activations(model, x)
    assert np.isnan(found["i"][4:]).all() and not np.isnan(found["i"][:4]).any()
    np.testing.assert_array_equal(found["h"][5], found["h"][3])
    with torch.no_grad():
        own = model(torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(found["h"][-1], own, atol=1e-5)


def test_the_model_is_left_as_it_was():
    model = U.Sequential([U.Input(batch_shape=(1, 4, 2)), U.LSTM(3, stateful=True), U.Dense(1)])
    x = _sample(4, 2, seed=5)
    model.predict(x[None] + 1.0, verbose=0)  # non-zero states to start from
    states = model.layers[0].get_states()
    model.train()
    found = gate_activations(model, x)
    assert model.training and model.layers[0].training
    for before, after in zip(states, model.layers[0].get_states()):
        np.testing.assert_array_equal(before, after)
    with torch.no_grad():  # the gates started from the stateful states
        own = model.layers[0](torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(found["h"][-1], own, atol=1e-5)


def test_errors_name_the_problem():
    model = topologies.many_to_one(timesteps=5, features=1, units=2)
    with pytest.raises(U.ShapeError, match="one sample"):
        gate_activations(model, np.zeros((2, 5, 1)))
    with pytest.raises(U.ConfigError, match="No recurrent layer 'nope'"):
        gate_activations(model, np.zeros((5, 1)), layer="nope")
    feedback = topologies.one_to_many(4, 1, via="feedback")
    with pytest.raises(U.ConfigError, match="was not called"):
        gate_activations(feedback, np.zeros(1))
    with pytest.raises(U.ConfigError, match="no recurrent layer"):
        gate_activations(U.Sequential([U.Dense(1, input_shape=(2,))]), np.zeros(2))
    stacked = U.Sequential([U.Input((5, 1)), U.RNN([U.LSTMCell(3), U.GRUCell(2)])])
    with pytest.raises(
        U.ConfigError, match="computes LSTM, GRU and SimpleRNN cells; .*StackedRNNCells"
    ):
        gate_activations(stacked, np.zeros((5, 1)))
