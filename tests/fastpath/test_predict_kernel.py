"""The inference kernel against the reference path: `predict` and `evaluate` of the models
the stack planner accepts, then the reasons it declines.

Drawn as `test_stack_kernel` draws its fits (levels, merges, Masking or an Embedding, the
head on the last step or every step, loss, activation, metrics), stateless, on one or two
threads and groups of a few rows or many: `predict` must match the reference path's
(`UNROLLED_FAST_PATH=0`) to 1e-5 and `evaluate` its loss and metrics, sample weights
included. The encoder-decoder graph for each cell kind too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import unrolled
from unrolled.compiled import blas, predict_plan
from unrolled.layers import GRU, LSTM, Dense, Dropout, Input, Masking, SimpleRNN, TimeDistributed
from unrolled.training.callbacks import Callback

pytest.importorskip("numba")
if blas.missing() is not None:
    pytest.skip(blas.missing(), allow_module_level=True)

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_differential import LOSSES, SETTINGS  # noqa: E402
from test_stack_kernel import StackCase, _data, _model, stack_cases  # noqa: E402

COMPILED = "compiled-predict"


@pytest.fixture
def reference_path(monkeypatch):
    """Runs a call on the reference path (`UNROLLED_FAST_PATH=0`) and gives back its result."""

    def run(call, *args, **kwargs):
        with monkeypatch.context() as patch:
            patch.setenv("UNROLLED_FAST_PATH", "0")
            return call(*args, **kwargs)

    return run


def _compiled(case: StackCase) -> unrolled.Sequential:
    model = _model(case)
    model.compile("sgd", LOSSES[case.head.loss][1](case.head), metrics=list(case.head.metrics))
    return model


def _assert_compiled(model) -> None:
    name, reason = model.last_predict_path
    assert name == COMPILED, reason


@SETTINGS
@given(case=stack_cases(), rows=st.sampled_from([1, 2, 128]))
def test_predict_and_evaluate_match_the_reference_path(case: StackCase, rows: int):
    case = replace(case, stateful=False)  # stateful models stay on the reference path
    x, y = _data(case)
    weights = np.random.default_rng(case.seed).random(case.samples).astype(np.float32)
    model = _compiled(case)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(predict_plan, "_threads_for", lambda samples: case.threads)
        patch.setattr(predict_plan, "MAX_ROWS_PER_GROUP", rows)
        ours = model.predict(x, batch_size=case.batch, verbose=0)
        _assert_compiled(model)
        assert f"over {min(case.threads, case.samples)} thread" in model.last_predict_path.reason
        scores = model.evaluate(x, y, case.batch, 0, weights, return_dict=True)
        _assert_compiled(model)
        patch.setenv("UNROLLED_FAST_PATH", "0")
        theirs = model.predict(x, batch_size=case.batch, verbose=0)
        assert model.last_predict_path.name == "reference"
        reference = model.evaluate(x, y, case.batch, 0, weights, return_dict=True)
    assert ours.dtype == theirs.dtype == np.float32
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert list(scores) == list(reference)
    for key, value in reference.items():
        np.testing.assert_allclose(scores[key], value, rtol=1e-5, atol=1e-5, err_msg=key)


def _encoder_decoder(kind) -> unrolled.Model:
    unrolled.set_random_seed(3)
    encoder_input, decoder_input = Input((5, 3)), Input((4, 2))
    outputs = kind(6, return_state=True)(encoder_input)
    decoded = kind(6, return_sequences=True)(decoder_input, initial_state=list(outputs[1:]))
    head = TimeDistributed(Dense(3, activation="softmax"))(decoded)
    return unrolled.Model([encoder_input, decoder_input], head)


@pytest.mark.parametrize("kind", [LSTM, GRU, SimpleRNN])
def test_encoder_decoder_predict_and_evaluate_match_the_reference_path(kind):
    rng = np.random.default_rng(0)
    x = [
        rng.normal(size=(10, 5, 3)).astype("float32"),
        rng.normal(size=(10, 4, 2)).astype("float32"),
    ]
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, (10, 4))]
    results = []
    for fast in ("auto", False):
        model = _encoder_decoder(kind)
        model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"], fast_path=fast)
        predictions = model.predict(x, batch_size=4, verbose=0)
        assert model.last_predict_path.name == (COMPILED if fast else "reference")
        results.append((predictions, model.evaluate(x, y, batch_size=4, verbose=0)))
    (ours, our_scores), (theirs, their_scores) = results
    assert ours.shape == theirs.shape == (10, 4, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(our_scores, their_scores, rtol=1e-5, atol=1e-6)


def test_a_row_with_no_valid_step_outputs_the_dense_bias_through_its_activation(reference_path):
    unrolled.set_random_seed(1)
    dense = Dense(2, activation="softmax", bias_initializer="random_normal")
    model = unrolled.Sequential([Input((4, 2)), Masking(0.0), GRU(3), dense])
    x = np.random.default_rng(1).normal(size=(3, 4, 2)).astype(np.float32)
    x[1] = 0.0  # every step masked
    ours = model.predict(x, verbose=0)
    _assert_compiled(model)
    bias = dense.bias.detach().numpy()
    np.testing.assert_allclose(ours[1], np.exp(bias) / np.exp(bias).sum(), rtol=1e-6)
    np.testing.assert_allclose(ours, reference_path(model.predict, x, verbose=0), rtol=1e-5)


def test_predict_keeps_the_progress_bar_and_the_predict_callbacks(capsys):
    calls = []

    class Ends(Callback):
        def on_predict_begin(self, logs=None):
            calls.append("begin")

        def on_predict_end(self, logs=None):
            calls.append("end")

    model = unrolled.Sequential([Input((3, 1)), LSTM(2), Dense(1)])
    outputs = model.predict(np.ones((10, 3, 1)), batch_size=4, verbose=1, callbacks=[Ends()])
    _assert_compiled(model)
    assert outputs.shape == (10, 1) and calls == ["begin", "end"]
    assert capsys.readouterr().out.startswith("3/3")


def _reason(model, *args, **kwargs) -> str:
    model.predict(*args, verbose=0, **kwargs)
    name, reason = model.last_predict_path
    assert name == "reference"
    return reason


def test_declines_name_what_keeps_the_reference_path(monkeypatch):
    x = np.zeros((4, 3, 2), np.float32)

    def lstm(**options):
        return unrolled.Sequential([Input(batch_shape=(4, 3, 2)), LSTM(2, **options), Dense(1)])

    assert "stateful" in _reason(lstm(stateful=True, name="memory"), x, batch_size=4)
    model = lstm()
    model.compile("adam", "mse", fast_path=False)
    assert _reason(model, x) == "fast_path=False asks for the reference path"
    model = lstm()
    monkeypatch.setenv("UNROLLED_FAST_PATH", "off")
    assert _reason(model, x) == "UNROLLED_FAST_PATH=off forces the reference path"
    monkeypatch.delenv("UNROLLED_FAST_PATH")

    class EachBatch(Callback):
        def on_predict_batch_end(self, batch, logs=None):
            pass

    assert _reason(model, x, callbacks=[EachBatch()]) == "a callback acts on every batch"
    assert _reason(model, x, steps=1) == "steps runs on the reference path"
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 3, 2)))
    assert "loader" in _reason(model, loader)
    layers = [Input((3, 2)), LSTM(2, return_sequences=True), Dropout(0.1), LSTM(2), Dense(1)]
    assert "LSTM -> Dropout -> LSTM -> Dense" in _reason(unrolled.Sequential(layers), x)
    wide = lstm()
    wide.to(torch.float64)
    assert "float32" in _reason(wide, x)


def test_a_model_with_two_outputs_stays_on_the_reference_path():
    inputs = Input((3, 2))
    hidden = LSTM(2)(inputs)
    model = unrolled.Model(inputs, [Dense(1)(hidden), Dense(2)(hidden)])
    outputs = model.predict(np.zeros((4, 3, 2), np.float32), verbose=0)
    assert [o.shape for o in outputs] == [(4, 1), (4, 2)]
    assert model.last_predict_path.name == "reference"


def test_fit_validates_on_the_inference_kernel(monkeypatch):
    """Each epoch's validation pass runs the inference kernel, on the weights of that epoch:
    val_loss and val metrics as the reference path's."""
    from unrolled.compiled import predict_plan

    calls = []
    predict = predict_plan.PredictRunner.predict
    monkeypatch.setattr(
        predict_plan.PredictRunner, "predict", lambda self: calls.append(1) or predict(self)
    )
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 6, 3)).astype(np.float32), rng.integers(0, 2, (40, 1))
    histories = []
    for fast in ("auto", False):
        unrolled.set_random_seed(2)
        model = unrolled.Sequential(
            [unrolled.layers.Input((6, 3)), unrolled.layers.GRU(5, return_sequences=True),
             unrolled.layers.LSTM(4), unrolled.layers.Dense(1, activation="sigmoid")]
        )  # fmt: skip
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"], fast_path=fast)
        history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, verbose=0)
        histories.append(history.history)
    assert len(calls) == 3, calls  # one validation pass per epoch, all on the kernel
    fast_history, reference = histories
    for key in ("val_loss", "val_accuracy"):
        np.testing.assert_allclose(fast_history[key], reference[key], rtol=1e-5, atol=1e-6)
