"""ConvLSTM1D/2D/3D against Keras 3: same weights, same data, same numbers.

Options over a grid (padding, strides, dilation, data format, return_sequences/state,
go_backwards), masks (whole steps, and per position from a Masking layer), initial_state,
stateful calls, dropout with the same masks on both sides, one SGD step of a stacked
model, config and file round trips, summary/explain, bad input and the Keras-file import.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from oracles import keras_layers as kl
from oracles.keras_oracle import rng_for

import unrolled
import unrolled.layers as L
from unrolled.errors import ShapeError
from unrolled.layers.convolutional_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from unrolled.ops import cell_kinds

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

OURS = {1: ConvLSTM1D, 2: ConvLSTM2D, 3: ConvLSTM3D}
THEIRS = {1: keras.layers.ConvLSTM1D, 2: keras.layers.ConvLSTM2D, 3: keras.layers.ConvLSTM3D}
FRAME = {1: (7, 2), 2: (6, 5, 2), 3: (4, 4, 3, 1)}  # channels last
TOL = {"atol": 2e-5, "rtol": 2e-5}


def _data(*shape: int, key: object = None) -> np.ndarray:
    return rng_for("conv_lstm", shape, key).normal(size=shape).astype(np.float32)


def _pair(rank: int, x: np.ndarray, **options):
    """Our layer and Keras's, built on `x`, with the same random weights."""
    theirs = THEIRS[rank](**options)
    ours = OURS[rank](**options)
    theirs(x[:1] if not options.get("stateful") else x)
    ours.build((None, *x.shape[1:]) if not options.get("stateful") else x.shape)
    kl.share_weights(rng_for("conv_lstm", rank, sorted(options.items())), theirs, ours)
    return ours, theirs


def _run_ours(layer, x, **kwargs):
    with torch.no_grad():
        return layer(torch.as_tensor(x), **kwargs)


def _run_theirs(layer, x, **kwargs):
    return layer(x, **kwargs)


def _assert_close(ours, theirs) -> None:
    ours = ours if isinstance(ours, (tuple, list)) else [ours]
    theirs = theirs if isinstance(theirs, (tuple, list)) else [theirs]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), **TOL)


GRID_2D = [
    dict(filters=3, kernel_size=3, padding="valid"),
    dict(filters=3, kernel_size=3, padding="same", return_sequences=True),
    dict(filters=2, kernel_size=(2, 3), padding="same", strides=2, return_state=True),
    dict(filters=2, kernel_size=(3, 2), padding="valid", strides=(2, 1), go_backwards=True),
    dict(filters=2, kernel_size=2, padding="same", dilation_rate=2, return_sequences=True),
    dict(filters=2, kernel_size=3, padding="valid", dilation_rate=(1, 2), return_state=True),
    dict(
        filters=2,
        kernel_size=3,
        padding="same",
        activation="relu",
        recurrent_activation="hard_sigmoid",
        use_bias=False,
        return_sequences=True,
        return_state=True,
        go_backwards=True,
    ),
]
GRID_1D = [
    dict(filters=3, kernel_size=3, padding="valid"),
    dict(filters=2, kernel_size=4, padding="same", strides=2, return_sequences=True),
    dict(filters=2, kernel_size=2, padding="same", dilation_rate=3, return_state=True),
    dict(filters=3, kernel_size=3, padding="same", go_backwards=True, return_sequences=True),
]


@pytest.mark.parametrize(
    ("rank", "options"),
    [(2, o) for o in GRID_2D] + [(1, o) for o in GRID_1D] + [(3, dict(filters=2, kernel_size=2))],
)
def test_outputs_match_keras(rank, options):
    x = _data(3, 4, *FRAME[rank], key=rank)
    ours, theirs = _pair(rank, x, **options)
    _assert_close(_run_ours(ours, x), _run_theirs(theirs, x))
    assert ours.last_path.name == "loop" and "no fused" in ours.last_path.reason


def test_channels_first_matches_keras():
    x = _data(2, 3, 2, 6, 5)  # (samples, timesteps, channels, rows, cols)
    options = dict(filters=2, kernel_size=3, padding="same", data_format="channels_first")
    ours, theirs = _pair(2, x, return_state=True, **options)
    _assert_close(_run_ours(ours, x), _run_theirs(theirs, x))


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_step_mask_matches_keras(go_backwards, return_sequences):
    x = _data(3, 5, 6, 5, 2)
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]], dtype=bool)
    options = dict(
        filters=2,
        kernel_size=3,
        padding="same",
        go_backwards=go_backwards,
        return_sequences=return_sequences,
        return_state=True,
    )
    ours, theirs = _pair(2, x, **options)
    _assert_close(
        _run_ours(ours, x, mask=torch.as_tensor(mask)),
        _run_theirs(theirs, x, mask=torch.as_tensor(mask)),
    )


