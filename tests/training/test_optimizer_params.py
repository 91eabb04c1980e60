"""Our optimizers in torch's form: `unrolled.optimizers.Adam(model.parameters(), lr=...)`.

The torch form must be a `torch.optim.Optimizer` running Keras's update math: a hand-written
torch loop with it reaches the weights `model.fit` reaches, and on a quadratic it follows
Keras's update formulas written out in NumPy. Without parameters the classes stay the
settings objects `compile(optimizer=...)` takes.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import unrolled
from unrolled import optimizers
from unrolled.errors import ConfigError

T, F, U, N, BATCH, EPOCHS = 4, 3, 5, 24, 8, 2

SETTINGS: dict[str, tuple[type[optimizers.Optimizer], dict[str, Any]]] = {
    "adam": (optimizers.Adam, {"learning_rate": 0.01}),
    "adam_amsgrad_clipnorm": (
        optimizers.Adam,
        {"learning_rate": 0.01, "amsgrad": True, "clipnorm": 0.1},
    ),
    "sgd_momentum": (optimizers.SGD, {"learning_rate": 0.05, "momentum": 0.9}),
    "sgd_nesterov": (
        optimizers.SGD,
        {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    ),
    "rmsprop": (optimizers.RMSprop, {"learning_rate": 0.01}),
    "rmsprop_centered_momentum": (
        optimizers.RMSprop,
        {"learning_rate": 0.01, "momentum": 0.5, "centered": True},
    ),
}


def _model() -> unrolled.Model:
    torch.manual_seed(0)
    return unrolled.Sequential([unrolled.Input((T, F)), unrolled.GRU(U), unrolled.Dense(1)])


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((N, T, F), dtype=np.float32), rng.random((N, 1), dtype=np.float32)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_torch_loop_reaches_the_weights_fit_reaches(name: str) -> None:
    cls, config = SETTINGS[name]
    x, y = _data()

    fitted = _model()
    # The reference path: the compiled kernel does the same math in another order.
    fitted.compile(optimizer=cls(**config), loss="mse", fast_path=False)
    fitted.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)

    looped = _model()
    optimizer = cls(looped.parameters(), **config)
    assert isinstance(optimizer, torch.optim.Optimizer)
    for _ in range(EPOCHS):
        for start in range(0, N, BATCH):
            xb, yb = (
                torch.from_numpy(x[start : start + BATCH]),
                torch.from_numpy(y[start : start + BATCH]),
            )
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(looped(xb), yb)
            loss.backward()
            optimizer.step()

    assert optimizer.param_groups[0]["iterations"] == EPOCHS * N // BATCH
    for ours, theirs in zip(looped.parameters(), fitted.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


# Keras 3's update formulas (keras/src/optimizers/{sgd,adam,rmsprop}.py), in NumPy.
def _keras_sgd(w, g, slots, t, lr, momentum=0.0, nesterov=False):  # type: ignore[no-untyped-def]
    if not momentum:
        return w - lr * g
    m = slots["m"] = momentum * slots.get("m", 0.0) - lr * g
    return w + (momentum * m - lr * g if nesterov else m)


def _keras_adam(w, g, slots, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):  # type: ignore[no-untyped-def]
    m = slots["m"] = slots.get("m", 0.0) + (g - slots.get("m", 0.0)) * (1 - beta_1)
    v = slots["v"] = slots.get("v", 0.0) + (g * g - slots.get("v", 0.0)) * (1 - beta_2)
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return w - alpha * m / (np.sqrt(v) + epsilon)


def _keras_rmsprop(w, g, slots, t, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):  # type: ignore[no-untyped-def]
    v = slots["v"] = rho * slots.get("v", 0.0) + (1 - rho) * g * g
    denominator = v + epsilon
    if centered:
        average = slots["a"] = rho * slots.get("a", 0.0) + (1 - rho) * g
        denominator = denominator - average * average
    increment = lr * g / np.sqrt(denominator)
    if not momentum:
        return w - increment
    m = slots["m"] = momentum * slots.get("m", 0.0) + increment
    return w - m


FORMULAS: dict[str, tuple[type[optimizers.Optimizer], Callable[..., Any], dict[str, Any]]] = {
    "sgd": (optimizers.SGD, _keras_sgd, {"lr": 0.1}),
    "sgd_momentum": (optimizers.SGD, _keras_sgd, {"lr": 0.1, "momentum": 0.9}),
    "sgd_nesterov": (
        optimizers.SGD,
        _keras_sgd,
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    "adam": (optimizers.Adam, _keras_adam, {"lr": 0.05}),
    "adam_betas": (optimizers.Adam, _keras_adam, {"lr": 0.05, "beta_1": 0.5, "beta_2": 0.9}),
    "rmsprop": (optimizers.RMSprop, _keras_rmsprop, {"lr": 0.05}),
    "rmsprop_momentum_centered": (
        optimizers.RMSprop,
        _keras_rmsprop,
        {"lr": 0.05, "rho": 0.8, "momentum": 0.5, "centered": True},
    ),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_steps_on_a_quadratic_follow_keras_formulas(name: str) -> None:
    cls, formula, options = FORMULAS[name]
    a = np.array([1.0, 4.0, 0.25, 1e-3])  # loss = sum(a * w^2 / 2 - b * w), grad = a * w - b
    b = np.array([0.5, -1.0, 2.0, 1e-5])
    start = np.array([1.0, -2.0, 0.5, 3.0])

    w = torch.nn.Parameter(torch.tensor(start))  # float64: the comparison is exact to 1e-12
    optimizer = cls([w], **options)  # `lr`: torch's name for learning_rate
    expected, slots = start.copy(), {}
    for t in range(1, 21):
        optimizer.zero_grad()
        loss = (torch.from_numpy(a) * w * w / 2 - torch.from_numpy(b) * w).sum()
        loss.backward()
        optimizer.step()
        expected = formula(expected, a * expected - b, slots, t, **options)
        np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_torch_form_is_a_torch_optimizer_and_resumes_from_its_state_dict() -> None:
    x, y = _data()
    xb, yb = torch.from_numpy(x), torch.from_numpy(y)

    def steps(model: unrolled.Model, optimizer: torch.optim.Optimizer, count: int) -> None:
        for _ in range(count):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(xb), yb).backward()
            optimizer.step()

    straight = _model()
    straight_optimizer = optimizers.Adam(straight.parameters(), learning_rate=0.01)
    steps(straight, straight_optimizer, 6)

    first = _model()
    optimizer = optimizers.Adam(first.parameters(), learning_rate=0.01)
    steps(first, optimizer, 3)
    saved = pickle.loads(pickle.dumps((first.state_dict(), optimizer.state_dict())))
    second = _model()
    resumed = optimizers.Adam(second.parameters(), learning_rate=0.01)
    second.load_state_dict(saved[0])
    resumed.load_state_dict(saved[1])
    assert resumed.iterations == 3
    steps(second, resumed, 3)

    for ours, theirs in zip(second.parameters(), straight.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_lr_is_torch_s_name_for_learning_rate_in_the_torch_form() -> None:
    w = torch.nn.Parameter(torch.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Keras 2 deprecation warning in torch's form
        by_torch_name = optimizers.RMSprop([w], lr=0.02, rho=0.8)
    assert by_torch_name.param_groups[0]["lr"] == 0.02
    assert by_torch_name.param_groups[0]["rho"] == 0.8
    assert optimizers.SGD([w], 0.3).param_groups[0]["lr"] == 0.3  # torch's positional order
    assert optimizers.Adam(params=[w]).param_groups[0]["lr"] == 0.001  # Keras's default
    with pytest.raises(ConfigError, match="learning rate once"):
        optimizers.Adam([w], learning_rate=0.1, lr=0.1)
    with pytest.raises(ConfigError, match=r"not recognized: \['betas'\]"):
        optimizers.Adam([w], betas=(0.9, 0.99))


def test_param_groups_keep_their_own_options() -> None:
    model = torch.nn.Linear(3, 1)
    optimizer = optimizers.SGD(
        [{"params": [model.weight]}, {"params": [model.bias], "lr": 0.5, "momentum": 0.0}],
        learning_rate=0.1,
        momentum=0.9,
    )
    assert [(g["lr"], g["momentum"]) for g in optimizer.param_groups] == [(0.1, 0.9), (0.5, 0.0)]
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == [0.05, 0.25]


def test_without_params_the_class_is_still_the_settings_for_compile() -> None:
    settings = optimizers.Adam(learning_rate=0.01, clipnorm=1.0)
    assert isinstance(settings, optimizers.Adam)
    assert settings.get_config()["learning_rate"] == 0.01
    assert pickle.loads(pickle.dumps(settings)).get_config() == settings.get_config()
    assert isinstance(optimizers.Adam(0.02), optimizers.Adam)  # a number is a learning rate
    assert isinstance(optimizers.Adam(torch.tensor(0.02)), optimizers.Adam)

    x, y = _data()
    by_object, by_name = _model(), _model()
    by_object.compile(optimizer=optimizers.Adam(), loss="mse")
    by_name.compile(optimizer="adam", loss="mse")
    for model in (by_object, by_name):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(by_object.parameters(), by_name.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_compile_takes_an_optimizer_made_in_torch_s_form() -> None:
    x, y = _data()
    given, named = _model(), _model()
    given.compile(optimizer=optimizers.RMSprop(given.parameters(), lr=0.01), loss="mse")
    named.compile(optimizer=optimizers.RMSprop(learning_rate=0.01), loss="mse")
    for model in (given, named):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(given.parameters(), named.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
