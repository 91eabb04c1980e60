"""Dense, Activation, Dropout, Lambda, Flatten, Reshape, RepeatVector and the merges against Keras 3.

Each parity test builds the real Keras layer and ours with the same arguments and weights,
runs both on the same data (and mask), and compares outputs and attached masks to 1e-5.
Symbolic tests call both on `Input(...)` and compare output shapes.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import torch
from oracles import keras_layers as kl
from oracles.keras_oracle import rng_for

import unrolled.layers as L
from unrolled.errors import ConfigError, InputTypeError, ShapeError

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is fastest on a busy two-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _data(*shape: int, key: object = None) -> np.ndarray:
    return rng_for("core", shape, key).normal(size=shape).astype(np.float32)


# ----------------------------------------------------------------------------- Dense


@pytest.mark.parametrize("shape", [(4, 3), (4, 5, 3), (2, 4, 5, 3)], ids=["2d", "3d", "4d"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", [None, "relu", "tanh", "softmax"])
def test_dense_matches_keras_on_the_last_axis(shape, use_bias, activation):
    theirs = keras.layers.Dense(6, activation=activation, use_bias=use_bias)
    ours = L.Dense(6, activation=activation, use_bias=use_bias)
    theirs.build(shape)
    ours.build(shape)
    kl.share_weights(rng_for("dense", shape, use_bias, activation), theirs, ours)
    x = _data(*shape)
    kl.assert_same(ours(torch.from_numpy(x)), theirs(torch.from_numpy(x)))
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]


def test_dense_weights_have_keras_names_layout_and_initializers():
    torch.manual_seed(0)
    layer = L.Dense(7)
    layer(torch.zeros(2, 300))
    assert [name for name, _ in layer.named_parameters()] == ["kernel", "bias"]
    kernel, bias = layer.get_weights()
    assert kernel.shape == (300, 7) and bias.shape == (7,)
    limit = np.sqrt(6.0 / (300 + 7))  # glorot_uniform
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert not bias.any()
    assert L.Dense(3, use_bias=False).build((None, 2)) is None


def test_dense_passes_a_mask_through_like_keras():
    x = _data(3, 5, 4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]], dtype=bool)
    theirs, ours = keras.layers.Dense(2), L.Dense(2)
    theirs.build((None, 5, 4))
    ours.build((None, 5, 4))
    kl.share_weights(rng_for("dense-mask"), theirs, ours)
    a, b = kl.with_mask(x, mask)
    kl.assert_same(ours(a), theirs(b))


def test_dense_casts_float64_and_integer_inputs_to_float32():
    layer = L.Dense(2)
    assert layer(np.ones((2, 3))).dtype == torch.float32
    assert layer(torch.ones(2, 3, dtype=torch.int64)).dtype == torch.float32


def test_dense_legacy_keras1_arguments_warn_and_map():
    with pytest.warns(DeprecationWarning, match="output_dim.*units"):
        layer = L.Dense(output_dim=3, input_dim=2)
    assert layer.units == 3 and layer.get_weights()[0].shape == (2, 3)
    with pytest.warns(DeprecationWarning, match="`init`.*kernel_initializer"):
        layer = L.Dense(3, init="zeros")
    layer.build((None, 4))
    assert not layer.get_weights()[0].any()
    with pytest.raises(ConfigError, match="not both"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        L.Dense(3, output_dim=4)


def test_dense_stores_regularizers_and_constraints_for_the_training_loop():
    layer = L.Dense(
        2,
        kernel_regularizer="l2",
        bias_regularizer="l1",
        activity_regularizer="l2",
        kernel_constraint="non_neg",
        bias_constraint=None,
    )
    layer.build((None, 3))
    assert callable(layer.kernel_regularizer) and callable(layer.bias_regularizer)
    assert layer.activity_regularizer == "l2" and callable(layer.kernel_constraint)
    assert len(layer.regularization_losses()) == 2


def test_dense_built_from_an_input_shape_refuses_other_features_without_rebuilding():
    # Keras would build for the data; a built layer of ours keeps its weights (Differences
    # from Keras in the README): a contradicting call is an error naming both shapes.
    layer = L.Dense(2, input_shape=(3,))
    kernel = layer.kernel
    assert layer.get_weights()[0].shape == (3, 2)
    with pytest.raises(ShapeError, match=r"\(None, 3\).*\(4, 5\)"):
        layer(torch.zeros(4, 5))
    assert layer.kernel is kernel and layer(torch.zeros(4, 3)).shape == (4, 2)


# ----------------------------------------------------------------------------- Activation, Lambda


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "linear", "elu", "selu"])
def test_activation_matches_keras(name):
    x = _data(3, 4, 5, key=name)
    mask = np.array([[1, 1, 0, 0]] * 3, dtype=bool)
    a, b = kl.with_mask(x, mask)
    kl.assert_same(L.Activation(name)(a), keras.layers.Activation(name)(b))


def test_lambda_slicing_the_last_steps_matches_keras():
    x = _data(2, 7, 3)
    ours = L.Lambda(lambda t: t[:, -3:, :])
    theirs = keras.layers.Lambda(lambda t: t[:, -3:, :])
    kl.assert_same(ours(torch.from_numpy(x)), theirs(torch.from_numpy(x)))
    assert kl.symbolic_shapes(ours(L.Input((7, 3)))) == kl.symbolic_shapes(
        theirs(keras.Input((7, 3)))
    )


def test_lambda_arguments_output_shape_and_mask():
    scale = L.Lambda(lambda t, factor: t * factor, arguments={"factor": 3.0}, output_shape=(4,))
    assert torch.equal(scale(torch.ones(2, 4)), torch.full((2, 4), 3.0))
    assert scale(L.Input((4,))).shape == (None, 4)
    keep = L.Lambda(lambda t: t + 1, mask=lambda inputs, mask: mask)
    x = torch.zeros(2, 3, 1)
    x._keras_mask = torch.tensor([[True, False, True]] * 2)
    assert torch.equal(keep(x)._keras_mask, x._keras_mask)
    with_mask = L.Lambda(lambda t, mask=None: t * mask.unsqueeze(-1))
    with pytest.warns(UserWarning, match="does not support masking"):
        assert with_mask(x).shape == (2, 3, 1)
    by_shape = L.Lambda(lambda t: t.sum(1), output_shape=lambda s: (s[0], s[2]))
    assert by_shape(L.Input((5, 2))).shape == (None, 2)


def test_lambda_receives_training_flag():
    seen = []
    layer = L.Lambda(lambda t, training=None: seen.append(training) or t)
    layer(torch.zeros(1, 1), training=True)
    layer.eval()(torch.zeros(1, 1))
    assert seen == [True, False]


# ----------------------------------------------------------------------------- Dropout


def test_dropout_is_identity_outside_training_and_keeps_the_mask():
    x = torch.from_numpy(_data(4, 5, 6))
    x._keras_mask = torch.ones(4, 5, dtype=torch.bool)
    layer = L.Dropout(0.5).eval()
    out = layer(x)
    assert torch.equal(out, x) and out._keras_mask is x._keras_mask
    assert torch.equal(L.Dropout(0.5)(x, training=False), x)


def test_dropout_in_training_zeros_a_fraction_and_scales_the_rest():
    torch.manual_seed(0)
    x = torch.ones(200, 50)
    out = L.Dropout(0.3)(x)  # a fresh module is in training mode, as in PyTorch
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.7))
    assert abs((out == 0).float().mean().item() - 0.3) < 0.02
    assert torch.equal(L.Dropout(1.0)(x, training=True), torch.zeros_like(x))
    assert torch.equal(L.Dropout(0.0)(x, training=True), x)


def test_dropout_noise_shape_and_seed():
    x = torch.ones(8, 10, 6)
    out = L.Dropout(0.5, noise_shape=(None, 1, None), seed=3)(x, training=True)
    assert torch.equal(out, out[:, :1].expand_as(out))  # one mask for every timestep
    again = L.Dropout(0.5, noise_shape=(None, 1, None), seed=3)(x, training=True)
    assert torch.equal(out, again)
    config = L.Dropout(0.5, noise_shape=[None, 1, 6], seed=3).get_config()
    assert config["noise_shape"] == (None, 1, 6) and config["seed"] == 3 and config["rate"] == 0.5


# ----------------------------------------------------------------------------- reshaping


@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (lambda: L.Flatten(), lambda: keras.layers.Flatten(), (3, 4, 5)),
        (lambda: L.Flatten(), lambda: keras.layers.Flatten(), (3, 2, 4, 5)),
        (
            lambda: L.Flatten(data_format="channels_first"),
            lambda: keras.layers.Flatten(data_format="channels_first"),
            (3, 2, 4, 5),
        ),
        (lambda: L.Reshape((5, 4)), lambda: keras.layers.Reshape((5, 4)), (3, 4, 5)),
        (lambda: L.Reshape((-1, 2)), lambda: keras.layers.Reshape((-1, 2)), (3, 4, 5)),
        (lambda: L.Reshape((2, -1, 5)), lambda: keras.layers.Reshape((2, -1, 5)), (3, 20)),
        (lambda: L.RepeatVector(4), lambda: keras.layers.RepeatVector(4), (3, 5)),
    ],
    ids=["flatten3d", "flatten4d", "flatten_cf", "reshape", "reshape-1", "reshape3", "repeat"],
)
def test_reshaping_layers_match_keras_values_and_symbolic_shapes(ours, theirs, shape):
    x = _data(*shape)
    our_layer, their_layer = ours(), theirs()
    kl.assert_same(our_layer(torch.from_numpy(x)), their_layer(torch.from_numpy(x)))
    for per_sample in [shape[1:], (None, *shape[2:])]:
        if None in per_sample and isinstance(our_layer, L.Reshape):
            continue  # Keras leaves the inferred axis unknown; checked below
        assert kl.symbolic_shapes(our_layer(L.Input(per_sample))) == kl.symbolic_shapes(
            their_layer(keras.Input(per_sample))
        )


def test_reshape_with_an_unknown_axis_leaves_the_inferred_size_unknown():
    assert L.Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    assert keras.layers.Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)


def test_repeat_vector_bridges_an_encoder_to_a_decoder():
    encoder = L.LSTM(4)
    decoder = L.LSTM(3, return_sequences=True)
    out = decoder(L.RepeatVector(6)(encoder(torch.zeros(2, 5, 1))))
    assert out.shape == (2, 6, 3)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (L.Flatten, (2, 3, 4)),
        (lambda: L.Reshape((-1,)), (2, 3, 4)),
        (lambda: L.RepeatVector(2), (2, 4)),
    ],
    ids=["Flatten", "Reshape", "RepeatVector"],
)
def test_non_masking_layers_warn_when_they_receive_a_mask(layer, shape):
    x = torch.zeros(shape)
    x._keras_mask = torch.ones(shape[:-1], dtype=torch.bool)
    with pytest.warns(UserWarning, match="does not support masking"):
        out = layer()(x)
    assert getattr(out, "_keras_mask", None) is None


def test_flatten_after_masking_warns_in_keras_too():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    with pytest.warns(UserWarning, match="does not support masking"):
        keras.layers.Flatten()(keras.layers.Masking()(torch.from_numpy(x)))
    with pytest.warns(UserWarning, match="does not support masking"):
        L.Flatten()(L.Masking()(torch.from_numpy(x)))


# ----------------------------------------------------------------------------- merging


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Concatenate"])
def test_merge_layers_match_keras_values_masks_and_shapes(name):
    x1, x2 = _data(3, 4, 5, key=1), _data(3, 4, 5, key=2)
    m1 = np.array([[1, 1, 0, 0]] * 3, dtype=bool)
    m2 = np.array([[1, 0, 1, 0]] * 3, dtype=bool)
    a1, b1 = kl.with_mask(x1, m1)
    a2, b2 = kl.with_mask(x2, m2)
    ours, theirs = getattr(L, name)(), getattr(keras.layers, name)()
    kl.assert_same(ours([a1, a2]), theirs([b1, b2]))
    a3, b3 = kl.with_mask(x2, None)  # one input without a mask
    kl.assert_same(ours([a1, a3]), theirs([b1, b3]))
    symbolic = [L.Input((4, 5)), L.Input((4, 5))]
    assert ours(symbolic).shape == theirs([keras.Input((4, 5)), keras.Input((4, 5))]).shape


def test_concatenate_on_other_axes_and_different_widths():
    x1, x2 = _data(2, 3, 4, key=1), _data(2, 5, 4, key=2)
    for axis in (1, -2):
        ours = L.Concatenate(axis=axis)([torch.from_numpy(x1), torch.from_numpy(x2)])
        theirs = keras.layers.Concatenate(axis=axis)([torch.from_numpy(x1), torch.from_numpy(x2)])
        kl.assert_same(ours, theirs)
    out = L.concatenate([torch.zeros(2, 3), torch.zeros(2, 4)])
    assert out.shape == (2, 7)
    assert L.Concatenate()([L.Input((None, 3)), L.Input((None, 2))]).shape == (None, None, 5)
    assert L.add([torch.ones(2, 3), torch.ones(2, 3)]).sum() == 12


def test_add_broadcasts_lower_rank_inputs_like_keras():
    x1, x2 = _data(2, 4, 3, key=1), _data(2, 3, key=2)
    kl.assert_same(
        L.Add()([torch.from_numpy(x1), torch.from_numpy(x2)]),
        keras.layers.Add()([torch.from_numpy(x1), torch.from_numpy(x2)]),
    )


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("Dense", (3,)),
        ("Activation", ("relu",)),
        ("Dropout", (0.3,)),
        ("Flatten", ()),
        ("Reshape", ((2, 3),)),
        ("RepeatVector", (3,)),
        ("Concatenate", ()),
        ("Add", ()),
    ],
)
def test_configs_have_keras_keys(name, args):
    theirs = set(getattr(keras.layers, name)(*args).get_config()) - {"quantization_config"}
    ours = set(getattr(L, name)(*args).get_config())
    assert theirs <= ours
    assert ours - theirs <= {"activity_regularizer"}


def test_dense_config_round_trips():
    layer = L.Dense(4, activation="relu", use_bias=False, kernel_initializer="ones")
    config = layer.get_config()
    assert config["units"] == 4 and config["activation"] == "relu" and not config["use_bias"]
    clone = L.Dense(**{**config, "name": "clone"})
    assert clone.get_config()["kernel_initializer"] == "ones"


# ----------------------------------------------------------------------------- symbolic


@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (lambda: L.Dense(4), lambda: keras.layers.Dense(4), (None, 6)),
        (lambda: L.Dense(4), lambda: keras.layers.Dense(4), (5, 3, 6)),
        (lambda: L.Activation("relu"), lambda: keras.layers.Activation("relu"), (5, 6)),
        (lambda: L.Dropout(0.2), lambda: keras.layers.Dropout(0.2), (None, 6)),
        (lambda: L.Flatten(), lambda: keras.layers.Flatten(), (None, 6)),
        (lambda: L.RepeatVector(3), lambda: keras.layers.RepeatVector(3), (6,)),
    ],
)
def test_symbolic_output_shapes_match_keras(ours, theirs, shape):
    expected = theirs()(keras.Input(shape)).shape
    assert ours()(L.Input(shape)).shape == expected
    assert ours().compute_output_shape((None, *shape)) == theirs().compute_output_shape(
        (None, *shape)
    )


# ----------------------------------------------------------------------------- bad input


def test_dense_fed_the_wrong_feature_count_says_what_it_expected():
    layer = L.Dense(2)
    layer(torch.zeros(3, 8))
    with pytest.raises(ShapeError, match=r"expected inputs with 8 features.*\(3, 5\) with 5"):
        layer(torch.zeros(3, 5))
    with pytest.raises(ShapeError, match="expected inputs with 8 features"):
        layer(L.Input((5,)))
    with pytest.raises(ShapeError, match=r"\(samples, \.\.\., features\).*1-D"):
        L.Dense(2)(torch.zeros(3))


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: L.Dense(0), ConfigError, "positive integer"),
        (lambda: L.Dense(2, activation="nope"), ConfigError, "Unknown activation"),
        (lambda: L.Dense(2, kernel_initializer="nope"), ConfigError, "Unknown initializer"),
        (lambda: L.Dropout(1.5), ConfigError, r"rate.*\[0, 1\].*1.5"),
        (lambda: L.Dropout(0.5, noise_shape="abc"), ConfigError, "noise_shape"),
        (lambda: L.Dropout(0.5, noise_shape=(None, 0)), ConfigError, "noise_shape"),
        (lambda: L.Reshape((-1, -1)), ConfigError, "at most one -1"),
        (lambda: L.Reshape((2, -3)), ConfigError, "positive integer"),
        (lambda: L.RepeatVector(2.5), InputTypeError, "integer `n`"),
        (lambda: L.RepeatVector(0), ConfigError, "positive integer"),
        (lambda: L.Flatten(data_format="nchw"), ConfigError, "channels_last"),
        (lambda: L.Lambda(3), ConfigError, "callable"),
        (lambda: L.Concatenate(axis="last"), ConfigError, "integer"),
        (lambda: L.Dense(2, units_typo=3), ConfigError, "Unrecognized keyword"),
    ],
    ids=[
        "dense-units",
        "dense-activation",
        "dense-initializer",
        "dropout-rate",
        "noise-str",
        "noise-zero",
        "reshape-two-minus-ones",
        "reshape-negative",
        "repeat-float",
        "repeat-zero",
        "flatten-format",
        "lambda-not-callable",
        "concat-axis",
        "unknown-keyword",
    ],
)
def test_bad_arguments_raise_at_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: L.RepeatVector(2)(torch.zeros(2, 3, 4)),
            r"expects inputs of shape \(samples, features\); received a 3-D input",
        ),
        (
            lambda: L.RepeatVector(2)(L.Input((3, 4))),
            r"received a 3-D input of shape \(None, 3, 4\)",
        ),
        (lambda: L.Reshape((4, 4))(torch.zeros(2, 3, 5)), r"\(3, 5\) \(15 values\).*16 values"),
        (lambda: L.Reshape((-1, 4))(torch.zeros(2, 3, 5)), "a multiple of 4"),
        (lambda: L.Reshape((4, 4))(L.Input((3, 5))), "cannot reshape"),
        (
            lambda: L.Dropout(0.5, noise_shape=(None, 1))(torch.ones(2, 3, 4), training=True),
            "noise_shape",
        ),
        (
            lambda: L.Dropout(0.5, noise_shape=(2, 2, 4))(torch.ones(2, 3, 4), training=True),
            "does not broadcast",
        ),
        (lambda: L.Add()(torch.zeros(2, 3)), "list of inputs"),
        (lambda: L.Add()([torch.zeros(2, 3), torch.zeros(2, 4)]), r"\(2, 3\), \(2, 4\)"),
        (lambda: L.Subtract()([torch.zeros(2, 3)] * 3), "exactly 2 inputs"),
        (lambda: L.Concatenate()([torch.zeros(2, 3), torch.zeros(3, 4)]), "agree on every axis"),
        (lambda: L.Concatenate()([L.Input((3, 2)), L.Input((4, 2))]), "agree on every axis"),
    ],
    ids=[
        "repeat-3d",
        "repeat-3d-symbolic",
        "reshape-size",
        "reshape-multiple",
        "reshape-symbolic",
        "noise-rank",
        "noise-broadcast",
        "add-not-list",
        "add-shapes",
        "subtract-three",
        "concat-shapes",
        "concat-symbolic",
    ],
)
def test_bad_inputs_raise_shape_errors_with_expected_and_received(call, match):
    with pytest.raises(ShapeError, match=match):
        call()


def test_keras2_module_paths_resolve_to_the_same_layers():
    from unrolled.layers.core import Dense, Dropout, Flatten, Lambda, Masking, RepeatVector, Reshape

    assert (Dense, Dropout, Flatten, Lambda) == (L.Dense, L.Dropout, L.Flatten, L.Lambda)
    assert (Masking, RepeatVector, Reshape) == (L.Masking, L.RepeatVector, L.Reshape)
    assert L.embeddings.Embedding is L.Embedding
    assert L.wrappers.TimeDistributed is L.TimeDistributed
    assert L.wrappers.Bidirectional is L.Bidirectional
    assert L.merge.concatenate is L.concatenate and L.merge.Add is L.Add
    assert L.merge.multiply([torch.full((1, 2), 2.0)] * 2).sum() == 8
    assert L.merge.subtract([torch.ones(1, 2), torch.ones(1, 2)]).sum() == 0
    assert L.merge.average([torch.zeros(1, 2), torch.ones(1, 2)]).sum() == 1
