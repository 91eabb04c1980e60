"""`fit`/`evaluate`/`predict` on Python generators and PyDatasets, and Keras 2's `*_generator`.

Oracles: real Keras 3 (torch backend) trained on the same generator from the same weights
(its `fit` takes generators), and for validation a closed form: with a learning rate of zero
the weights stay put, so each epoch's `val_loss` is the mean squared error, computed in
NumPy, of the batches the generator hands out in that epoch.
"""

from __future__ import annotations

import itertools
import warnings

import keras
import numpy as np
import pytest

import unrolled

rng = np.random.default_rng(0)
X = rng.standard_normal((12, 3)).astype("float32")
Y = rng.standard_normal((12, 1)).astype("float32")
W = rng.random(12).astype("float32")
BATCH = 4
CYCLE = len(X) // BATCH  # batches in one pass over the arrays


def batches(weighted=False):
    """Endless (x, y[, sample_weight]) batches cycling over the arrays."""
    for start in itertools.cycle(range(0, len(X), BATCH)):
        part = slice(start, start + BATCH)
        yield (X[part], Y[part], W[part]) if weighted else (X[part], Y[part])


def model(k, learning_rate=0.1):
    m = k.Sequential([k.Input((3,)), k.layers.Dense(2, activation="tanh"), k.layers.Dense(1)])
    m.compile(k.optimizers.SGD(learning_rate), "mse")
    return m


def pair(learning_rate=0.1):
    theirs = model(keras, learning_rate)
    ours = model(unrolled, learning_rate)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def assert_same_weights(ours, theirs):
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_fit_on_an_infinite_generator_continues_it_across_epochs_as_keras(weighted):
    ours, theirs = pair()
    # 2 steps a epoch over a 3-batch cycle: epochs see batches (0, 1), (2, 0), (1, 2).
    got = ours.fit(batches(weighted), steps_per_epoch=2, epochs=3, verbose=0)
    want = theirs.fit(batches(weighted), steps_per_epoch=2, epochs=3, verbose=0)
    np.testing.assert_allclose(got.history["loss"], want.history["loss"], atol=1e-5)
    assert_same_weights(ours, theirs)


def test_a_finite_generator_trains_one_epoch_then_stops_with_keras_warning():
    ours, theirs = pair()
    finite = lambda: (b for b in itertools.islice(batches(), CYCLE))  # noqa: E731
    theirs.fit(finite(), epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="ran out of data"):
        history = ours.fit(finite(), epochs=3, verbose=0)
    assert history.epoch == [0]
    assert_same_weights(ours, theirs)


def test_validation_generator_continues_across_epochs():
    ours = model(unrolled, learning_rate=0.0)  # the weights stay: val_loss is a closed form
    history = ours.fit(
        batches(), steps_per_epoch=1, epochs=3, verbose=0,
        validation_data=batches(), validation_steps=2,
    )  # fmt: skip
    kernel_1, bias_1, kernel_2, bias_2 = ours.get_weights()
    predictions = np.tanh(X @ kernel_1 + bias_1) @ kernel_2 + bias_2
    errors = ((predictions - Y) ** 2).reshape(CYCLE, BATCH).mean(axis=1)  # per batch
    seen = list(itertools.islice(itertools.cycle(range(CYCLE)), 6))  # 2 batches an epoch
    want = [errors[seen[2 * e : 2 * e + 2]].mean() for e in range(3)]
    np.testing.assert_allclose(history.history["val_loss"], want, atol=1e-6)


def test_keras2_generator_methods_warn_and_give_keras3_results():
    ours, theirs = pair()
    with pytest.warns(DeprecationWarning, match=r"model\.fit\(generator"):
        ours.fit_generator(batches(), steps_per_epoch=2, epochs=2, verbose=0, workers=4)
    theirs.fit(batches(), steps_per_epoch=2, epochs=2, verbose=0)
    assert_same_weights(ours, theirs)
    with pytest.warns(DeprecationWarning, match=r"model\.evaluate\(generator"):
        loss = ours.evaluate_generator(batches(), steps=CYCLE, max_queue_size=10)
    np.testing.assert_allclose(loss, theirs.evaluate(batches(), steps=CYCLE, verbose=0), atol=1e-5)
    inputs = lambda: ((x,) for x, _ in batches())  # noqa: E731
    with pytest.warns(DeprecationWarning, match=r"model\.predict\(generator"):
        got = ours.predict_generator(inputs(), steps=CYCLE)
    np.testing.assert_allclose(got, theirs.predict(inputs(), steps=CYCLE, verbose=0), atol=1e-5)


def test_keras1_sample_counts_are_refused_with_the_conversion():
    ours, _ = pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(unrolled.ConfigError, match=r"steps_per_epoch=12 // batch_size"):
            ours.fit_generator(batches(), samples_per_epoch=12, nb_epoch=1)


class Batches(keras.utils.PyDataset):
    def __len__(self):
        return CYCLE

    def __getitem__(self, index):
        part = slice(index * BATCH, (index + 1) * BATCH)
        return X[part], Y[part]


def test_a_pydataset_trains_as_keras_in_order_and_every_batch_once_when_shuffled():
    ours, theirs = pair()
    ours.fit(Batches(), epochs=2, shuffle=False, verbose=0)
    theirs.fit(Batches(), epochs=2, shuffle=False, verbose=0)
    assert_same_weights(ours, theirs)

    seen = []

    class Recorded(Batches):
        def __getitem__(self, index):
            seen.append(index)
            return super().__getitem__(index)

    ours.fit(Recorded(), epochs=3, verbose=0, seed=1)
    epochs = [seen[i : i + CYCLE] for i in range(0, len(seen), CYCLE)]
    assert all(sorted(e) == list(range(CYCLE)) for e in epochs)
    assert any(e != list(range(CYCLE)) for e in epochs)  # reordered, as Keras's shuffle does


def test_an_unbuilt_sequential_builds_from_the_first_batch_and_still_trains_on_it():
    pulled, steps = [], []

    def counted():
        for item in batches():
            pulled.append(1)
            yield item

    class CountSteps(unrolled.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(batch)

    layers = unrolled.layers
    ours = unrolled.Sequential([layers.Dense(2, activation="tanh"), layers.Dense(1)])
    ours.compile("sgd", "mse")
    ours.fit(counted(), steps_per_epoch=2, epochs=1, verbose=0, callbacks=[CountSteps()])
    assert ours.built and ours.input_shape == (None, 3)
    assert len(pulled) == 2 and steps == [0, 1]  # the batch it built from was trained on
