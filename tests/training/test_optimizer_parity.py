"""Each optimizer against Keras 3's own: same weights, same gradient sequence, same numbers."""

from __future__ import annotations

import copy
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from unrolled.training import optimizers  # noqa: E402

STEPS = 6
CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.05}),
    ("AdamW", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.01, "beta_2": 0.9}),
    ("Adam", {"learning_rate": 0.01, "clipnorm": 0.5}),
    ("SGD", {"learning_rate": 0.1, "global_clipnorm": 0.5}),
    ("RMSprop", {"clipvalue": 0.05}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.1}),
]


def _gradients(rng: np.random.Generator) -> list[list[np.ndarray]]:
    # Gradients of small magnitude too, where epsilon placement shows.
    scales = [1.0, 0.01, 1e-4, 0.3, 2.0, 0.05]
    return [
        [rng.normal(size=(3, 4)).astype("float32") * s, rng.normal(size=(4,)).astype("float32") * s]
        for s in scales
    ]


@pytest.mark.parametrize(("name", "config"), CASES, ids=lambda v: str(v))
def test_update_sequence_matches_keras(name: str, config: dict) -> None:
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4,)).astype("float32")]
    grads = _gradients(rng)

    keras_vars = [keras.Variable(w) for w in start]
    keras_opt = getattr(keras.optimizers, name)(**config)
    ours = [torch.nn.Parameter(torch.tensor(w)) for w in start]
    opt = optimizers.get(getattr(optimizers, name)(**config), ours)

    for step in grads:
        keras_opt.apply([torch.tensor(g) for g in step], keras_vars)
        for p, g in zip(ours, step):
            p.grad = torch.tensor(g)
        opt.step()
        for kv, p in zip(keras_vars, ours):
            np.testing.assert_allclose(
                p.detach().numpy(), keras.ops.convert_to_numpy(kv), rtol=1e-5, atol=1e-6
            )


@pytest.mark.parametrize(
    "name",
    [
        "adam",
        "ADAM",
        "Adam",
        "sgd",
        "rmsprop",
        "RMSprop",
        "adagrad",
        "adamw",
        "nadam",
        "adadelta",
        "adamax",
    ],
)
def test_names_resolve_case_insensitively_with_keras_defaults(name: str) -> None:
    spec = optimizers.resolve(name)
    keras_config = keras.optimizers.get(name.lower()).get_config()
    assert spec.learning_rate == pytest.approx(keras_config["learning_rate"])
    for key in spec.hyper:
        assert getattr(spec, key) == pytest.approx(keras_config[key]), key


def test_unknown_name_lists_valid_names() -> None:
    from unrolled.errors import ConfigError

    with pytest.raises(ConfigError, match="'adam'.*'sgd'"):
        optimizers.get("adamm", [torch.nn.Parameter(torch.zeros(1))])


def test_torch_optimizer_instance_is_used_as_is() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=0.5)
    assert optimizers.get(opt, [p]) is opt


def test_keras_optimizer_object_and_config_dict_are_read() -> None:
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = optimizers.get(keras.optimizers.RMSprop(learning_rate=0.02, rho=0.8), p)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02)
    assert opt.param_groups[0]["rho"] == pytest.approx(0.8)
    opt = optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.5}}, p)
    assert opt.param_groups[0]["lr"] == 0.5


def test_legacy_lr_warns_naming_learning_rate() -> None:
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        spec = optimizers.SGD(lr=0.3)
    assert spec.learning_rate == 0.3


def test_legacy_decay_is_keras2_time_based_decay() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        opt = optimizers.get(optimizers.SGD(learning_rate=1.0, decay=0.5), [p])
    moves = []
    for _ in range(3):
        before = p.detach().clone()
        p.grad = torch.ones(1)
        opt.step()
        moves.append(float(before - p.detach()))
    np.testing.assert_allclose(moves, [1.0, 1 / 1.5, 1 / 2.0], rtol=1e-6)


def test_state_dict_round_trip_continues_identically() -> None:
    torch.manual_seed(0)
    a = torch.nn.Linear(3, 2)
    b = torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    opt_a = optimizers.get("nadam", a.parameters())
    x = torch.randn(5, 3)
    for _ in range(2):
        opt_a.zero_grad()
        a(x).sum().backward()
        opt_a.step()
    b.load_state_dict(a.state_dict())
    opt_b = optimizers.get("nadam", b.parameters())
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    for model, opt in ((a, opt_a), (b, opt_b)):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


def test_learning_rate_and_iterations_read_like_keras() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    opt = optimizers.get("adam", [p])
    assert opt.learning_rate == pytest.approx(0.001) and opt.iterations == 0
    opt.learning_rate = 0.5
    assert opt.param_groups[0]["lr"] == 0.5
    p.grad = torch.ones(2)
    opt.step()
    assert opt.iterations == 1
