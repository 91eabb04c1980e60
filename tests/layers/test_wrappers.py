"""TimeDistributed and Bidirectional against Keras 3: values, masks, states and shapes.

Bidirectional is compared over LSTM, GRU and SimpleRNN x every merge mode x
return_sequences x return_state, each without a mask and with a mixed mask (post-padded,
pre-padded, holes, an empty row and a full row in one batch), to 1e-5, including the
masks Keras attaches to each output. Keras runs its generic step loop (`use_cudnn=False`).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from oracles import keras_layers as kl
from oracles.keras_oracle import make_mask, rng_for

import unrolled.layers as L
from unrolled.errors import ConfigError, ShapeError

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

B, T, F, U = 5, 6, 3, 4
KINDS = ["LSTM", "GRU", "SimpleRNN"]
MERGE_MODES = ["concat", "sum", "mul", "ave", None]
N_STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _x(*key, shape=(B, T, F)) -> np.ndarray:
    return rng_for("wrappers", shape, key).normal(size=shape).astype(np.float32)


def bidirectional_pair(kind, merge_mode="concat", batch=None, backward_units=None, **options):
    """Keras's and our Bidirectional over `kind(U, **options)`, built, sharing weights."""
    theirs_backward = ours_backward = None
    if backward_units is not None:
        theirs_backward = getattr(keras.layers, kind)(
            backward_units, go_backwards=True, **options, **kl.KERAS_RNN[kind]
        )
        ours_backward = getattr(L, kind)(backward_units, go_backwards=True, **options)
    theirs = keras.layers.Bidirectional(
        getattr(keras.layers, kind)(U, **options, **kl.KERAS_RNN[kind]),
        merge_mode=merge_mode,
        backward_layer=theirs_backward,
    )
    ours = L.Bidirectional(
        getattr(L, kind)(U, **options), merge_mode=merge_mode, backward_layer=ours_backward
    )
    theirs.build((batch, T, F))
    ours.build((batch, T, F))
    kl.share_weights(rng_for("bidirectional", kind, merge_mode, batch, options), theirs, ours)
    return ours, theirs


# ----------------------------------------------------------------------------- Bidirectional


