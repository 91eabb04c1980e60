"""Whole fit runs against Keras 3's own `Model.fit` on the same Dense model and data."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from unrolled.training import Trainer  # noqa: E402

CASES = [
    # optimizer, loss, metrics, activation, targets
    ("adam", "mse", ["mae"], None, "regression"),
    ("rmsprop", "binary_crossentropy", ["accuracy"], "sigmoid", "binary"),
    ("sgd", "huber", ["mse", "mape"], None, "regression"),
    ("nadam", "sparse_categorical_crossentropy", ["acc"], "softmax", "classes"),
]


@pytest.mark.parametrize(("optimizer", "loss", "metrics", "activation", "targets"), CASES)
def test_fit_history_and_weights_match_keras(optimizer, loss, metrics, activation, targets) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(45, 4)).astype("float32")
    units = 3 if targets == "classes" else 1
    if targets == "regression":
        y = (x @ rng.normal(size=(4, 1)) + 0.5).astype("float32")
    elif targets == "binary":
        y = (x[:, :1] + x[:, 1:2] > 0).astype("float32")
    else:
        y = np.argmax(x[:, :3], axis=1)
    sample_weight = rng.uniform(0.5, 1.5, size=(45,)).astype("float32")

    keras.utils.set_random_seed(0)
    reference = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(units, activation=activation)]
    )
    reference.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in reference.weights)

    layers: list[torch.nn.Module] = [torch.nn.Linear(4, units)]
    if activation == "sigmoid":
        layers.append(torch.nn.Sigmoid())
    elif activation == "softmax":
        layers.append(torch.nn.Softmax(dim=-1))
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(kernel.T))
        model[0].bias.copy_(torch.tensor(bias))

    fit_args = dict(
        batch_size=8,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_split=0.2,
        sample_weight=sample_weight,
    )
    expected = reference.fit(x, y, **fit_args).history
    got = (
        Trainer(model, optimizer=optimizer, loss=loss, metrics=metrics)
        .fit(x, y, **fit_args)
        .history
    )

    assert list(got) == list(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(
        model[0].weight.detach().numpy().T,
        keras.ops.convert_to_numpy(reference.weights[0]),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("fast_path", ["auto", False])
def test_a_wholly_masked_batch_still_moves_the_embedding_as_keras_does(fast_path) -> None:
    """Keras runs the recurrent cell on a batch whose every step is masked and masks the
    result: the Embedding before it gets a zero gradient, and Adam's momentum still moves its
    rows. The reference path once gave it no gradient (so Adam skipped it): a silent
    difference from Keras after any padding-only batch."""
    import unrolled

    x = np.array([[3, 1], [0, 0], [2, 0]])  # the second batch is padding only
    y = np.array([[1.0], [0.0], [1.0]], np.float32)

    def build(library):  # type: ignore[no-untyped-def]
        layers = library.layers
        return library.Sequential(
            [
                layers.Input((2,)),
                layers.Embedding(5, 3, mask_zero=True),
                layers.GRU(2),
                layers.Dense(1, activation="sigmoid"),
            ]
        )

    keras.utils.set_random_seed(1)
    theirs = build(keras)
    ours = build(unrolled)
    ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
    theirs.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    ours.compile(unrolled.optimizers.Adam(0.05), "binary_crossentropy", fast_path=fast_path)
    theirs.fit(x, y, batch_size=1, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=1, epochs=2, shuffle=False, verbose=0)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras.ops.convert_to_numpy(reference), atol=2e-6)
