"""`from_torch` and `to_torch` against torch.nn itself: outputs, final states, weights, refusals.

The oracle is the torch module: `from_torch(m)(x)` must equal `m(x)[0]`, and `to_torch(layer)`
must compute what our layer computes, to 1e-6, for LSTM, GRU and RNN (tanh, relu), with and
without bias, one and two stacked layers, one and two directions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import unrolled as U
from unrolled import activations
from unrolled.errors import ConfigError, ShapeError
from unrolled.interop import from_torch, to_torch

B, T, F, UNITS = 3, 6, 4, 5
TOL = 1e-6

# kind -> (torch module class and options, our layer class and options)
KINDS: dict[str, tuple[type[nn.RNNBase], dict[str, Any], type[U.RNN], dict[str, Any]]] = {
    "lstm": (nn.LSTM, {}, U.LSTM, {}),
    "gru": (nn.GRU, {}, U.GRU, {}),
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}, U.SimpleRNN, {"activation": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}, U.SimpleRNN, {"activation": "relu"}),
}
CASES = [
    pytest.param(kind, bias, layers, bidirectional, id=f"{kind}-bias{bias}-{layers}l-bi{bi}")
    for kind, bias, layers, (bidirectional, bi) in itertools.product(
        KINDS, (True, False), (1, 2), ((False, 0), (True, 1))
    )
]


def _x(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(B, T, F, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _torch_module(kind: str, bias: bool, layers: int, bidirectional: bool) -> nn.RNNBase:
    torch.manual_seed(1)
    torch_class, options, _, _ = KINDS[kind]
    module = torch_class(
        F, UNITS, num_layers=layers, bias=bias, bidirectional=bidirectional, batch_first=True
    )
    return module.eval()


def _randomized(model: nn.Module, seed: int = 2) -> nn.Module:
    """Every weight drawn from N(0, 0.3²): zero biases would hide a bias in the wrong place.

    Small enough that relu outputs stay near 1, where an absolute 1e-6 is float32 agreement.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for weight in model.parameters():
            weight.copy_(0.3 * torch.randn(weight.shape, generator=generator))
    return model


def _our_model(kind: str, bias: bool, layers: int, bidirectional: bool) -> nn.Module:
    """Our layer or stack, built independently of `from_torch`, with random weights."""
    _, _, layer_class, options = KINDS[kind]

    def one() -> nn.Module:
        layer = layer_class(UNITS, return_sequences=True, use_bias=bias, **options)
        return U.Bidirectional(layer) if bidirectional else layer

    if layers == 1:
        model = one()
        model.build((None, None, F))
    else:
        model = U.Sequential([U.Input((None, F)), *(one() for _ in range(layers))])
    return _randomized(model).eval()


def _torch_states(module: nn.RNNBase, x: torch.Tensor) -> list[torch.Tensor]:
    """torch's final states of the last layer, in Keras's order: per direction, h (then c)."""
    _, final = module(x)
    pairs = final if isinstance(final, tuple) else (final,)  # (h_n, c_n) or h_n
    directions = 2 if module.bidirectional else 1
    return [state[-directions + d] for d in range(directions) for state in pairs]


def _keras_weights(model: nn.Module) -> list[torch.Tensor]:
    return [w.detach().clone() for w in model.weights]


# -- from_torch ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "bias", "layers", "bidirectional"), CASES)
def test_from_torch_outputs_equal_the_torch_module(kind, bias, layers, bidirectional) -> None:
    module = _torch_module(kind, bias, layers, bidirectional)
    ours = from_torch(module)
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), module(x)[0], atol=TOL, rtol=0)


@pytest.mark.parametrize(("kind", "bias", "layers", "bidirectional"), CASES)
def test_from_torch_final_states_equal_torch_h_n(kind, bias, layers, bidirectional) -> None:
    module = _torch_module(kind, bias, layers, bidirectional)
    ours = from_torch(module, return_state=True)
    x = _x()
    with torch.no_grad():
        output, *states = ours(x)
        torch.testing.assert_close(output, module(x)[0], atol=TOL, rtol=0)
        expected = _torch_states(module, x)
    assert len(states) == len(expected)
    for got, want in zip(states, expected):
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)


def test_from_torch_returns_keras_structure() -> None:
    single = from_torch(nn.GRU(F, UNITS, batch_first=True))
    assert type(single) is U.GRU and single.reset_after and single.return_sequences
    bidirectional = from_torch(nn.RNN(F, UNITS, nonlinearity="relu", batch_first=True, bias=False,
                                      bidirectional=True))  # fmt: skip
    assert isinstance(bidirectional, U.Bidirectional) and bidirectional.merge_mode == "concat"
    forward = bidirectional.forward_layer
    assert activations.serialize(forward.cell.activation) == "relu" and not forward.cell.use_bias
    stacked = from_torch(nn.LSTM(F, UNITS, num_layers=3, batch_first=True))
    assert isinstance(stacked, U.Sequential)
    assert [type(layer) for layer in stacked.layers] == [U.LSTM] * 3
    assert stacked.output_shape == (None, None, UNITS)