@pytest.mark.parametrize("return_state", [False, True], ids=["out", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_matches_keras(kind, merge_mode, return_sequences, return_state):
    ours, theirs = bidirectional_pair(
        kind, merge_mode, return_sequences=return_sequences, return_state=return_state
    )
    x = _x(kind)
    for mask in (None, make_mask("mixed", B, T, rng_for("mask", kind))):
        a, b = kl.with_mask(x, mask)
        kl.assert_same(ours(a), theirs(b))
        if mask is not None:  # the mask given as an argument, not on the tensor
            kl.assert_same(
                ours(torch.from_numpy(x), mask=torch.from_numpy(mask)),
                theirs(torch.from_numpy(x), mask=torch.from_numpy(mask)),
            )


@pytest.mark.parametrize("pattern", ["post_padding", "pre_padding", "holes", "fully_masked_row"])
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_zeros_masked_steps_like_keras(kind, pattern):
    ours, theirs = bidirectional_pair(kind, "concat", return_sequences=True)
    mask = make_mask(pattern, B, T, rng_for(pattern))
    a, b = kl.with_mask(_x(pattern), mask)
    out = ours(a)
    kl.assert_same(out, theirs(b))
    assert not out.detach().numpy()[~mask].any()


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_initial_state_is_split_forward_then_backward(kind):
    ours, theirs = bidirectional_pair(kind, "concat", return_sequences=True, return_state=True)
    rng = rng_for("initial", kind)
    states = [rng.normal(size=(B, U)).astype(np.float32) for _ in range(2 * N_STATES[kind])]
    # Passed as an argument: Keras 3 fills `mask` from the tensor only when the input is the
    # call's one tensor argument, so a mask riding on it is ignored next to `initial_state`.
    mask = torch.from_numpy(make_mask("mixed", B, T, rng))
    x = torch.from_numpy(_x("initial", kind))
    kl.assert_same(
        ours(x, initial_state=[torch.from_numpy(s) for s in states], mask=mask),
        theirs(x, initial_state=[torch.from_numpy(s) for s in states], mask=mask),
    )


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_with_a_given_backward_layer_matches_keras(merge_mode):
    ours, theirs = bidirectional_pair(
        "LSTM", merge_mode, backward_units=3, return_sequences=True, return_state=True
    )
    assert ours.backward_layer.units == 3 and ours.backward_layer.zero_output_for_mask
    a, b = kl.with_mask(_x("given"), make_mask("mixed", B, T))
    kl.assert_same(ours(a), theirs(b))


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_stateful_calls_continue_like_keras(kind):
    ours, theirs = bidirectional_pair(kind, "concat", batch=B, stateful=True, return_sequences=True)
    for step in range(2):
        x = _x("stateful", kind, step)
        kl.assert_same(ours(torch.from_numpy(x)), theirs(torch.from_numpy(x)))
    keras_states = [v.numpy() for v in theirs.states]
    for mine, reference in zip(ours.get_states(), keras_states, strict=True):
        np.testing.assert_allclose(mine, reference, **kl.TOL)
    ours.reset_states()
    theirs.reset_states()
    x = _x("stateful", kind, "after reset")
    kl.assert_same(ours(torch.from_numpy(x)), theirs(torch.from_numpy(x)))


def test_bidirectional_states_api_and_batch_size_change():
    with pytest.warns(DeprecationWarning, match="batch_input_shape"):
        layer = L.Bidirectional(L.LSTM(2, stateful=True), batch_input_shape=(3, 4, 1))
    layer(torch.ones(3, 4, 1))
    states = layer.get_states()
    assert [s.shape for s in states] == [(3, 2)] * 4 and all(s.any() for s in states)
    layer.set_states([np.zeros((3, 2), np.float32)] * 4)
    assert not any(s.any() for s in layer.get_states())
    layer.reset_states(batch_size=1)
    assert layer(torch.ones(1, 4, 1)).shape == (1, 4)
    with pytest.raises(ShapeError, match="stateful"):
        layer(torch.ones(2, 4, 1))


def test_bidirectional_weights_order_names_and_config_follow_keras():
    ours, theirs = bidirectional_pair("GRU", "sum")
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert ours.forward_layer.name.startswith("forward_gru")
    assert ours.backward_layer.name.startswith("backward_gru")
    assert ours.backward_layer.go_backwards and not ours.forward_layer.go_backwards
    config = ours.get_config()
    assert set(theirs.get_config()) <= set(config)
    assert config["merge_mode"] == "sum"
    assert config["layer"]["class_name"] == "GRU"
    assert config["backward_layer"]["config"]["go_backwards"] is True
    assert ours.count_params() == theirs.count_params()


def test_bidirectional_weights_argument_and_fresh_copies():
    source = L.LSTM(3)
    source.build((None, T, F))
    layer = L.Bidirectional(source, weights=source.get_weights() * 2)
    for mine, given in zip(layer.get_weights(), source.get_weights() * 2):
        np.testing.assert_array_equal(mine, given)
    assert layer.forward_layer is not source  # rebuilt from the config, as Keras does
    fresh = L.Bidirectional(L.LSTM(3, input_shape=(T, F)))
    forward, backward = fresh.forward_layer.get_weights(), fresh.backward_layer.get_weights()
    assert not np.array_equal(forward[0], backward[0])  # independent initializations
    assert fresh.batch_shape == (None, T, F)


def test_bidirectional_over_a_generic_rnn_of_a_cell_matches_keras():
    theirs = keras.layers.Bidirectional(
        keras.layers.RNN(keras.layers.GRUCell(U), return_sequences=True)
    )
    ours = L.Bidirectional(L.RNN(L.GRUCell(U), return_sequences=True))
    theirs.build((None, T, F))
    ours.build((None, T, F))
    kl.share_weights(rng_for("generic"), theirs, ours)
    a, b = kl.with_mask(_x("generic"), make_mask("holes", B, T))
    kl.assert_same(ours(a), theirs(b))


def test_bidirectional_of_a_go_backwards_layer_inverts_both_directions():
    layer = L.Bidirectional(L.LSTM(U, go_backwards=True, return_sequences=True), merge_mode=None)
    x = torch.from_numpy(_x("backwards"))
    y, y_rev = layer(x)
    assert layer.forward_layer.go_backwards and not layer.backward_layer.go_backwards
    torch.testing.assert_close(y, layer.forward_layer(x))
    torch.testing.assert_close(y_rev, layer.backward_layer(x).flip(1))


@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_bidirectional_symbolic_shapes_match_keras(merge_mode, return_sequences, return_state):
    options = {"return_sequences": return_sequences, "return_state": return_state}
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(U, **options), merge_mode=merge_mode)
    ours = L.Bidirectional(L.LSTM(U, **options), merge_mode=merge_mode)
    for shape in [(T, F), (None, F)]:
        assert kl.symbolic_shapes(ours(L.Input(shape))) == kl.symbolic_shapes(
            theirs(keras.Input(shape))
        )


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (
            lambda: L.Bidirectional(L.LSTM(2), merge_mode="max"),
            ConfigError,
            r"expected one of 'concat', 'sum', 'mul', 'ave' or None; received 'max'",
        ),
        (lambda: L.Bidirectional(L.Dense(2)), ConfigError, "recurrent layer.*received Dense"),
        (
            lambda: L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2)),
            ConfigError,
            "differ in `go_backwards`",
        ),
        (
            lambda: L.Bidirectional(
                L.LSTM(2), backward_layer=L.LSTM(2, go_backwards=True, return_sequences=True)
            ),
            ConfigError,
            "agree in `return_sequences`",
        ),
        (
            lambda: L.Bidirectional(L.LSTM(2), backward_layer=L.Dense(2)),
            ConfigError,
            "backward_layer",
        ),
    ],
)
def test_bidirectional_bad_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_bidirectional_wrong_initial_state_count_says_the_split():
    layer = L.Bidirectional(L.LSTM(2))
    with pytest.raises(ShapeError, match=r"expects 4 initial states, the forward layer's 2 then"):
        layer(torch.zeros(1, 3, 1), initial_state=[torch.zeros(1, 2)] * 2)


