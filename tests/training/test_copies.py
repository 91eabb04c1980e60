"""Copies of models, fitted or not: `copy.deepcopy`, `pickle` and `load_state_dict(state_dict())`.

A copy must predict the numbers the original predicts, train on its own (the original
unchanged), and, because the optimizer's moments and step counts travel with it, train
on to the very weights the original trains on to. The oracle is the original model.
"""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import unrolled
from unrolled import optimizers

T, F, U, N, BATCH = 5, 3, 4, 16, 8


def _data() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.random((N, T, F), dtype=np.float32)
    padded = x.copy()
    padded[:6, 3:] = 0.0  # masked rows: their last steps are padding
    return {
        "x": x,
        "padded": padded,
        "pair": [x, rng.random((N, 2), dtype=np.float32)],
        "y": rng.random((N, 1), dtype=np.float32),
    }


DATA = _data()


def _sequential(layer: str) -> Callable[[], unrolled.Model]:
    def make() -> unrolled.Model:
        return unrolled.Sequential(
            [unrolled.Input((T, F)), getattr(unrolled, layer)(U), unrolled.Dense(1)]
        )

    return make


def _stateful() -> unrolled.Model:
    return unrolled.Sequential(
        [
            unrolled.Input(batch_shape=(BATCH, T, F)),
            unrolled.LSTM(U, stateful=True),
            unrolled.Dense(1),
        ]
    )


def _masked() -> unrolled.Model:
    return unrolled.Sequential(
        [unrolled.Input((T, F)), unrolled.Masking(0.0), unrolled.GRU(U), unrolled.Dense(1)]
    )


def _two_inputs() -> unrolled.Model:
    sequence, extra = unrolled.Input((T, F)), unrolled.Input((2,))
    hidden = unrolled.LSTM(U)(sequence)
    return unrolled.Model(
        [sequence, extra], unrolled.Dense(1)(unrolled.Concatenate()([hidden, extra]))
    )


# name: (architecture, which x it trains on)
MODELS: dict[str, tuple[Callable[[], unrolled.Model], str]] = {
    "lstm": (_sequential("LSTM"), "x"),
    "gru": (_sequential("GRU"), "x"),
    "simple_rnn": (_sequential("SimpleRNN"), "x"),
    "stateful_lstm": (_stateful, "x"),
    "masked_gru": (_masked, "padded"),
    "two_inputs": (_two_inputs, "pair"),
}
OPTIMIZERS: dict[str, Callable[[], optimizers.Optimizer]] = {
    "adam": lambda: optimizers.Adam(learning_rate=0.01),
    "sgd_momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.01),
}


def _pickled(model: unrolled.Model) -> unrolled.Model:
    return pickle.loads(pickle.dumps(model))


COPIES = {"deepcopy": copy.deepcopy, "pickle": _pickled}


def _fitted(name: str, optimizer: str) -> tuple[unrolled.Model, Any]:
    make, x_name = MODELS[name]
    torch.manual_seed(0)
    model = make()
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="mse")
    _train(model, DATA[x_name])
    return model, DATA[x_name]


def _train(model: unrolled.Model, x: Any) -> None:
    model.fit(x, DATA["y"], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)


