"""Which compute path a call takes (`layer.last_path`), and why."""

from __future__ import annotations

import functools

import numpy as np
import numpy_rnn
import pytest
import torch

import unrolled

X = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
HOLE_MASK = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)


class PlainCell:
    """A user cell that is not a torch module: an accumulator."""

    state_size = 3

    def call(self, inputs, states):
        return states[0] + inputs, [states[0] + inputs]


class UserCell(unrolled.Cell):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.built = True

    def call(self, inputs, states):
        out = torch.tanh(inputs @ self.kernel + states[0])
        return out, [out]


@pytest.mark.parametrize(
    "make",
    [
        lambda: unrolled.LSTM(4),
        lambda: unrolled.GRU(4),
        lambda: unrolled.SimpleRNN(4),
        lambda: unrolled.SimpleRNN(4, activation="relu"),
    ],
    ids=["lstm", "gru", "simple_tanh", "simple_relu"],
)
def test_default_layers_take_fused_path_and_packed_path_with_mask(make):
    layer = make()
    layer(X)
    assert layer.last_path.name == "fused"
    layer(X, mask=HOLE_MASK)
    assert layer.last_path.name == "fused-packed"
    layer(X, mask=torch.ones(2, 5, dtype=torch.bool))  # trivial mask: same as none
    assert layer.last_path.name == "fused"


def test_fused_reason_names_the_torch_operator():
    layer = unrolled.SimpleRNN(4, activation="relu")
    layer(X)
    assert "rnn_relu" in layer.last_path.reason
    layer = unrolled.GRU(4)
    layer(X)
    assert "gru" in layer.last_path.reason


@pytest.mark.parametrize(
    "make, call_kwargs, reason_word",
    [
        (lambda: unrolled.LSTM(4, recurrent_dropout=0.3), {"training": True}, "recurrent_dropout"),
        (lambda: unrolled.GRU(4, recurrent_dropout=0.3), {"training": True}, "recurrent_dropout"),
        (lambda: unrolled.LSTM(4, activation="relu"), {}, "relu"),
        (lambda: unrolled.LSTM(4, recurrent_activation="hard_sigmoid"), {}, "hard_sigmoid"),
        (lambda: unrolled.GRU(4, recurrent_activation="hard_sigmoid"), {}, "hard_sigmoid"),
        (lambda: unrolled.SimpleRNN(4, activation="sigmoid"), {}, "sigmoid"),
        (lambda: unrolled.GRU(4, reset_after=False), {}, "reset_after"),
        (lambda: unrolled.RNN(PlainCell()), {}, "user-defined"),
        (lambda: unrolled.RNN(UserCell(3)), {}, "user-defined"),
        (lambda: unrolled.RNN([unrolled.LSTMCell(4), unrolled.GRUCell(3)]), {}, "stacked"),
        (lambda: unrolled.LSTM(4, use_cudnn=False), {}, "use_cudnn=False"),
    ],
    ids=[
        "lstm_recurrent_dropout_training",
        "gru_recurrent_dropout_training",
        "lstm_relu",
        "lstm_hard_sigmoid",
        "gru_hard_sigmoid",
        "simple_rnn_sigmoid",
        "gru_reset_after_false",
        "plain_user_cell",
        "cell_subclass",
        "stacked_cells",
        "use_cudnn_false",
    ],
)
def test_blocked_configs_take_loop_path_and_say_why(make, call_kwargs, reason_word):
    layer = make()
    layer(X, **call_kwargs)
    assert layer.last_path.name == "loop"
    assert reason_word in layer.last_path.reason
    layer(X, mask=HOLE_MASK, **call_kwargs)
    assert layer.last_path.name == "loop"


@pytest.mark.parametrize(
    "make, call_kwargs",
    [
        (lambda: unrolled.LSTM(4, use_cudnn=True, recurrent_dropout=0.3), {"training": True}),
        (lambda: unrolled.LSTM(4, use_cudnn=True, activation="relu"), {}),
        (lambda: unrolled.GRU(4, use_cudnn=True, reset_after=False), {}),
        (lambda: unrolled.RNN(UserCell(3), use_cudnn=True), {}),
        (lambda: unrolled.RNN([unrolled.LSTMCell(4)], use_cudnn=True), {}),
    ],
    ids=["recurrent_dropout", "relu", "reset_after_false", "user_cell", "stacked"],
)
def test_use_cudnn_true_with_blocked_config_raises_config_error(make, call_kwargs):
    layer = make()
    with pytest.raises(unrolled.ConfigError, match="use_cudnn=True"):
        layer(X, **call_kwargs)


