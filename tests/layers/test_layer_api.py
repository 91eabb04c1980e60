"""Building, weights, input conversion and return types of the layers (Keras's API)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import numpy_rnn
import pytest
import torch

import unrolled

B, T, F, U = 2, 5, 3, 4
X = torch.randn(B, T, F, generator=torch.Generator().manual_seed(0))


def random_weights(layer, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()]


# -- building ----------------------------------------------------------------------------------
def test_layer_builds_lazily_on_first_call():
    layer = unrolled.LSTM(U)
    assert not layer.built
    assert layer.get_weights() == [] and list(layer.parameters()) == []
    layer(X)
    assert layer.built and layer.input_features == F
    assert [w.shape for w in layer.get_weights()] == [(F, 4 * U), (U, 4 * U), (4 * U,)]


@pytest.mark.parametrize(
    "shape_kwargs", [{"input_shape": (T, F)}, {"input_dim": F}, {"input_shape": (None, F)}]
)
def test_input_shape_or_input_dim_builds_eagerly_without_warning(shape_kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = unrolled.GRU(U, **shape_kwargs)
    assert layer.built
    assert [w.shape for w in layer.get_weights()] == [(F, 3 * U), (U, 3 * U), (2, 3 * U)]
    assert layer(X).shape == (B, U)


@pytest.mark.parametrize(
    "make, shapes",
    [
        (lambda: unrolled.LSTM(U), [(F, 4 * U), (U, 4 * U), (4 * U,)]),
        (lambda: unrolled.GRU(U), [(F, 3 * U), (U, 3 * U), (2, 3 * U)]),
        (lambda: unrolled.GRU(U, reset_after=False), [(F, 3 * U), (U, 3 * U), (3 * U,)]),
        (lambda: unrolled.SimpleRNN(U), [(F, U), (U, U), (U,)]),
    ],
    ids=["lstm", "gru", "gru_reset_before", "simple_rnn"],
)
def test_set_weights_on_unbuilt_layer_builds_it(make, shapes):
    layer = make()
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=s).astype(np.float32) for s in shapes]
    layer.set_weights(weights)
    assert layer.built and layer.input_features == F
    for got, want in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    assert layer(X).shape == (B, U)


def test_get_weights_order_is_kernel_recurrent_kernel_bias():
    layer = unrolled.LSTM(U)
    layer.build((None, T, F))
    kernel, recurrent, bias = layer.weights
    assert kernel is layer.cell.kernel
    assert recurrent is layer.cell.recurrent_kernel
    assert bias is layer.cell.bias


@pytest.mark.parametrize("cls", [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN])
def test_use_bias_false_gives_two_weights(cls):
    layer = cls(U, use_bias=False)
    layer(X)
    assert len(layer.get_weights()) == 2
    assert layer.cell.bias is None


def test_set_weights_with_wrong_count_raises_and_leaves_weights_unchanged():
    layer = unrolled.LSTM(U)
    layer(X)
    before = layer.get_weights()
    with pytest.raises(unrolled.ShapeError) as info:
        layer.set_weights(before[:2])
    message = str(info.value)
    assert "3" in message and "2" in message
    assert (
        f"({F}, {4 * U})" in message and f"({U}, {4 * U})" in message and f"({4 * U},)" in message
    )
    for got, want in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_set_weights_with_wrong_shape_raises_and_changes_nothing():
    layer = unrolled.LSTM(U)
    layer(X)
    before = layer.get_weights()
    new = random_weights(layer)
    new[1] = new[1].T  # (4U, U) instead of (U, 4U)
    with pytest.raises(unrolled.ShapeError) as info:
        layer.set_weights(new)
    message = str(info.value)
    assert f"({U}, {4 * U})" in message and f"({4 * U}, {U})" in message
    for got, want in zip(layer.get_weights(), before):  # the valid kernel was not copied either
        np.testing.assert_array_equal(got, want)


def test_cell_options_are_readable_on_the_layer():
    layer = unrolled.GRU(U, dropout=0.25, reset_after=False)
    assert layer.units == U
    assert layer.dropout == 0.25
    assert layer.reset_after is False
    assert unrolled.LSTM(U, unit_forget_bias=False).unit_forget_bias is False
    with pytest.raises(AttributeError):
        layer.no_such_option  # noqa: B018


def test_trainable_false_freezes_the_weights():
    layer = unrolled.LSTM(U, trainable=False)
    layer(X)
    assert all(not w.requires_grad for w in layer.weights)
    layer.trainable = True
    assert all(w.requires_grad for w in layer.weights)


# -- inputs ------------------------------------------------------------------------------------
def _same_init_pair(cls, built):
    """A reference layer built on float32 data and a second one with the same initial weights."""
    torch.manual_seed(7)
    reference = cls(U)
    reference(X)
    torch.manual_seed(7)
    layer = cls(U)  # unbuilt: its first call builds it, drawing the same weights
    if built:
        layer.build((None, T, F))
    return reference, layer


@pytest.mark.parametrize("built", [True, False], ids=["built", "unbuilt"])
@pytest.mark.parametrize("as_type", ["numpy", "torch"])
def test_float64_input_is_cast_to_float32_like_keras(as_type, built):
    reference, layer = _same_init_pair(unrolled.LSTM, built)
    x64 = X.double().numpy() if as_type == "numpy" else X.double()
    out = layer(x64)
    assert out.dtype == torch.float32
    assert all(w.dtype == torch.float32 for w in layer.weights)
    torch.testing.assert_close(out, reference(X), rtol=0, atol=0)


@pytest.mark.parametrize("built", [True, False], ids=["built", "unbuilt"])
def test_integer_input_is_converted_to_float(built):
    x_int = np.arange(B * T * F).reshape(B, T, F) % 3 - 1
    reference, layer = _same_init_pair(unrolled.GRU, built)
    out = layer(x_int)
    assert out.dtype == torch.float32
    torch.testing.assert_close(
        out, reference(torch.tensor(x_int, dtype=torch.float32)), rtol=0, atol=0
    )


def test_nested_list_input_is_accepted():
    layer = unrolled.SimpleRNN(U)
    want = layer(X)
    torch.testing.assert_close(layer(X.tolist()), want, rtol=0, atol=0)


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
def test_double_precision_module_matches_numpy_reference(use_cudnn):
    layer = unrolled.LSTM(U, return_sequences=True, use_cudnn=use_cudnn)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer))
    layer.double()
    out = layer(X.double())
    assert out.dtype == torch.float64
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    want, _ = numpy_rnn.run(
        functools.partial(numpy_rnn.lstm_step, weights=weights),
        X.double().numpy(),
        [np.zeros((B, U))] * 2,
    )
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-10, atol=1e-12)


# -- outputs -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, n_states", [(unrolled.LSTM, 2), (unrolled.GRU, 1), (unrolled.SimpleRNN, 1)]
)
def test_return_types_follow_return_sequences_and_return_state(cls, n_states):
    out = cls(U)(X)
    assert isinstance(out, torch.Tensor) and out.shape == (B, U)
    out = cls(U, return_sequences=True)(X)
    assert isinstance(out, torch.Tensor) and out.shape == (B, T, U)
    result = cls(U, return_state=True)(X)
    assert isinstance(result, tuple) and len(result) == 1 + n_states
    assert all(r.shape == (B, U) for r in result)
    # the last output is the final h
    torch.testing.assert_close(result[0], result[1], rtol=0, atol=0)
    result = cls(U, return_sequences=True, return_state=True)(X)
    assert result[0].shape == (B, T, U)


@pytest.mark.parametrize("cls", [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN])
def test_unroll_true_is_accepted_and_changes_nothing(cls):
    rolled = cls(U, return_sequences=True)
    unrolled_layer = cls(U, return_sequences=True, unroll=True)
    rolled(X)
    unrolled_layer.set_weights(rolled.get_weights())
    torch.testing.assert_close(unrolled_layer(X), rolled(X), rtol=0, atol=0)
    assert unrolled_layer.get_config()["unroll"] is True


# -- config ------------------------------------------------------------------------------------
KERAS_RNN_KEYS = {
    "name",
    "trainable",
    "dtype",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
}
KERAS_CELL_KEYS = {
    "units",
    "activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
}


@pytest.mark.parametrize(
    "make, extra",
    [
        (lambda: unrolled.LSTM(U), {"recurrent_activation", "unit_forget_bias", "seed"}),
        (lambda: unrolled.GRU(U), {"recurrent_activation", "reset_after", "seed"}),
        (lambda: unrolled.SimpleRNN(U), set()),
    ],
    ids=["lstm", "gru", "simple_rnn"],
)
def test_get_config_contains_the_keras_keys(make, extra):
    config = make().get_config()
    missing = (KERAS_RNN_KEYS | KERAS_CELL_KEYS | extra) - set(config)
    assert not missing, f"get_config lacks Keras keys {sorted(missing)}"


def test_get_config_values_reflect_the_arguments():
    config = unrolled.LSTM(
        7, activation="relu", dropout=0.1, return_sequences=True, go_backwards=True, name="enc"
    ).get_config()
    assert config["units"] == 7 and config["activation"] == "relu" and config["dropout"] == 0.1
    assert config["return_sequences"] is True and config["go_backwards"] is True
    assert config["name"] == "enc" and config["recurrent_activation"] == "sigmoid"


def test_keras_constructor_arguments_from_a_config_are_accepted():
    # a Keras LSTM config (minus name) can be passed back to the constructor
    unrolled.LSTM(U, activity_regularizer=None, dtype="float32")
