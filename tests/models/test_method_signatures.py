"""compile, fit, evaluate and predict take Keras 3's arguments by position and by name."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import unrolled
from unrolled import layers
from unrolled.errors import ConfigError
from unrolled.models.base import ModelBase
from unrolled.training import Trainer
from unrolled.training.callbacks import Callback

keras = pytest.importorskip("keras")

X = np.random.default_rng(0).normal(size=(40, 5, 2)).astype("float32")
Y = np.random.default_rng(1).normal(size=(40, 1)).astype("float32")
METHODS = ["compile", "fit", "evaluate", "predict"]


def named(function):
    return [
        p
        for name, p in inspect.signature(function).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]


def _model(seed: int = 0) -> unrolled.Sequential:
    unrolled.set_random_seed(seed)
    model = unrolled.Sequential([unrolled.Input((5, 2)), layers.GRU(3), layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model_class", [unrolled.Sequential, unrolled.Model])
def test_keras_parameters_come_first_in_keras_order_with_keras_defaults(model_class, method):
    theirs = named(getattr(keras.Model, method))
    ours = named(getattr(model_class, method))[: len(theirs)]
    assert [p.name for p in ours] == [p.name for p in theirs]
    for mine, keras_parameter in zip(ours, theirs):
        assert mine.default == keras_parameter.default, mine.name
        assert mine.annotation is not inspect.Parameter.empty, mine.name


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_model_methods_take_every_trainer_argument_with_its_default(method):
    # The model restates the Trainer's arguments for readers; a default changed in one
    # place only would make model.fit and Trainer.fit differ.
    ours = {p.name: p.default for p in named(getattr(ModelBase, method))}
    trainer = {p.name: p.default for p in named(getattr(Trainer, method))}
    assert ours == trainer


def test_compile_takes_every_trainer_argument_with_its_default():
    ours = {p.name: p.default for p in named(ModelBase.compile)}
    trainer = {p.name: p.default for p in named(Trainer.__init__) if p.name != "module"}
    assert trainer.items() <= ours.items()


class _Batches(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def on_train_batch_end(self, batch, logs=None):
        self.sizes.append(batch)


def test_fit_positional_batch_size_and_epochs_mean_what_they_mean_in_keras():
    by_position, by_name = _model(), _model()
    counted = _Batches()
    history = by_position.fit(X, Y, 16, 2, 0, [counted], shuffle=False)
    # The same callbacks on both: a per-batch callback keeps both on the reference path.
    by_name.fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[_Batches()], shuffle=False)
    assert history.epoch == [0, 1]
    assert len(counted.sizes) == 2 * 3  # 40 samples in batches of 16: 3 per epoch
    for a, b in zip(by_position.get_weights(), by_name.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_with_keras_example_arguments_32_and_2():
    model = _model()
    counted = _Batches()
    history = model.fit(X, Y, 32, 2, verbose=0, callbacks=[counted])
    assert len(history.history["loss"]) == 2 and len(counted.sizes) == 2 * 2


def test_evaluate_and_predict_take_batch_size_positionally():
    model = _model()
    assert model.evaluate(X, Y, 8, 0) == pytest.approx(
        model.evaluate(X, Y, batch_size=8, verbose=0)
    )
    np.testing.assert_array_equal(model.predict(X, 8, 0), model.predict(X, verbose=0))


def test_compile_positional_order_is_keras_3s():
    model = _model()
    model.compile("adam", "mse", None, ["mae"])
    assert model.get_compile_config()["metrics"] == ["mae"]
    # Keras 2's order put metrics third: read as metrics, with the Keras 3 spelling.
    with pytest.warns(DeprecationWarning, match=r"read as metrics.*metrics=\[\.\.\.\]"):
        model.compile("adam", "mse", ["mae"])
    assert model.get_compile_config()["metrics"] == ["mae"]
    assert model.get_compile_config()["loss_weights"] is None
    with pytest.raises(ConfigError, match="loss_weights.*Keras 3's order"):
        model.compile("adam", "mse", ["mae"], ["mse"])


def test_default_compile_config_holds_what_it_held_before():
    model = _model()
    model.compile("adam", "mse", metrics=["mae"])
    assert set(model.get_compile_config()) == {"optimizer", "loss", "metrics", "loss_weights"}


def test_run_eagerly_trains_on_the_reference_path_and_keras_flags_are_accepted():
    model = _model()
    model.compile("sgd", "mse", run_eagerly=True, jit_compile=False, steps_per_execution=4)
    model.fit(X, Y, 8, 1, 0)
    assert model.last_fit_path.name == "reference"
    assert "fast_path=False" in model.last_fit_path.reason


def test_our_fit_extras_and_keras1_nb_epoch_still_work():
    model = _model()
    with pytest.warns(DeprecationWarning, match="nb_epoch"):
        history = model.fit(X, Y, nb_epoch=2, verbose=0, seed=3, terminate_on_nan=True)
    assert history.epoch == [0, 1]
    with pytest.raises(ConfigError, match="unexpected argument"):
        model.fit(X, Y, epochz=2, verbose=0)
