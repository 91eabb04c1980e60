"""Wrong input and wrong arguments raise unrolled's errors with messages that say what to do.

Every error is an `UnrolledError` and a ValueError/TypeError (as Keras raises), never a raw
RuntimeError from deep inside torch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled

B, T, F, U = 2, 5, 3, 4


def raises(cls, fn, *words):
    """Runs `fn`, checks the error class and contract, and that the message has every word."""
    with pytest.raises(cls) as info:
        fn()
    error = info.value
    assert isinstance(error, unrolled.UnrolledError)
    assert isinstance(error, (ValueError, TypeError))
    assert not isinstance(error, RuntimeError)
    message = str(error)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def built_lstm():
    layer = unrolled.LSTM(U)
    layer(torch.zeros(B, T, F))
    return layer


# -- input rank and size -----------------------------------------------------------------------
@pytest.mark.parametrize("built", [False, True], ids=["unbuilt", "built"])
def test_2d_input_raises_shape_error_with_reshape_advice(built):
    layer = built_lstm() if built else unrolled.LSTM(U)
    raises(
        unrolled.ShapeError,
        lambda: layer(np.zeros((4, 10))),
        "(samples, timesteps, features)",
        "(4, 10)",
        "reshape",
        "reshape(4, 10, 1)",
    )


@pytest.mark.parametrize(
    "shape, text",
    [((10,), "(10,)"), ((2, 3, 4, 5), "(2, 3, 4, 5)"), ((), "()")],
    ids=["1d", "4d", "0d"],
)
def test_other_ranks_raise_shape_error_showing_received_shape(shape, text):
    raises(
        unrolled.ShapeError,
        lambda: unrolled.GRU(U)(torch.zeros(shape)),
        "(samples, timesteps, features)",
        text,
    )


@pytest.mark.parametrize("shape", [(B, 0, F), (0, T, F)], ids=["zero_timesteps", "zero_samples"])
def test_empty_axes_raise_shape_error(shape):
    raises(unrolled.ShapeError, lambda: unrolled.LSTM(U)(torch.zeros(shape)), str(shape))


def test_ragged_nested_list_raises_shape_error_suggesting_padding():
    raises(unrolled.ShapeError, lambda: unrolled.LSTM(U)([[[1.0, 2.0]], [[1.0]]]), "pad")


def test_feature_size_changed_after_build_names_both_sizes():
    layer = built_lstm()
    message = raises(unrolled.ShapeError, lambda: layer(torch.zeros(B, T, 7)), "(2, 5, 7)")
    assert "3 features" in message and "7" in message


def test_a_layer_built_from_its_input_shape_keeps_it_and_refuses_other_features():
    # A built layer is never rebuilt (an optimizer or set_weights may hold its weights).
    layer = unrolled.SimpleRNN(U, input_shape=(T, F))
    kernel = layer.cell.kernel
    assert layer.get_weights()[0].shape == (F, U)  # built eagerly from the hint
    raises(unrolled.ShapeError, lambda: layer(torch.zeros(B, T, 6)), f"(None, {T}, {F})", "6")
    assert layer.cell.kernel is kernel and layer.get_weights()[0].shape == (F, U)
    assert layer(torch.zeros(B, T, F)).shape == (B, U)


# -- input types -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        np.zeros((B, T, F), dtype=np.complex128),
        torch.zeros(B, T, F, dtype=torch.complex64),
        np.full((B, T, F), "a"),
        np.full((B, T, F), None, dtype=object),
    ],
    ids=["numpy_complex", "torch_complex", "strings", "objects"],
)
def test_non_real_inputs_raise_input_type_error(value):
    raises(unrolled.InputTypeError, lambda: unrolled.LSTM(U)(value))
    raises(unrolled.InputTypeError, lambda: built_lstm()(value))


# -- initial states and masks ------------------------------------------------------------------
def test_wrong_number_of_initial_states_raises_shape_error_listing_expected():
    layer = built_lstm()
    x = torch.zeros(B, T, F)
    raises(
        unrolled.ShapeError, lambda: layer(x, initial_state=[torch.zeros(B, U)]), "2", "(2, 4)", "1"
    )
    raises(unrolled.ShapeError, lambda: layer(x, initial_state=[torch.zeros(B, U)] * 3), "3")
    gru = unrolled.GRU(U)
    raises(unrolled.ShapeError, lambda: gru(x, initial_state=[torch.zeros(B, U)] * 2), "1")


@pytest.mark.parametrize("shape", [(B, U + 1), (B + 1, U), (B, U, 1)])
def test_initial_state_of_wrong_shape_raises_shape_error_with_both_shapes(shape):
    layer = built_lstm()
    states = [torch.zeros(shape), torch.zeros(B, U)]
    raises(
        unrolled.ShapeError,
        lambda: layer(torch.zeros(B, T, F), initial_state=states),
        "(2, 4)",
        str(shape),
    )


def test_complex_initial_state_raises_input_type_error():
    layer = built_lstm()
    states = [torch.zeros(B, U, dtype=torch.complex64), torch.zeros(B, U)]
    raises(unrolled.InputTypeError, lambda: layer(torch.zeros(B, T, F), initial_state=states))


def test_string_initial_state_raises_input_type_error():
    layer = built_lstm()
    raises(unrolled.InputTypeError, lambda: layer(torch.zeros(B, T, F), initial_state=["a", "b"]))


@pytest.mark.parametrize("shape", [(B, T + 1), (B + 1, T), (B, T, 2), (T,)])
def test_mask_of_wrong_shape_raises_shape_error(shape):
    layer = built_lstm()
    raises(
        unrolled.ShapeError,
        lambda: layer(torch.zeros(B, T, F), mask=torch.ones(shape, dtype=torch.bool)),
        "(samples, timesteps)",
        "(2, 5)",
        str(shape),
    )


def test_complex_mask_raises_input_type_error():
    layer = built_lstm()
    raises(unrolled.InputTypeError, lambda: layer(torch.zeros(B, T, F), mask=torch.ones(B, T) + 0j))


def test_string_mask_raises_input_type_error():
    layer = built_lstm()
    raises(unrolled.InputTypeError, lambda: layer(torch.zeros(B, T, F), mask=np.full((B, T), "x")))


# -- constructor arguments ---------------------------------------------------------------------
@pytest.mark.parametrize("units", [0, -1, 2.5, "4", True, None])
@pytest.mark.parametrize(
    "cls", [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN, unrolled.LSTMCell]
)
def test_invalid_units_raise_config_error_naming_units(cls, units):
    raises(unrolled.ConfigError, lambda: cls(units), "`units`", repr(units))


def test_numpy_integer_units_are_accepted():
    assert unrolled.LSTM(np.int64(3)).units == 3


@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_unknown_activation_raises_config_error_listing_known_names(argument):
    message = raises(
        unrolled.ConfigError,
        lambda: unrolled.LSTM(U, **{argument: "tanhh"}),
        "tanhh",
        argument,
        "sigmoid",
        "relu",
        "hard_sigmoid",
    )
    assert "Known names" in message


def test_activation_of_wrong_type_raises_config_error():
    raises(unrolled.ConfigError, lambda: unrolled.GRU(U, activation=5), "activation")


@pytest.mark.parametrize(
    "argument", ["kernel_initializer", "recurrent_initializer", "bias_initializer"]
)
def test_unknown_initializer_raises_config_error_at_construction(argument):
    raises(
        unrolled.ConfigError,
        lambda: unrolled.LSTM(U, **{argument: "glorot_unifrom"}),
        "glorot_unifrom",
        argument,
        "glorot_uniform",
    )


@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("value", [1.5, -0.1, "half"])
def test_dropout_outside_unit_interval_raises_config_error(argument, value):
    raises(
        unrolled.ConfigError, lambda: unrolled.SimpleRNN(U, **{argument: value}), f"`{argument}`"
    )


@pytest.mark.parametrize("value", ["maybe", "true", 1.5, None])
def test_invalid_use_cudnn_raises_config_error(value):
    raises(unrolled.ConfigError, lambda: unrolled.LSTM(U, use_cudnn=value), "use_cudnn")


def test_unknown_keyword_raises_config_error_naming_it():
    raises(
        unrolled.ConfigError, lambda: unrolled.LSTM(U, retrun_sequences=True), "retrun_sequences"
    )


def test_recurrent_activation_on_simple_rnn_is_refused_as_unrolled_error():
    raises(
        unrolled.UnrolledError,
        lambda: unrolled.SimpleRNN(U, recurrent_activation="sigmoid"),
        "recurrent_activation",
    )


@pytest.mark.parametrize("shape", [(0, F), (T, -2)])
def test_non_positive_input_shape_raises_config_error(shape):
    raises(unrolled.ConfigError, lambda: unrolled.LSTM(U, input_shape=shape), "input_shape")


def test_set_weights_on_unbuilt_layer_without_a_kernel_raises_config_error():
    raises(unrolled.ConfigError, lambda: unrolled.LSTM(U).set_weights([]), "build")


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
def test_prebuilt_cell_fed_another_feature_size_raises_shape_error(use_cudnn):
    cell = unrolled.LSTMCell(U)
    cell.build((None, F))  # kernel (3, 16)
    layer = unrolled.RNN(cell, use_cudnn=use_cudnn)
    raises(unrolled.ShapeError, lambda: layer(torch.randn(B, T, 7)), "3", "7")
