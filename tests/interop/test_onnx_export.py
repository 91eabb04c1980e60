"""`to_onnx` checked with onnxruntime against the model's own outputs (1e-5).

Each exported graph is run at two batch sizes and two sequence lengths, so the samples and
timesteps axes are shown to be dynamic. Step models are stepped one timestep at a time,
feeding each call's states to the next, and compared with one run over the whole sequence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import unrolled as U
from unrolled.interop import ExportError, OnnxSignature, from_keras, to_onnx

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
F = 3
TOL = 1e-5


def _session(sig: OnnxSignature):
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about reused buffers
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(sig.path), options)


def _ours(model: torch.nn.Module, *x: np.ndarray) -> list[np.ndarray]:
    model.eval()
    with torch.no_grad():
        out = model(*[torch.as_tensor(a) for a in x])
    return [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def _sequences(batch: int, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, steps, F)).astype(np.float32)


MODELS: dict[str, Callable[[], U.Sequential]] = {
    "stacked_lstm": lambda: U.Sequential(
        [U.Input((None, F)), U.LSTM(5, return_sequences=True), U.LSTM(4), U.Dense(2)]
    ),
    "lstm_hard_sigmoid_relu_no_bias": lambda: U.Sequential(
        [
            U.Input((None, F)),
            U.LSTM(4, recurrent_activation="hard_sigmoid", activation="relu", use_bias=False),
        ]
    ),
    "gru_reset_after": lambda: U.Sequential(
        [U.Input((None, F)), U.GRU(4, return_sequences=True), U.GRU(3)]
    ),
    "gru_reset_before_backwards": lambda: U.Sequential(
        [U.Input((None, F)), U.GRU(4, reset_after=False, go_backwards=True, return_sequences=True)]
    ),
    "simple_rnn_relu": lambda: U.Sequential(
        [
            U.Input((None, F)),
            U.SimpleRNN(4, activation="relu", return_sequences=True),
            U.SimpleRNN(2),
        ]
    ),
    "bidirectional_concat_time_distributed": lambda: U.Sequential(
        [
            U.Input((None, F)),
            U.Bidirectional(U.LSTM(4, return_sequences=True)),
            U.TimeDistributed(U.Dense(2, activation="softmax")),
        ]
    ),
    "bidirectional_sum_repeat_decoder": lambda: U.Sequential(
        [
            U.Input((None, F)),
            U.Bidirectional(U.GRU(4), merge_mode="sum"),
            U.RepeatVector(3),
            U.LSTM(2, return_sequences=True, dropout=0.2, recurrent_dropout=0.2),
        ]
    ),
    "bidirectional_mul_ave": lambda: U.Sequential(
        [
            U.Input((None, F)),
            U.Bidirectional(U.SimpleRNN(4, return_sequences=True), merge_mode="mul"),
            U.Dropout(0.5),
            U.Bidirectional(U.LSTM(3), merge_mode="ave"),
            U.Dense(4, activation="gelu"),
            U.Activation("swish"),
            U.Reshape((2, 2)),
            U.Flatten(),
        ]
    ),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_export_matches_the_model_at_any_batch_and_length(tmp_path, kind: str) -> None:
    torch.manual_seed(0)
    model = MODELS[kind]()
    sig = to_onnx(model, tmp_path / "m.onnx")
    session = _session(sig)
    for batch, steps in [(5, 7), (2, 3)]:
        x = _sequences(batch, steps)
        (got,) = session.run(None, {sig.inputs[0]: x})
        np.testing.assert_allclose(got, _ours(model, x)[0], atol=TOL, rtol=0)


def test_embedding_takes_int64_indices(tmp_path) -> None:
    model = U.Sequential([U.Input((None,)), U.Embedding(10, 4), U.LSTM(3)])
    sig = to_onnx(model, tmp_path / "m.onnx")
    x = np.random.default_rng(1).integers(0, 10, (4, 6))
    (got,) = _session(sig).run(None, {"input": x.astype(np.int64)})
    np.testing.assert_allclose(got, _ours(model, x)[0], atol=TOL, rtol=0)


def test_functional_encoder_decoder_with_states_and_merges(tmp_path) -> None:
    encoder_in, decoder_in = U.Input((None, F), name="encoder"), U.Input((None, 2), name="decoder")
    _, h, c = U.LSTM(4, return_state=True)(encoder_in)
    decoded = U.LSTM(4, return_sequences=True)(decoder_in, initial_state=[h, c])
    y = U.TimeDistributed(U.Dense(2))(decoded)
    summary = U.Concatenate()([h, U.Subtract()([h, c]), U.Multiply()([h, c])])
    model = U.Model([encoder_in, decoder_in], [y, U.Average()([summary, summary])])
    sig = to_onnx(model, tmp_path / "m.onnx")
    assert sig.inputs == ["encoder", "decoder"]
    # The encoder's and the decoder's lengths differ.
    x = [_sequences(3, 6), np.random.default_rng(2).normal(size=(3, 4, 2)).astype(np.float32)]
    got = _session(sig).run(None, dict(zip(sig.inputs, x)))
    for a, b in zip(got, _ours(model, *x), strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)


def _step_through(sig: OnnxSignature, x: np.ndarray) -> list[np.ndarray]:
    session = _session(sig)
    names = [o.name for o in session.get_outputs()]
    states = sig.zero_states(x.shape[0])
    outputs = []
    for t in range(x.shape[1]):
        result = dict(zip(names, session.run(None, {sig.inputs[0]: x[:, t : t + 1], **states})))
        outputs.append(result[sig.outputs[0]])
        states = {s.input: result[s.output] for s in sig.states}
    return outputs


def test_step_model_streams_a_sequence_one_step_at_a_time(tmp_path) -> None:
    model = U.Sequential(
        [
            U.Input((None, F)),
            U.LSTM(4, return_sequences=True),
            U.GRU(3, return_sequences=True),
            U.SimpleRNN(3, return_sequences=True),
            U.TimeDistributed(U.Dense(2)),
        ]
    )
    sig = to_onnx(model, tmp_path / "step.onnx", step=True)
    assert [s.size for s in sig.states] == [4, 4, 3, 3]
    assert all(s.output == f"{s.input}_next" for s in sig.states)
    assert [s.input for s in sig.states] == [
        f"{model.layers[0].name}_h",
        f"{model.layers[0].name}_c",
        f"{model.layers[1].name}_h",
        f"{model.layers[2].name}_h",
    ]
    x = _sequences(2, 6)
    stepped = np.concatenate(_step_through(sig, x), axis=1)  # (samples, timesteps, 2)
    np.testing.assert_allclose(stepped, _ours(model, x)[0], atol=TOL, rtol=0)


def test_step_model_of_a_many_to_one_model_ends_at_its_prediction(tmp_path) -> None:
    model = U.Sequential(
        [U.Input((None, F)), U.LSTM(4, return_sequences=True), U.GRU(3), U.Dense(1)]
    )
    sig = to_onnx(model, tmp_path / "step.onnx", step=True)
    x = _sequences(3, 5)
    outputs = _step_through(sig, x)
    np.testing.assert_allclose(outputs[-1], _ours(model, x)[0], atol=TOL, rtol=0)
    np.testing.assert_allclose(outputs[1], _ours(model, x[:, :2])[0], atol=TOL, rtol=0)


def test_stateful_model_exports_as_a_step_model_fed_in_chunks(tmp_path) -> None:
    model = U.Sequential(
        [
            U.Input(batch_shape=(2, None, F)),
            U.LSTM(4, stateful=True, return_sequences=True),
            U.Dense(1),
        ]
    )
    sig = to_onnx(model, tmp_path / "step.onnx", step=True)
    session = _session(sig)
    names = [o.name for o in session.get_outputs()]
    states = sig.zero_states(2)
    model.eval()
    for chunk in range(3):
        x = _sequences(2, 4, seed=chunk)
        result = dict(zip(names, session.run(None, {"input": x, **states})))
        states = {s.input: result[s.output] for s in sig.states}
        np.testing.assert_allclose(result["output"], _ours(model, x)[0], atol=TOL, rtol=0)


def test_keras_import_then_onnx_export(tmp_path) -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [keras.Input((None, F)), keras.layers.GRU(4, reset_after=False), keras.layers.Dense(2)]
    )
    model.save(tmp_path / "m.keras")
    ours = from_keras(tmp_path / "m.keras")
    sig = to_onnx(ours, tmp_path / "m.onnx")
    x = _sequences(2, 5)
    (got,) = _session(sig).run(None, {"input": x})
    want = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


# -- what is refused --------------------------------------------------------------------------------
class _PlainCell(U.Cell):
    state_size = 2

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, states, training=False):
        return states[0], states


REFUSED = {
    "masking": (
        lambda: U.Sequential([U.Input((None, F)), U.Masking(0.0, name="pad"), U.LSTM(2)]),
        False,
        r"'pad' \(Masking\).*masks",
    ),
    "mask_zero": (
        lambda: U.Sequential(
            [U.Input((None,)), U.Embedding(5, 2, mask_zero=True, name="emb"), U.LSTM(2)]
        ),
        False,
        r"'emb' \(Embedding\).*mask_zero",
    ),
    "lambda": (
        lambda: U.Sequential(
            [U.Input((None, F)), U.Lambda(lambda t: t * 2, name="double"), U.LSTM(2)]
        ),
        False,
        r"'double' \(Lambda\)",
    ),
    "user_cell": (
        lambda: U.Sequential([U.Input((None, F)), U.RNN(_PlainCell(), name="mine")]),
        False,
        r"'mine' \(RNN\).*_PlainCell",
    ),
    "stateful": (
        lambda: U.Sequential(
            [U.Input(batch_shape=(2, None, F)), U.LSTM(2, stateful=True, name="s")]
        ),
        False,
        r"'s' \(LSTM\).*stateful.*step=True",
    ),
    "bidirectional_step": (
        lambda: U.Sequential([U.Input((None, F)), U.Bidirectional(U.LSTM(2), name="bi")]),
        True,
        r"'bi' \(Bidirectional\).*whole sequence",
    ),
    "go_backwards_step": (
        lambda: U.Sequential([U.Input((None, F)), U.GRU(2, go_backwards=True, name="back")]),
        True,
        r"'back' \(GRU\).*go_backwards",
    ),
    "custom_activation": (
        lambda: U.Sequential([U.Input((None, F)), U.LSTM(2, activation=torch.atan, name="atan")]),
        False,
        r"'atan' \(LSTM\).*activation",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_cannot_be_exported_is_named(tmp_path, case: str) -> None:
    build, step, message = REFUSED[case]
    with pytest.raises(ExportError, match=message):
        to_onnx(build(), tmp_path / "m.onnx", step=step)
    assert not (tmp_path / "m.onnx").exists()