def test_from_torch_maps_dropout_between_layers_exact_in_eval() -> None:
    torch.manual_seed(0)
    module = nn.LSTM(F, UNITS, num_layers=3, dropout=0.25, batch_first=True)
    ours = from_torch(module)
    names = [type(layer).__name__ for layer in ours.layers]
    assert names == ["LSTM", "Dropout", "LSTM", "Dropout", "LSTM"]
    assert ours.layers[1].rate == 0.25
    assert ours.training  # the module's mode carries over: dropout is active in training
    module.eval(), ours.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(_x()), module(_x())[0], atol=TOL, rtol=0)
    assert to_torch(ours).dropout == 0.25


def test_from_torch_keeps_float64_and_its_precision() -> None:
    torch.manual_seed(0)
    # One layer: a Sequential casts its inputs to torch's default dtype, as Keras does.
    module = nn.GRU(F, UNITS, bidirectional=True, batch_first=True).double()
    ours = from_torch(module)
    x = _x(dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), module(x)[0], atol=1e-12, rtol=0)


def test_from_torch_warns_that_time_major_inputs_need_a_transpose() -> None:
    torch.manual_seed(0)
    module = nn.LSTM(F, UNITS)  # batch_first=False: (timesteps, samples, features)
    with pytest.warns(UserWarning, match=r"batch_first=False.*transpose\(0, 1\)"):
        ours = from_torch(module)
    x_time_major = _x().transpose(0, 1)
    with torch.no_grad():
        expected = module(x_time_major)[0]
        torch.testing.assert_close(
            ours(x_time_major.transpose(0, 1)).transpose(0, 1), expected, atol=TOL, rtol=0
        )


@pytest.mark.parametrize(
    ("module", "option"),
    [
        (nn.LSTM(F, UNITS, proj_size=2, batch_first=True), "proj_size"),
        (nn.Linear(F, UNITS), "torch.nn.LSTM, torch.nn.GRU or torch.nn.RNN"),
    ],
    ids=["proj_size", "not_recurrent"],
)
def test_from_torch_refuses_what_keras_cannot_express(module, option) -> None:
    with pytest.raises(ConfigError, match=option):
        from_torch(module)


# -- to_torch -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "bias", "layers", "bidirectional"), CASES)
def test_to_torch_outputs_equal_our_layer(kind, bias, layers, bidirectional) -> None:
    ours = _our_model(kind, bias, layers, bidirectional)
    module = to_torch(ours)
    assert module.batch_first and module.num_layers == layers
    assert module.bidirectional == bidirectional and module.bias == bias
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(module(x)[0], ours(x), atol=TOL, rtol=0)


@pytest.mark.parametrize(("kind", "bias", "layers", "bidirectional"), CASES)
def test_round_trip_from_ours_keeps_keras_weights(kind, bias, layers, bidirectional) -> None:
    ours = _our_model(kind, bias, layers, bidirectional)
    again = from_torch(to_torch(ours))
    for got, want in zip(_keras_weights(again), _keras_weights(ours), strict=True):
        torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize(("kind", "bias", "layers", "bidirectional"), CASES)
def test_round_trip_from_torch_keeps_torch_weights(kind, bias, layers, bidirectional) -> None:
    module = _randomized(_torch_module(kind, bias, layers, bidirectional))
    again = to_torch(from_torch(module))
    mine, theirs = dict(again.named_parameters()), dict(module.named_parameters())
    assert mine.keys() == theirs.keys()
    for name, value in theirs.items():
        if name.startswith("weight") or kind == "gru":
            torch.testing.assert_close(mine[name], value, atol=0, rtol=0)
        elif name.startswith("bias_ih"):  # Keras's one bias is torch's two summed
            hh = name.replace("bias_ih", "bias_hh")
            torch.testing.assert_close(mine[name], value + theirs[hh], atol=0, rtol=0)
            torch.testing.assert_close(mine[hh], torch.zeros_like(value), atol=0, rtol=0)


def test_to_torch_last_step_is_our_many_to_one_output_and_h_n_our_states() -> None:
    layer = _randomized(U.LSTM(UNITS, return_state=True))
    layer.build((None, None, F))
    module = to_torch(layer)
    x = _x()
    with torch.no_grad():
        output, h, c = layer(x)
        sequence, (h_n, c_n) = module(x)
    torch.testing.assert_close(sequence[:, -1], output, atol=TOL, rtol=0)
    torch.testing.assert_close(h_n[0], h, atol=TOL, rtol=0)
    torch.testing.assert_close(c_n[0], c, atol=TOL, rtol=0)


def test_to_torch_accepts_a_list_and_carries_trainable_and_mode() -> None:
    first, second = U.GRU(UNITS, return_sequences=True), U.GRU(UNITS, return_sequences=True)
    first.build((None, None, F)), second.build((None, None, UNITS))
    first.trainable = second.trainable = False
    module = to_torch([first, second])
    assert module.num_layers == 2 and module.training
    assert not any(p.requires_grad for p in module.parameters())