def _weights(model: unrolled.Model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _assert_same_weights(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b):
        torch.testing.assert_close(left, right, rtol=0, atol=0)


def _predict(model: unrolled.Model, x: Any) -> np.ndarray:
    # predict moves a stateful model's states on; put them back so that calls compare.
    states = model.get_states()
    out = model.predict(x, batch_size=BATCH, verbose=0)
    if states:
        model.set_states(states)
    return out


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_fitted_copy_predicts_alike_and_trains_on_to_the_same_weights(
    name: str, optimizer: str, how: str
) -> None:
    model, x = _fitted(name, optimizer)
    states = model.get_states()

    twin = COPIES[how](model)

    for layer, values in states.items():  # a stateful model's states survive
        for ours, theirs in zip(values, twin.get_states()[layer]):
            np.testing.assert_array_equal(theirs, ours)
    np.testing.assert_array_equal(_predict(twin, x), _predict(model, x))
    assert twin.last_fit_path == model.last_fit_path

    before = _weights(model)
    _train(twin, x)
    _assert_same_weights(_weights(model), before)  # training the copy leaves the original
    _train(model, x)
    _assert_same_weights(_weights(twin), _weights(model))  # moments and step counts travelled


@pytest.mark.parametrize("how", sorted(COPIES))
def test_copied_optimizer_is_the_copy_s_own(how: str) -> None:
    model, _ = _fitted("lstm", "adam")
    twin = COPIES[how](model)
    ours, theirs = model._trainer.optimizer, twin._trainer.optimizer
    assert type(theirs) is type(ours)
    twin_params = {id(p) for p in twin.parameters()}
    assert all(id(p) in twin_params for group in theirs.param_groups for p in group["params"])
    assert theirs.iterations == ours.iterations == N // BATCH
    for p_ours, p_theirs in zip(model.parameters(), twin.parameters()):
        for slot, value in ours.state[p_ours].items():
            torch.testing.assert_close(theirs.state[p_theirs][slot], value, rtol=0, atol=0)
            assert theirs.state[p_theirs][slot] is not value


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_unfitted_copy_trains_like_the_original(name: str, how: str) -> None:
    make, x_name = MODELS[name]
    torch.manual_seed(0)
    model = make()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    twin = COPIES[how](model)
    _train(model, DATA[x_name])
    _train(twin, DATA[x_name])
    _assert_same_weights(_weights(twin), _weights(model))


@pytest.mark.parametrize("how", sorted(COPIES))
def test_unbuilt_sequential_copies_and_builds_on_first_fit(how: str) -> None:
    torch.manual_seed(0)
    model = unrolled.Sequential([unrolled.LSTM(U), unrolled.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    twin = COPIES[how](model)
    for each in (model, twin):
        torch.manual_seed(1)  # the weights are drawn when the first fit builds the model
        _train(each, DATA["x"])
    _assert_same_weights(_weights(twin), _weights(model))


@pytest.mark.parametrize("how", sorted(COPIES))
def test_clipping_options_travel_with_the_update_rule(how: str) -> None:
    # torch.optim.Optimizer pickles only defaults, state and param_groups; without the
    # rule's own options a copy failed at its first step ('AdamRule' has no 'clipnorm').
    torch.manual_seed(0)
    model = _sequential("LSTM")()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01, clipnorm=0.01), loss="mse")
    _train(model, DATA["x"])
    twin = COPIES[how](model)
    assert twin._trainer.optimizer.clipnorm == 0.01
    _train(twin, DATA["x"])
    _train(model, DATA["x"])
    _assert_same_weights(_weights(twin), _weights(model))


def test_model_compiled_with_a_torch_loss_module_pickles() -> None:
    torch.manual_seed(0)
    model = _sequential("GRU")()
    model.compile(optimizer="adam", loss=torch.nn.L1Loss())
    _train(model, DATA["x"])
    twin = _pickled(model)
    _train(twin, DATA["x"])
    _train(model, DATA["x"])
    _assert_same_weights(_weights(twin), _weights(model))


@pytest.mark.parametrize("how", sorted(COPIES))
def test_per_call_caches_stay_behind(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kept between inference calls, keyed on the weights' addresses and versions: in
    # another process those keys could match other tensors. A copy makes its own. (The
    # reference path's caches: the compiled inference kernel keeps none.)
    monkeypatch.setenv("UNROLLED_FAST_PATH", "0")
    model, x = _fitted("gru", "adam")
    expected = _predict(model, x)
    assert _kept(model), "the recurrent layer keeps its path choice and fused weight views"
    twin = COPIES[how](model)
    assert _kept(twin) == []
    np.testing.assert_array_equal(_predict(twin, x), expected)


def _kept(model: unrolled.Model) -> list[str]:
    return [key for module in model.modules() for key in vars(module) if key.startswith("_kept_")]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_dict_loads_into_a_new_model_that_trains_on_alike(name: str) -> None:
    model, x = _fitted(name, "adam")
    make, _ = MODELS[name]
    twin = make()
    twin.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")

    twin.load_state_dict(model.state_dict())
    twin._trainer.optimizer.load_state_dict(model._trainer.optimizer.state_dict())

    states, twin_states = model.get_states(), twin.get_states()  # layer names differ
    assert len(twin_states) == len(states)
    for values, twin_values in zip(states.values(), twin_states.values()):
        for ours, theirs in zip(values, twin_values, strict=True):
            np.testing.assert_array_equal(theirs, ours)
    np.testing.assert_array_equal(_predict(twin, x), _predict(model, x))
    _train(twin, x)
    _train(model, x)
    _assert_same_weights(_weights(twin), _weights(model))


def _train_in_worker(pickled: bytes) -> list[np.ndarray]:
    model = pickle.loads(pickled)
    _train(model, DATA["x"])
    return [w.numpy() for w in _weights(model)]


def test_pickled_model_trains_in_another_process_to_the_same_weights() -> None:
    # What a DataLoader worker or a multiprocessing pool does with a model.
    model, x = _fitted("lstm", "adam")
    model.predict(x, verbose=0)  # fills the per-call caches that must not travel
    pickled = pickle.dumps(model)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        theirs = pool.apply(_train_in_worker, (pickled,))
    _train(model, x)
    for ours, got in zip(_weights(model), theirs):
        np.testing.assert_array_equal(got, ours.numpy())
