"""The compiled paths accept by allow-list: an option the tables do not name, or a value they
do not list, declines with the option's name; `explain_text` prints the fit kernel's tables
for a model it declines."""

from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.compiled import allow_lists
from unrolled.explain import explain_text
from unrolled.layers import GRU, LSTM, RNN, Dense, Input, LSTMCell, Masking, TimeDistributed

pytest.importorskip("numba")

STEPS, FEATURES = 4, 2


def _fit_reason(model, optimizer="adam", epochs=1):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, STEPS, FEATURES)).astype(np.float32)
    y = rng.normal(size=(6, 2)).astype(np.float32)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=3, verbose=0)
    return model.last_fit_path


def _with_option(monkeypatch, layer, key="peepholes", value=True):
    """`layer.get_config()` with an option no table names, as a later version might add."""
    config = layer.get_config()
    monkeypatch.setattr(layer, "get_config", lambda: {**config, key: value})


@pytest.mark.parametrize("which", ["recurrent", "cell", "dense", "masking"])
def test_an_option_no_table_names_declines_fit_with_its_name(monkeypatch, which):
    unrolled.set_random_seed(0)
    cell = LSTMCell(3, name="cell")
    model = unrolled.Sequential(
        [
            Masking(0.0, input_shape=(STEPS, FEATURES), name="masking"),
            RNN(cell, name="recurrent"),
            Dense(2, name="dense"),
        ]
    )
    assert _fit_reason(model).name == "compiled-epoch"
    layer = cell if which == "cell" else model.get_layer(which)
    _with_option(monkeypatch, layer)
    owner = "recurrent" if which == "cell" else which
    expected = f"{owner}: peepholes=True is not an option the compiled path knows"
    assert _fit_reason(model) == ("reference", expected)


def test_an_optimizer_setting_no_table_names_declines_with_its_name():
    model = unrolled.Sequential([LSTM(3, input_shape=(STEPS, FEATURES)), Dense(2)])
    assert _fit_reason(model).name == "compiled-epoch"
    optimizer = model._trainer.optimizer
    optimizer.param_groups[0]["lookahead"] = 5
    model.fit(np.zeros((6, STEPS, FEATURES), np.float32), np.zeros((6, 2)), epochs=1, verbose=0)
    expected = "optimizer Adam: lookahead=5 is not an option the compiled path knows"
    assert model.last_fit_path == ("reference", expected)


@pytest.mark.parametrize("which", ["recurrent", "dense"])
def test_an_option_no_table_names_declines_the_rollout_with_its_name(monkeypatch, which):
    unrolled.set_random_seed(0)
    model = unrolled.Sequential(
        [
            Input((None, FEATURES)),
            GRU(4, return_sequences=True, name="recurrent"),
            TimeDistributed(Dense(FEATURES), name="dense"),
        ]
    )
    history = np.random.default_rng(1).normal(size=(10, FEATURES)).astype(np.float32)
    unrolled.forecast(model, history, 3)
    assert model.last_forecast_path.name == "compiled-rollout"
    _with_option(monkeypatch, model.get_layer(which), "new_option", 0.5)
    reference = unrolled.forecast(model, history, 3)
    assert model.last_forecast_path == (
        "stepper",
        f"{which}: new_option=0.5 is not an option the compiled path knows",
    )
    assert reference.shape == (3, FEATURES)


def test_default_layers_and_optimizers_are_in_the_tables():
    for table in allow_lists.fit_tables().values():
        assert all(isinstance(accepts, allow_lists.Accepts) for accepts in table.values())
    layer = LSTM(3)
    assert set(allow_lists.config_of(layer)) <= set(allow_lists.fit_tables()["LSTM"])
    options = allow_lists.recurrent_options(LSTMCell, training=True)
    assert allow_lists.declined("lstm", allow_lists.config_of(layer), options) is None


def test_explain_says_nothing_of_a_model_the_stack_kernel_takes():
    model = unrolled.Sequential(
        [Input((STEPS, FEATURES)), LSTM(3, return_sequences=True), GRU(2), Dense(2)]
    )
    assert "Compiled fit" not in explain_text(model)


def test_explain_prints_why_the_fit_kernel_declines_and_what_it_takes():
    model = unrolled.Sequential(
        [LSTM(3, activation="relu", input_shape=(STEPS, FEATURES), name="encoder"), Dense(2)]
    )
    text = explain_text(model)
    assert (
        "Compiled fit: declined, encoder: activation='relu' (only tanh); the fused operator "
        "computes tanh." in text
    )
    flat = " ".join(text.split())
    assert "train [Masking ->] LSTM|GRU|SimpleRNN -> Dense, [Embedding | Masking ->]" in flat
    assert (
        "with loss MSE, MAE, Huber, binary, categorical or sparse categorical cross-entropy, "
        "metrics mse, mae, rmse, binary, categorical or sparse categorical accuracy, on these "
        "options:" in flat
    )
    lstm = flat[flat.index(" LSTM: ") : flat.index(" Dense: ")]
    for option in (
        "activation=tanh",
        "recurrent_activation=sigmoid",
        "dropout=0.0",
        "return_sequences=False",
        "stateful=True or False",
        "use_cudnn=auto or True",
        "kernel_regularizer=None",
    ):
        assert option in lstm, option
    assert "any value: name, batch_shape, units, kernel_initializer" in lstm
    assert " GRU: " not in flat  # only the model's own recurrent kind
    assert (
        "Dense: trainable=True, dtype=float32, activity_regularizer=None, activation=linear, "
        "sigmoid or softmax" in flat
    )
    assert (
        "loss binary_crossentropy: reduction=sum_over_batch_size or mean, axis=-1, "
        "from_logits=True or False, label_smoothing=0.0" in flat
    )
    assert "RMSprop: " in flat and "centered=False" in flat
    assert "Adam: weight_decay=a number, decay=0.0, clipnorm=None or a number" in flat
    assert "Adagrad: " in flat and "initial_accumulator_value" in flat
    assert "SGD: " in flat and "nesterov=True or False" in flat


def test_explain_says_nothing_of_the_fit_kernel_for_a_model_it_takes():
    model = unrolled.Sequential([LSTM(3, input_shape=(STEPS, FEATURES)), Dense(2)])
    assert "Compiled fit" not in explain_text(model)