def test_to_torch_drops_stateful_and_computes_the_first_batch() -> None:
    layer = _randomized(U.SimpleRNN(UNITS, stateful=True, return_sequences=True))
    layer.build((B, None, F))
    module = to_torch(layer)
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(module(x)[0], layer(x), atol=TOL, rtol=0)


def _built(layer: nn.Module) -> nn.Module:
    layer.build((None, None, F))
    return layer


def _stack(*layers: nn.Module) -> U.Sequential:
    return U.Sequential([U.Input((None, F)), *layers])


REFUSALS: dict[str, tuple[Callable[[], Any], str]] = {
    "simple_rnn_sigmoid": (
        lambda: _built(U.SimpleRNN(UNITS, activation="sigmoid")),
        "activation='sigmoid'",
    ),
    "lstm_relu": (lambda: _built(U.LSTM(UNITS, activation="relu")), "activation='relu'"),
    "lstm_hard_sigmoid": (
        lambda: _built(U.LSTM(UNITS, recurrent_activation="hard_sigmoid")),
        "recurrent_activation='hard_sigmoid'",
    ),
    "gru_reset_before": (lambda: _built(U.GRU(UNITS, reset_after=False)), "reset_after=False"),
    "go_backwards": (lambda: _built(U.LSTM(UNITS, go_backwards=True)), "go_backwards=True"),
    "cell_dropout": (lambda: _built(U.LSTM(UNITS, dropout=0.2)), "dropout=0.2"),
    "recurrent_dropout": (
        lambda: _built(U.GRU(UNITS, recurrent_dropout=0.2)),
        "recurrent_dropout=0.2",
    ),
    "merge_sum": (
        lambda: _built(U.Bidirectional(U.LSTM(UNITS), merge_mode="sum")),
        "merge_mode='sum'",
    ),
    "units_differ": (
        lambda: _stack(U.LSTM(4, return_sequences=True), U.LSTM(3)),
        "same units",
    ),
    "kinds_differ": (
        lambda: _stack(U.LSTM(UNITS, return_sequences=True), U.GRU(UNITS)),
        "layers of one kind",
    ),
    "activations_differ": (
        lambda: _stack(
            U.SimpleRNN(UNITS, return_sequences=True), U.SimpleRNN(UNITS, activation="relu")
        ),
        "same activation",
    ),
    "use_bias_differs": (
        lambda: _stack(U.LSTM(UNITS, return_sequences=True), U.LSTM(UNITS, use_bias=False)),
        "same use_bias",
    ),
    "masking": (lambda: _stack(U.Masking(0.0), U.LSTM(UNITS)), "Masking"),
    "dense": (lambda: _stack(U.LSTM(UNITS), U.Dense(2)), "Dense"),
    "many_to_one_below": (
        lambda: _stack(U.LSTM(UNITS), U.RepeatVector(2), U.LSTM(UNITS)),
        "RepeatVector",
    ),
    "state_below": (
        lambda: [
            _built(U.LSTM(UNITS, return_sequences=True, return_state=True)),
            U.LSTM(UNITS),
        ],  # fmt: skip
        "return_state=True",
    ),
    "bidirectional_mixed": (
        lambda: _stack(U.Bidirectional(U.GRU(UNITS, return_sequences=True)), U.GRU(UNITS)),
        "Bidirectional",
    ),
    "dropout_rates_differ": (
        lambda: _stack(
            U.GRU(UNITS, return_sequences=True),
            U.Dropout(0.1),
            U.GRU(UNITS, return_sequences=True),
            U.Dropout(0.2),
            U.GRU(UNITS),
        ),  # fmt: skip
        "one dropout rate",
    ),
    "dropout_noise_shape": (
        lambda: _stack(
            U.GRU(UNITS, return_sequences=True),
            U.Dropout(0.1, noise_shape=(None, 1, None)),
            U.GRU(UNITS),
        ),  # fmt: skip
        "noise_shape",
    ),
    "dropout_last": (lambda: _stack(U.GRU(UNITS), U.Dropout(0.1)), "ends with a Dropout"),
    "unbuilt": (lambda: U.LSTM(UNITS), "no weights yet"),
    "not_a_layer": (lambda: nn.Linear(F, UNITS), "Received: Linear"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_to_torch_refuses_what_torch_cannot_express_naming_the_option(case) -> None:
    build, option = REFUSALS[case]
    with pytest.raises(ConfigError, match=option.replace("(", r"\(").replace(")", r"\)")):
        to_torch(build())


def test_to_torch_refuses_a_list_whose_layers_do_not_chain() -> None:
    first, second = U.LSTM(UNITS, return_sequences=True), U.LSTM(UNITS)
    first.build((None, None, F)), second.build((None, None, F))  # second should take UNITS
    with pytest.raises(ShapeError, match=f"must take the {UNITS} features"):
        to_torch([first, second])