# ----------------------------------------------------------------------------- TimeDistributed


@pytest.mark.parametrize("shape", [(B, T, F), (2, T, 4, F)], ids=["3d", "4d"])
@pytest.mark.parametrize("activation", [None, "sigmoid"])
def test_time_distributed_dense_matches_keras_and_passes_the_mask(shape, activation):
    theirs = keras.layers.TimeDistributed(keras.layers.Dense(2, activation=activation))
    ours = L.TimeDistributed(L.Dense(2, activation=activation))
    theirs.build(shape)
    ours.build(shape)
    kl.share_weights(rng_for("td", shape, activation), theirs, ours)
    x = _x("td", shape=shape)
    mask = make_mask("mixed", shape[0], T, rng_for("td-mask"))
    for m in (None, mask):
        a, b = kl.with_mask(x, m)
        kl.assert_same(ours(a), theirs(b))


def test_time_distributed_flatten_and_dropout_match_keras():
    x = _x("flatten", shape=(2, T, 4, F))
    kl.assert_same(
        L.TimeDistributed(L.Flatten())(torch.from_numpy(x)),
        keras.layers.TimeDistributed(keras.layers.Flatten())(torch.from_numpy(x)),
    )
    dropout = L.TimeDistributed(L.Dropout(0.5)).eval()
    assert torch.equal(dropout(torch.from_numpy(x)), torch.from_numpy(x))
    assert not torch.equal(dropout(torch.from_numpy(x), training=True), torch.from_numpy(x))


@pytest.mark.parametrize("shape", [(T, F), (None, F), (T, 4, F)])
def test_time_distributed_symbolic_shapes_match_keras(shape):
    ours = L.TimeDistributed(L.Dense(2))(L.Input(shape))
    theirs = keras.layers.TimeDistributed(keras.layers.Dense(2))(keras.Input(shape))
    assert ours.shape == theirs.shape


def test_time_distributed_weights_config_and_legacy_input_shape():
    layer = L.TimeDistributed(L.Dense(2), input_shape=(T, F))
    assert [w.shape for w in layer.get_weights()] == [(F, 2), (2,)]
    config = layer.get_config()
    assert config["layer"]["class_name"] == "Dense" and config["layer"]["config"]["units"] == 2
    theirs = keras.layers.TimeDistributed(keras.layers.Dense(2)).get_config()
    assert set(theirs) <= set(config)
    assert layer(torch.zeros(1, T, F)).shape == (1, T, 2)


def test_time_distributed_bad_inputs():
    layer = L.TimeDistributed(L.Dense(2))
    with pytest.raises(
        ShapeError, match=r"at least 3 axes; received a 2-D input of shape \(4, 3\)"
    ):
        layer(torch.zeros(4, 3))
    with pytest.raises(ShapeError, match="at least 3 axes"):
        layer(L.Input((3,)))
    with pytest.raises(ShapeError, match=r"mask must start with.*\(4, 6\).*\(4, 5\)"):
        layer(torch.zeros(4, 6, 3), mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ConfigError, match="layer instance"):
        L.TimeDistributed("dense")


def test_wrappers_pass_trainable_to_the_layers_inside_even_before_they_are_built():
    distributed = L.TimeDistributed(L.Dense(2), trainable=False)
    distributed(torch.zeros(1, 2, 3))
    assert not any(p.requires_grad for p in distributed.parameters())
    bidirectional = L.Bidirectional(L.LSTM(2))
    bidirectional.trainable = False
    bidirectional(torch.zeros(1, 2, 3))
    assert not any(p.requires_grad for p in bidirectional.parameters())
    bidirectional.trainable = True
    assert all(p.requires_grad for p in bidirectional.parameters())


def test_time_distributed_lstm_on_4d_inputs_gets_its_own_steps_mask_like_keras():
    shape = (2, 3, 4, 2)
    mask = np.ones(shape[:3], dtype=bool)
    mask[0, 1, 2:] = False  # post-padding inside one sequence
    mask[1, 2, :1] = False  # pre-padding inside another
    theirs = keras.layers.TimeDistributed(keras.layers.LSTM(3, use_cudnn=False))
    ours = L.TimeDistributed(L.LSTM(3))
    theirs.build(shape)
    ours.build(shape)
    kl.share_weights(rng_for("td-lstm"), theirs, ours)
    x = torch.from_numpy(_x("td-lstm", shape=shape))
    kl.assert_same(ours(x, mask=torch.from_numpy(mask)), theirs(x, mask=torch.from_numpy(mask)))
