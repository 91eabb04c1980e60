"""Each one-line topology learns a task that needs it, within seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled import topologies
from unrolled.errors import ConfigError
from unrolled.layers import GRU, LSTM, Bidirectional, Cropping1D, SimpleRNN


def _adam(rate: float = 0.01) -> unrolled.optimizers.Adam:
    return unrolled.optimizers.Adam(rate)


def test_many_to_one_learns_the_sum_of_a_sequence() -> None:
    unrolled.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2000, 5, 1)).astype("float32")
    y = x.sum(axis=1)  # (samples, 1)
    model = topologies.many_to_one(5, 1, units=16)
    model.compile(_adam(), "mse")
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    x_test = rng.uniform(0, 1, (300, 5, 1)).astype("float32")
    error = np.mean((model.predict(x_test, verbose=0) - x_test.sum(axis=1)) ** 2)
    assert error < 0.02 * x_test.sum(axis=1).var()  # explains over 98% of the variance


@pytest.mark.parametrize("via", ["repeat", "feedback"])
def test_one_to_many_generates_a_ramp_from_its_start_value(via: str) -> None:
    unrolled.set_random_seed(0)
    rng = np.random.default_rng(1)
    start = rng.uniform(0, 1, (600, 1)).astype("float32")
    ramp = start[:, None, :] + 0.1 * np.arange(1, 7, dtype="float32")[None, :, None]  # (N, 6, 1)
    model = topologies.one_to_many(6, 1, units=16, via=via)
    model.compile(_adam(), "mse")
    model.fit(start, ramp, epochs=20, batch_size=32, verbose=0)
    test_start = np.array([[0.2], [0.7]], dtype="float32")
    expected = test_start[:, None, :] + 0.1 * np.arange(1, 7)[None, :, None]
    error = np.abs(model.predict(test_start, verbose=0) - expected)
    # The ramp spans 0.3 to 1.3; a model that ignores its start value is off by 0.25 on average.
    assert error.mean() < 0.03 and error.max() < 0.1


def test_many_to_many_labels_each_step_by_its_running_sum() -> None:
    unrolled.set_random_seed(0)
    rng = np.random.default_rng(2)
    x = rng.choice([-1.0, 1.0], (1000, 10, 1)).astype("float32")
    labels = (np.cumsum(x, axis=1) > 0).astype("float32")  # needs memory of every step so far
    model = topologies.many_to_many(10, 1, outputs=1, units=16, output_activation="sigmoid")
    model.compile(_adam(), "binary_crossentropy")
    model.fit(x, labels, epochs=12, batch_size=32, verbose=0)
    x_test = rng.choice([-1.0, 1.0], (300, 10, 1)).astype("float32")
    predicted = model.predict(x_test, verbose=0) > 0.5
    assert (predicted == (np.cumsum(x_test, axis=1) > 0)).mean() > 0.97


def test_many_to_many_of_the_last_steps_keeps_only_those_steps() -> None:
    model = topologies.many_to_many(8, 2, outputs=3, output_steps=3)
    assert model.output_shape == (None, 3, 3)
    x = torch.randn(4, 8, 2)
    crop = next(layer for layer in model.layers if isinstance(layer, Cropping1D))
    assert crop.cropping == (5, 0)
    full = topologies.many_to_many(8, 2, outputs=3)
    full.set_weights(model.get_weights())  # same weights, no cropping: the last 3 steps agree
    torch.testing.assert_close(model(x), full(x)[:, -3:], rtol=0, atol=1e-6)


def _digits(rng: np.random.Generator, samples: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    tokens = rng.integers(0, 10, (samples, steps))
    return tokens, np.eye(10, dtype="float32")[tokens]  # (samples, steps, 10) one-hot


def test_seq2seq_reverses_digits_with_99_percent_token_accuracy() -> None:
    unrolled.set_random_seed(0)
    rng = np.random.default_rng(3)
    _, x = _digits(rng, 2000, 5)
    model = topologies.seq2seq(5, 5, 10, 10, units=64, output_activation="softmax")
    model.compile(_adam(), "categorical_crossentropy")
    model.fit(x, x[:, ::-1], epochs=12, batch_size=64, verbose=0)
    tokens, x_test = _digits(rng, 500, 5)
    decoded = model.predict(x_test, verbose=0).argmax(-1)  # greedy, from its own predictions
    assert (decoded == tokens[:, ::-1]).mean() >= 0.99


def test_seq2seq_decoding_equals_teacher_forcing_on_its_own_predictions() -> None:
    # The training graph (an ordinary functional model) is the oracle for the decoding loop.
    unrolled.set_random_seed(1)
    model = topologies.seq2seq(7, 3, 4, 5, units=[8, 6], output_activation="softmax")
    x = np.random.default_rng(4).normal(size=(6, 7, 4)).astype("float32")
    decoded = model.decode(x)
    assert decoded.shape == (6, 3, 5)  # different input and output lengths
    chosen = np.eye(5, dtype="float32")[decoded.argmax(-1)]
    forced = model([x, model.teacher_inputs(x, chosen)]).detach().numpy()
    np.testing.assert_allclose(decoded, forced, atol=1e-6)


@pytest.mark.parametrize("cell", ["gru", "simplernn"])
def test_seq2seq_with_other_cells_and_a_bidirectional_encoder_decodes_like_its_graph(
    cell: str,
) -> None:
    unrolled.set_random_seed(2)
    model = topologies.seq2seq(5, 4, 2, 2, units=6, cell=cell, bidirectional=True, start="last")
    x = np.random.default_rng(5).normal(size=(3, 5, 2)).astype("float32")
    decoded = model.decode(x)
    forced = model([x, model.teacher_inputs(x, decoded)]).detach().numpy()
    np.testing.assert_allclose(decoded, forced, atol=1e-5)
    assert any(isinstance(layer, Bidirectional) for layer in model.layers)


def test_seq2seq_decoding_stops_each_row_at_the_stop_token() -> None:
    unrolled.set_random_seed(3)
    model = topologies.seq2seq(4, 6, 3, 3, units=8, output_activation="softmax")
    x = np.random.default_rng(6).normal(size=(5, 4, 3)).astype("float32")
    free = model.decode(x).argmax(-1)  # (5, 6)
    stop = int(free[0, 1])
    stopped = model.decode(x, stop=stop)
    for row, tokens in enumerate(free):
        hits = np.flatnonzero(tokens == stop)
        if len(hits):  # the row ends at its first stop; later steps are zeros
            end = hits[0] + 1
            assert (stopped[row, end:] == 0).all()
            np.testing.assert_array_equal(stopped[row, :end].argmax(-1), tokens[:end])


def _sines(rng: np.random.Generator, samples: int, steps: int = 24) -> np.ndarray:
    phase = rng.uniform(0, 2 * np.pi, (samples, 1))
    frequency = rng.uniform(0.8, 1.2, (samples, 1))
    return np.sin(frequency * 0.5 * np.arange(steps)[None] + phase)[..., None].astype("float32")


def _roc_auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    # The probability that a random anomaly scores above a random normal window (Mann-Whitney).
    above = (positives[:, None] > negatives[None]).mean()
    ties = (positives[:, None] == negatives[None]).mean()
    return float(above + 0.5 * ties)


def test_autoencoder_scores_injected_anomalies_above_normal_windows() -> None:
    unrolled.set_random_seed(0)
    rng = np.random.default_rng(7)
    x = _sines(rng, 500)
    model = topologies.autoencoder(24, 1, latent=8, units=32)
    model.compile(_adam(), "mse")
    model.fit(x, x, epochs=15, batch_size=32, verbose=0)
    normal, anomalous = _sines(rng, 200), _sines(rng, 200)
    starts = rng.integers(4, 16, 200)
    for row, start in enumerate(starts):  # a 4-step level shift somewhere in the window
        anomalous[row, start : start + 4, 0] += rng.choice([-1.0, 1.0])
    scores = model.reconstruction_errors(normal), model.reconstruction_errors(anomalous)
    assert _roc_auc(*scores) >= 0.95
    assert model.encoder(torch.as_tensor(x[:3])).shape == (3, 8)


@pytest.mark.parametrize(
    "cell, layer_class", [("lstm", LSTM), ("gru", GRU), ("simplernn", SimpleRNN)]
)
def test_options_choose_the_cell_stack_and_direction(cell: str, layer_class: type) -> None:
    model = topologies.many_to_one(
        10, 3, outputs=2, units=[16, 8], cell=cell, bidirectional=True, dropout=0.1
    )
    wrapped = [layer for layer in model.layers if isinstance(layer, Bidirectional)]
    assert [type(w.forward_layer) for w in wrapped] == [layer_class, layer_class]
    assert [w.forward_layer.units for w in wrapped] == [16, 8]
    assert [w.forward_layer.return_sequences for w in wrapped] == [True, False]
    assert model.output_shape == (None, 2)


def test_one_to_one_runs_a_single_recurrent_step() -> None:
    model = topologies.one_to_one(3, outputs=2, units=4)
    lstm = next(layer for layer in model.layers if isinstance(layer, LSTM))
    x = torch.randn(5, 3)
    # Oracle: the same LSTM weights in torch.nn.LSTM over one step, then the Dense layer.
    kernel, recurrent, bias = (torch.as_tensor(w) for w in lstm.get_weights())
    gates = x @ kernel + bias  # h0 = 0: the recurrent kernel does not contribute
    i, f, g, o = gates.chunk(4, dim=-1)
    h = torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))
    dense = model.layers[-1]
    expected = h @ dense.kernel + dense.bias
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-6)
    assert recurrent.shape == (4, 16)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: topologies.many_to_one(5, 1, cell="transformer"), "`cell` must be one of"),
        (lambda: topologies.one_to_many(4, 2, outputs=3, via="feedback"), "outputs must equal"),
        (lambda: topologies.one_to_many(4, 2, via="teleport"), "`via`"),
        (lambda: topologies.many_to_many(None, 2, output_steps=3), "timesteps must"),
        (lambda: topologies.many_to_one(5, 0), "features"),
        (lambda: topologies.seq2seq(5, 3, 2, 2, start="middle"), "`start`"),
    ],
)
def test_bad_options_name_the_argument(build, message: str) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        build()