def _masking_models(x: np.ndarray, **options):
    theirs = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.Masking(),
            keras.layers.ConvLSTM2D(**options),
        ]
    )
    ours = unrolled.Sequential([L.Masking(input_shape=x.shape[1:]), ConvLSTM2D(**options)])
    ours.build((None, *x.shape[1:]))
    weights = kl.random_weights(rng_for("conv_lstm", "masking"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


@pytest.mark.parametrize(
    "options",
    [
        dict(return_sequences=True),
        dict(go_backwards=True, return_sequences=True),
        dict(go_backwards=True, zero_output_for_mask=True, return_sequences=True),
        dict(return_sequences=False),
    ],
    ids=["forward", "backwards", "zero_output", "last"],
)
def test_masking_layer_masks_each_position_as_keras(options):
    # Masking on frames gives a (samples, timesteps, rows, cols) mask: Keras keeps the state
    # of each masked position; padded frames (all zeros) are whole masked steps.
    x = _data(2, 4, 5, 5, 2)
    x[0, 2:] = 0.0  # padded steps
    x[1, 1, :2, :3] = 0.0  # some masked positions in a valid step
    ours, theirs = _masking_models(x, filters=2, kernel_size=3, padding="same", **options)
    with torch.no_grad():
        got = ours(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(theirs(x)), **TOL)
    if options == dict(return_sequences=True):
        assert np.array_equal(got[0, 3], got[0, 1])  # masked steps repeat the previous output


def test_per_position_mask_needs_the_frame_size_kept():
    x = _data(2, 3, 5, 5, 2)
    layer = ConvLSTM2D(2, 3)  # padding="valid" shrinks the frame
    with pytest.raises(ShapeError, match=r"\(samples, timesteps\)"):
        layer(torch.as_tensor(x), mask=torch.ones(2, 3, 5, 5, dtype=torch.bool))


def test_zero_output_for_mask_matches_keras():
    x = _data(2, 4, 5, 5, 2)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    options = dict(
        filters=2, kernel_size=3, padding="same", return_sequences=True, zero_output_for_mask=True
    )
    ours, theirs = _pair(2, x, **options)
    _assert_close(
        _run_ours(ours, x, mask=torch.as_tensor(mask)),
        _run_theirs(theirs, x, mask=torch.as_tensor(mask)),
    )


@pytest.mark.parametrize("rank", [1, 2])
def test_initial_state_matches_keras(rank):
    x = _data(3, 4, *FRAME[rank], key=("initial", rank))
    ours, theirs = _pair(rank, x, filters=2, kernel_size=3, padding="same", return_state=True)
    state_shape = (3, *FRAME[rank][:-1], 2)
    h, c = _data(*state_shape, key="h"), _data(*state_shape, key="c")
    _assert_close(
        _run_ours(ours, x, initial_state=[torch.as_tensor(h), torch.as_tensor(c)]),
        _run_theirs(theirs, x, initial_state=[torch.as_tensor(h), torch.as_tensor(c)]),
    )
    with pytest.raises(ShapeError, match=r"\(samples, rows, cols, filters\)|\(samples, steps"):
        ours(torch.as_tensor(x), initial_state=[torch.zeros(3, 2), torch.zeros(3, 2)])


def test_stateful_continues_across_calls_as_keras():
    x = _data(2, 6, 5, 5, 1)
    ours, theirs = _pair(2, x[:, :3], filters=2, kernel_size=3, padding="same", stateful=True)
    theirs.reset_state()
    for part in (x[:, :3], x[:, 3:]):
        _assert_close(_run_ours(ours, part), _run_theirs(theirs, part))
    # After reset_states, a call starts from zeros again: the first call's numbers.
    ours.reset_states()
    theirs.reset_state()
    _assert_close(_run_ours(ours, x[:, :3]), _run_theirs(theirs, x[:, :3]))
    assert [s.shape for s in ours.get_states()] == [(2, 5, 5, 2), (2, 5, 5, 2)]


@pytest.mark.parametrize(("dropout", "recurrent_dropout"), [(0.3, 0.0), (0.0, 0.4), (0.2, 0.3)])
def test_dropout_with_the_same_masks_matches_keras(dropout, recurrent_dropout):
    # Keras's ConvLSTM draws 4 masks (one per gate) for inputs and for h; both sides are
    # given the same ones through their per-call mask caches.
    x = _data(2, 3, 5, 5, 2)
    options = dict(filters=2, kernel_size=3, padding="same", return_sequences=True, seed=1)
    ours, theirs = _pair(2, x, dropout=dropout, recurrent_dropout=recurrent_dropout, **options)
    rng = rng_for("conv_lstm", "dropout")

    def masks(shape, rate):
        if rate == 0:
            return None
        return [(rng.random(shape) >= rate).astype(np.float32) / (1 - rate) for _ in range(4)]

    x_masks, h_masks = masks((2, 5, 5, 2), dropout), masks((2, 5, 5, 2), recurrent_dropout)
    theirs.cell._dropout_mask = None if x_masks is None else [torch.as_tensor(m) for m in x_masks]
    theirs.cell._recurrent_dropout_mask = (
        None if h_masks is None else [torch.as_tensor(m) for m in h_masks]
    )
    ours.cell._input_masks = None if x_masks is None else [torch.as_tensor(m) for m in x_masks]
    ours.cell._recurrent_masks = None if h_masks is None else [torch.as_tensor(m) for m in h_masks]
    _assert_close(_run_ours(ours, x, training=True), _run_theirs(theirs, x, training=True))
    # Our own draws: one mask per gate, fresh each call; inference ignores dropout.
    ours.cell(torch.as_tensor(x[:, 0]), ours.cell.get_initial_state(2), training=True)
    drawn = ours.cell._input_masks or ours.cell._recurrent_masks
    assert drawn is not None and len(drawn) == 4
    ours.cell.reset_dropout_masks()
    _assert_close(_run_ours(ours, x, training=False), _run_theirs(theirs, x, training=False))


def _stacked_pair():
    frame = (2, 5, 5, 1)  # (timesteps, rows, cols, channels)
    ours = unrolled.Sequential(
        [
            ConvLSTM2D(3, 3, padding="same", return_sequences=True, input_shape=frame),
            ConvLSTM2D(2, (2, 2), strides=2),
            L.Flatten(),
            L.Dense(1),
        ]
    )
    ours.build((None, *frame))
    theirs = keras.Sequential(
        [
            keras.Input(frame),
            keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
            keras.layers.ConvLSTM2D(2, (2, 2), strides=2),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    weights = kl.random_weights(rng_for("conv_lstm", "stacked"), theirs, scale=0.3)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _data(4, *frame, key="stacked")
    y = _data(4, 1, key="stacked_y")
    return ours, theirs, x, y


def test_stacked_model_sgd_step_matches_keras():
    ours, theirs, x, y = _stacked_pair()
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=2e-5)


def test_weights_and_output_shapes_are_keras():
    x = _data(2, 3, 9, 8, 3)
    options = dict(filters=4, kernel_size=(3, 2), strides=2, padding="valid", return_state=True)
    ours, theirs = _pair(2, x, **options)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    for return_sequences in (False, True):
        ours.return_sequences = theirs.return_sequences = return_sequences
        want = theirs.compute_output_shape((None, 3, 9, 8, 3))
        assert ours.compute_output_shape((None, 3, 9, 8, 3)) == [tuple(s) for s in want]


def test_unit_forget_bias_starts_the_forget_gate_at_one():
    layer = ConvLSTM2D(3, 3)
    layer.build((None, 2, 5, 5, 1))
    np.testing.assert_array_equal(
        layer.cell.bias.detach().numpy(), np.r_[np.zeros(3), np.ones(3), np.zeros(6)]
    )
    layer = ConvLSTM2D(3, 3, unit_forget_bias=False)
    layer.build((None, 2, 5, 5, 1))
    assert not layer.cell.bias.detach().any()


def test_config_is_keras_and_round_trips():
    options = dict(
        filters=3, kernel_size=(3, 2), strides=(2, 1), padding="same", return_sequences=True
    )
    ours, theirs = ConvLSTM2D(**options), keras.layers.ConvLSTM2D(**options)
    config = ours.get_config()
    assert set(config) == set(theirs.get_config())
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate"):
        assert config[key] == theirs.get_config()[key], key
    assert ConvLSTM2D.from_config(config).get_config() == config
    assert ConvLSTM1D.from_config(ConvLSTM1D(2, 3).get_config()).kernel_size == (3,)


def test_save_and_load_predict_the_same(tmp_path):
    ours, _, x, _ = _stacked_pair()
    path = tmp_path / "conv_lstm.unrolled"
    ours.save(path)
    loaded = unrolled.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)


def test_summary_and_explain_count_the_windows_as_keras():
    from unrolled.explain import explain_text
    from unrolled.explain.parameters import layer_gates

    ours, theirs, *_ = _stacked_pair()
    lines: list[str] = []
    ours.summary(print_fn=lines.append)
    text = explain_text(ours)
    assert "(ConvLSTM2D)" in text
    for group, keras_layer in zip(layer_gates(ours), theirs.layers[:2]):
        assert group.total == keras_layer.count_params()
    # ConvLSTM2D(2, (2, 2)) on 3 channels: each gate's slices keep the window, by hand.
    assert "kernel[..., 0:2] 2x2x3x2=24 + recurrent_kernel[..., 0:2] 2x2x2x2=16" in text
    assert "4 * (2 * 2 * 2 * (3 + 2) + 2) = 168" in text


def test_gate_activations_end_in_keras_states():
    from unrolled.explain import gate_activations

    x = _data(1, 3, 5, 5, 2, key="gates")
    ours, theirs = _pair(2, x, filters=2, kernel_size=3, padding="same", return_state=True)
    model = unrolled.Sequential([ours])
    gates = gate_activations(model, x)
    _, h, c = theirs(x)
    assert gates["i"].shape == (3, 5, 5, 2)
    np.testing.assert_allclose(gates["h"][-1], keras.ops.convert_to_numpy(h)[0], **TOL)
    np.testing.assert_allclose(gates["c"][-1], keras.ops.convert_to_numpy(c)[0], **TOL)


def test_parameter_formula_has_the_window():
    layer = ConvLSTM2D(4, (3, 2))
    layer.build((None, 2, 6, 6, 3))
    count = sum(w.numel() for w in layer.weights)
    assert count == cell_kinds.CONV_LSTM.parameter_count(3, 4, window=6) == 4 * (6 * 4 * 7 + 4)
    assert cell_kinds.kind_of_layer("ConvLSTM2D") is cell_kinds.CONV_LSTM


def test_wrong_rank_names_the_expected_axes():
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, rows, cols, channels\)"):
        ConvLSTM2D(2, 3)(torch.zeros(2, 3, 6, 6))
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, steps, channels\)"):
        ConvLSTM1D(2, 3)(torch.zeros(2, 3, 6))
    layer = ConvLSTM2D(2, 3)
    layer(torch.zeros(1, 2, 6, 6, 1))
    with pytest.raises(ShapeError, match="frames of shape"):
        layer(torch.zeros(1, 2, 7, 6, 1))
    with pytest.raises(ShapeError, match="smaller than the window"):
        ConvLSTM2D(2, 5)(torch.zeros(1, 2, 3, 3, 1))