def test_use_cudnn_true_with_fusable_config_runs_fused():
    layer = unrolled.LSTM(4, use_cudnn=True)
    layer(X)
    assert layer.last_path.name == "fused"


@pytest.mark.parametrize("training", [False, None], ids=["training_false", "eval_mode"])
def test_recurrent_dropout_outside_training_takes_fused_path(training):
    layer = unrolled.LSTM(4, recurrent_dropout=0.3)
    layer.eval()
    layer(X, training=training)
    assert layer.last_path.name == "fused"


def test_training_none_follows_module_train_mode():
    layer = unrolled.GRU(4, recurrent_dropout=0.3)
    layer.train()
    layer(X)
    assert layer.last_path.name == "loop"
    layer.eval()
    layer(X)
    assert layer.last_path.name == "fused"


def test_input_dropout_alone_keeps_fused_path_in_training():
    layer = unrolled.LSTM(4, dropout=0.3)
    layer(X, training=True)
    assert layer.last_path.name == "fused"


def test_choose_path_reports_without_calling():
    layer = unrolled.GRU(4, reset_after=False)
    path = layer.choose_path()
    assert isinstance(path, unrolled.Path)
    assert path.name == "loop" and "reset_after" in path.reason
    assert unrolled.LSTM(4).choose_path(masked=True).name == "fused-packed"


# (layer, attribute set after the first call, its new value, the path the next call takes)
ACTIVATION_CHANGES = [
    ("LSTM", "activation", "relu", "loop"),
    ("LSTM", "recurrent_activation", "hard_sigmoid", "loop"),
    ("GRU", "activation", "relu", "loop"),
    ("SimpleRNN", "activation", "relu", "torch.rnn_relu"),
    ("SimpleRNN", "activation", "sigmoid", "loop"),
]


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("kind, attribute, new, path", ACTIVATION_CHANGES)
def test_activation_set_after_a_call_takes_effect(kind, attribute, new, path, masked):
    """An activation assigned to `layer.cell` after a fused call changes the next call's numbers."""
    layer = getattr(unrolled.layers, kind)(4)
    mask = HOLE_MASK if masked else None
    with torch.no_grad():
        layer(X, mask=mask)  # the first call settles on the fused path
        assert layer.last_path.name != "loop"
        setattr(layer.cell, attribute, unrolled.activations.get(new))
        got = layer(X, mask=mask).numpy()
    if path == "loop":
        assert layer.last_path.name == "loop" and new in layer.last_path.reason
    else:
        assert path in layer.last_path.reason
    names = {"activation": "tanh", "recurrent_activation": "sigmoid", attribute: new}
    weights = [w.detach().double().numpy() for w in layer.cell.weights]
    if kind == "LSTM":
        step = functools.partial(numpy_rnn.lstm_step, weights=weights, **names)
    elif kind == "GRU":
        step = functools.partial(numpy_rnn.gru_step, weights=weights, **names)
    else:
        step = functools.partial(
            numpy_rnn.simple_rnn_step, weights=weights, activation=names["activation"]
        )
    zeros = [np.zeros((2, 4))] * (2 if kind == "LSTM" else 1)
    want, _ = numpy_rnn.run(step, X.double().numpy(), zeros, mask=mask)
    np.testing.assert_allclose(got, want[:, -1], atol=1e-5)


def test_setting_the_activation_back_returns_to_the_fused_path():
    layer = unrolled.layers.LSTM(4)
    layer(X)
    layer.cell.activation = unrolled.activations.get("relu")
    layer(X)
    assert layer.last_path.name == "loop"
    layer.cell.activation = unrolled.activations.get("tanh")
    layer(X)
    assert layer.last_path == ("fused", "torch.lstm")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_weights_changed_in_place_after_an_inference_call_take_effect(kind):
    """The fused operator's weights kept between inference calls follow in-place updates."""
    layer = getattr(unrolled.layers, kind)(4)
    with torch.no_grad():
        layer(X)
        for weight in layer.cell.weights:
            weight.mul_(-0.5)  # in place, as set_weights and optimizer steps write
        got = layer(X).numpy()
    weights = [w.detach().double().numpy() for w in layer.cell.weights]
    step = {
        "LSTM": numpy_rnn.lstm_step,
        "GRU": numpy_rnn.gru_step,
        "SimpleRNN": numpy_rnn.simple_rnn_step,
    }[kind]
    zeros = [np.zeros((2, 4))] * (2 if kind == "LSTM" else 1)
    want, _ = numpy_rnn.run(functools.partial(step, weights=weights), X.double().numpy(), zeros)
    np.testing.assert_allclose(got, want[:, -1], atol=1e-5)