def test_keras_file_imports(tmp_path):
    _, theirs, x, _ = _stacked_pair()
    path = tmp_path / "conv_lstm.keras"
    theirs.save(path)
    imported = unrolled.interop.from_keras(path)
    np.testing.assert_allclose(
        imported.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=2e-5
    )


def test_onnx_export_refuses_with_the_reason(tmp_path):
    from unrolled.interop.onnx_export import ExportError, to_onnx

    ours, *_ = _stacked_pair()
    with pytest.raises(ExportError, match="ONNX has no recurrent operator for ConvLSTM"):
        to_onnx(ours, tmp_path / "conv_lstm.onnx")


def test_bidirectional_in_a_functional_model_matches_keras():
    x = _data(2, 3, 5, 5, 2, key="bidirectional")
    inputs = L.Input((3, 5, 5, 2))
    hidden = L.Bidirectional(ConvLSTM2D(2, 3, padding="same", return_sequences=True))(inputs)
    ours = unrolled.Model(inputs, ConvLSTM2D(2, 3)(hidden))
    k_inputs = keras.Input((3, 5, 5, 2))
    k_hidden = keras.layers.Bidirectional(
        keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    )(k_inputs)
    theirs = keras.Model(k_inputs, keras.layers.ConvLSTM2D(2, 3)(k_hidden))
    weights = kl.random_weights(rng_for("conv_lstm", "bidirectional"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **TOL)
    lines: list[str] = []
    ours.summary(print_fn=lines.append)
    assert any("2 filters, path loop" in line for line in "\n".join(lines).splitlines())


def test_stateful_model_saves_its_states(tmp_path):
    frame = (3, 5, 5, 1)
    ours = unrolled.Sequential(
        [
            L.Input(batch_shape=(2, *frame)),
            ConvLSTM2D(2, 3, padding="same", stateful=True),
            L.Flatten(),
            L.Dense(1),
        ]
    )
    x = _data(2, *frame, key="stateful_file")
    ours.predict(x, verbose=0)  # states now hold the end of x
    ours.save(tmp_path / "stateful.unrolled")
    loaded = unrolled.load_model(tmp_path / "stateful.unrolled")
    for a, b in zip(loaded.layers[0].get_states(), ours.layers[0].get_states()):
        assert a.shape == (2, 5, 5, 2)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)
