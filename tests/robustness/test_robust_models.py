"""Generated calls to models: compile, fit, evaluate, predict and the stateful rules.

The models train with SGD at learning rate 0, so their weights never move: every epoch's
loss must equal the mean squared error of `predict`'s outputs, the reference computation
for a call that works. Models are tiny (3 units, 3 timesteps, 2 features) and built once
per module where a test only reads them.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy_rnn
import torch
from hypothesis import given
from hypothesis import strategies as st
from robustness.contract import Worked, attempt, counted, refused, worked

import unrolled
from unrolled import optimizers

T, F, U = 3, 2, 3
X_NAMES = ("x", "inputs")  # fit's argument, and the layer call's word for it

# predict runs on the compiled inference kernel or on the reference path (an int8 x, a
# model it declines); the two agree to float32 rounding, as the kernel's tests check, and
# MKL's products may round a row differently in a batch of another size.
ACROSS_PATHS = {"rtol": 1e-5, "atol": 1e-7}


def model_of(kind: str) -> unrolled.Model:
    if kind == "sequential":
        model = unrolled.Sequential([unrolled.Input((T, F)), unrolled.LSTM(U), unrolled.Dense(1)])
    else:
        inputs = unrolled.Input((T, F))
        model = unrolled.Model(inputs, unrolled.Dense(1)(unrolled.GRU(U)(inputs)))
    model.compile(optimizers.SGD(learning_rate=0.0), "mse")
    return model


MODELS = {kind: model_of(kind) for kind in ("sequential", "functional")}
models = st.sampled_from(sorted(MODELS))


def expected_loss(model, x, y, weights=None):
    """The reference: the mean squared error of predict's outputs, sample weights applied."""
    pred = model.predict(np.asarray(x, dtype=np.float32), verbose=0).astype(np.float64)
    errors = (pred[:, 0] - np.asarray(y, dtype=np.float64).reshape(len(pred))) ** 2
    return float(np.mean(errors if weights is None else errors * np.asarray(weights)))


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, T, F)).astype(np.float32), rng.normal(size=(n, 1)).astype(np.float32)


# -- shapes ------------------------------------------------------------------------------------
any_shape = st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple)
x_shapes = st.one_of(st.integers(0, 5).map(lambda n: (n, T, F)), any_shape)


@st.composite
def y_shapes(draw, n):
    m = draw(st.integers(0, 5))
    return draw(st.sampled_from([(n,), (n, 1), (n, 1, 1), (m, 1), (n, 2), (n, T, 1), (n, 1, 2)]))


@given(kind=models, x_shape=x_shapes, draw=st.data(), method=st.sampled_from(["fit", "evaluate"]))
@counted
def test_fit_and_evaluate_take_matching_x_and_y_and_refuse_the_rest(kind, x_shape, draw, method):
    model = MODELS[kind]
    y_shape = draw.draw(y_shapes(x_shape[0]))
    rng = np.random.default_rng(sum(x_shape) + sum(y_shape))
    x = rng.normal(size=x_shape).astype(np.float32)
    y = rng.normal(size=y_shape).astype(np.float32)
    n = x_shape[0]
    x_ok = len(x_shape) == 3 and x_shape[1:] == (T, F)
    y_ok = y_shape in ((n,), (n, 1), (n, 1, 1))
    if y_shape[0] != n:
        kind_of, names = "x/y length mismatch", ("x", "y")
    elif n == 0:
        kind_of, names = "zero samples", ("x",)
    elif not x_ok:
        kind_of = "wrong rank" if len(x_shape) != 3 else "wrong timesteps or features"
        kind_of, names = (("zero timesteps" if 0 in x_shape[1:] else kind_of), X_NAMES)
    elif not y_ok:
        kind_of, names = "targets that would broadcast", ("y",)
    else:
        kind_of, names = "matching x and y", ()
    call = {
        "fit": lambda: model.fit(x, y, epochs=1, batch_size=2, verbose=0).history["loss"][0],
        "evaluate": lambda: model.evaluate(x, y, batch_size=2, verbose=0),
    }[method]
    if names:
        refused(kind_of, call, *names)
        return
    loss = worked(kind_of, call)
    assert math.isclose(loss, expected_loss(model, x, y), rel_tol=1e-5, abs_tol=1e-6)


NUMERIC = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]
REFUSED = ["complex64", "complex128", "str", "object"]


@given(
    kind=models,
    x_dtype=st.sampled_from(NUMERIC + REFUSED),
    y_dtype=st.sampled_from(NUMERIC + REFUSED),
    as_tensor=st.booleans(),
    values=st.lists(st.integers(-3, 3), min_size=4 * T * F, max_size=4 * T * F),
)
@counted
def test_numeric_dtypes_train_like_float32_and_others_are_refused(
    kind, x_dtype, y_dtype, as_tensor, values
):
    model = MODELS[kind]
    numbers = np.asarray(values, dtype=np.float64).reshape(4, T, F)  # exact in every dtype
    targets = numbers[:, 0, :1]

    def cast(array, dtype):
        if dtype == "bool":
            return array > 0
        out = array.astype(dtype)
        if as_tensor and dtype not in ("str", "object"):
            return torch.from_numpy(out)
        return out

    x, y = cast(numbers, x_dtype), cast(targets, y_dtype)
    call = lambda: model.fit(x, y, epochs=1, batch_size=2, verbose=0).history["loss"][0]  # noqa: E731
    if x_dtype in REFUSED:
        refused(f"{x_dtype} x", call, *X_NAMES)
        return
    if y_dtype in REFUSED:
        refused(f"{y_dtype} y", call, "y")
        return
    loss = worked(f"{x_dtype} x and {y_dtype} y", call)
    seen_x = np.asarray(x, dtype=np.float32)
    seen_y = np.asarray(y, dtype=np.float32)
    assert math.isclose(loss, expected_loss(model, seen_x, seen_y), rel_tol=1e-5, abs_tol=1e-6)
    predicted = worked(f"predict on {x_dtype}", lambda: model.predict(x, verbose=0))
    np.testing.assert_allclose(predicted, model.predict(seen_x, verbose=0), **ACROSS_PATHS)


@given(
    kind=models,
    where=st.sampled_from(["x", "y", "sample_weight"]),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
    row=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
@counted
def test_nan_and_inf_in_data_are_refused_naming_the_array_and_sample(kind, where, value, row, seed):
    model = MODELS[kind]
    x, y = data(4, seed)
    weights = np.ones(4, dtype=np.float32)
    {"x": x[row], "y": y[row], "sample_weight": weights[row : row + 1]}[where][...] = value
    error = refused(
        f"{value} in {where}",
        lambda: model.fit(x, y, sample_weight=weights, epochs=1, verbose=0),
        where,
    )
    if where != "sample_weight":
        assert f"{where}[{row}]" in str(error)
        refused(f"{value} in {where} (evaluate)", lambda: model.evaluate(x, y, verbose=0), where)
    if where == "x":
        # predict computes on, as Keras does: the bad sample's row alone is not finite.
        out = worked(f"{value} in predict's x", lambda: model.predict(x, verbose=0))
        clean = [r for r in range(4) if r != row]
        np.testing.assert_allclose(out[clean], model.predict(x[clean], verbose=0), **ACROSS_PATHS)


counts = st.one_of(
    st.integers(-2, 5),
    st.sampled_from([None, 2.5, 1.0, "4", True, np.int64(2)]),
)


def positive_or_none(value):
    return value is None or (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0
    )


@st.composite
def one_bad_argument(draw):
    argument = draw(
        st.sampled_from(
            [
                "batch_size",
                "epochs",
                "steps_per_epoch",
                "validation_split",
                "shuffle",
                "verbose",
                "validation_freq",
                "sample_weight",
                "class_weight",
            ]
        )
    )
    if argument == "validation_split":
        value = draw(st.one_of(st.floats(-0.5, 1.5), st.sampled_from([np.nan, "0.2", None])))
    elif argument == "shuffle":
        value = draw(st.sampled_from([True, False, "batch", "true", None, 2]))
    elif argument == "verbose":
        value = draw(st.sampled_from([0, 1, 2, "auto", 3, -1, "loud", None, True]))
    elif argument == "sample_weight":
        value = draw(st.sampled_from([(6,), (6, 1), (5,), (7,), (6, 3), (6, 1, 2)]))
    elif argument == "class_weight":
        value = draw(
            st.sampled_from([{0: 1.0, 1: 2.0}, {"0": 1.0}, {-1: 1.0}, {0: "a"}, {0.5: 1.0}, [1.0]])
        )
    else:
        value = draw(counts)
    return argument, value


def fit_argument_is_valid(argument, value, n):
    if argument in ("batch_size", "steps_per_epoch"):
        return positive_or_none(value)
    if argument == "epochs":
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
    if argument == "validation_freq":
        return positive_or_none(value) and value is not None
    if argument == "validation_split":
        if not isinstance(value, float) or not 0.0 <= value < 1.0:
            return False
        return value == 0.0 or 0 < math.floor(n * (1 - value)) < n
    if argument == "shuffle":
        return value in (True, False, "batch")
    if argument == "verbose":
        return value in (0, 1, 2, "auto") and not isinstance(value, bool)
    if argument == "sample_weight":
        return value in ((6,), (6, 1))
    if argument == "class_weight":
        return value == {0: 1.0, 1: 2.0}
    raise AssertionError(argument)


@given(kind=models, bad=one_bad_argument())
@counted
def test_fit_arguments_are_checked_before_training(kind, bad):
    argument, value = bad
    model = MODELS[kind]
    x, y = data(6)
    options = {"epochs": 1, "batch_size": 2, "verbose": 0}
    if argument == "sample_weight":
        options[argument] = np.ones(value, dtype=np.float32)
    else:
        options[argument] = value
    if argument == "class_weight":
        y = (y > 0).astype(np.float32)
    if argument == "validation_freq":
        options["validation_split"] = 0.5  # the frequency is read when there is validation
    valid = fit_argument_is_valid(argument, value, len(x))
    kind_of = f"fit {argument}" if valid else f"bad fit {argument}"
    outcome = attempt(kind_of, lambda: model.fit(x, y, **options), argument)
    assert valid == isinstance(outcome, Worked), (argument, value)
    partial = ("validation_split", "validation_freq", "sample_weight", "class_weight")
    if valid and argument not in (*partial, "steps_per_epoch"):  # these train on part of x
        losses = outcome.value.history.get("loss", [])
        assert len(losses) == options["epochs"]
        for loss in losses:
            assert math.isclose(loss, expected_loss(model, x, y), rel_tol=1e-5, abs_tol=1e-6)


@given(
    fixed=st.integers(1, 3),
    n=st.integers(1, 7),
    batch_size=st.one_of(st.none(), st.integers(1, 4)),
    shuffle=st.sampled_from([False, True, "batch"]),
    method=st.sampled_from(["fit", "evaluate", "predict"]),
    seed=st.integers(0, 2**16),
)
@counted
def test_stateful_models_need_their_batch_size_whole_batches_and_no_shuffling(
    fixed, n, batch_size, shuffle, method, seed
):
    model = unrolled.Sequential(
        [
            unrolled.Input(batch_shape=(fixed, T, F)),
            unrolled.LSTM(U, stateful=True),
            unrolled.Dense(1),
        ]
    )
    model.compile(optimizers.SGD(learning_rate=0.0), "mse")
    x, y = data(n, seed)
    if method != "fit":
        shuffle = False  # evaluate and predict never shuffle
    call = {
        "fit": lambda: model.fit(x, y, batch_size=batch_size, shuffle=shuffle, verbose=0),
        "evaluate": lambda: model.evaluate(x, y, batch_size=batch_size, verbose=0),
        "predict": lambda: model.predict(x, batch_size=batch_size, verbose=0),
    }[method]
    if batch_size not in (None, fixed):
        error = refused("stateful batch-size mismatch", call, "batch_size")
        assert f"fixed batch size of {fixed}" in str(error)
    elif shuffle:
        refused("shuffle=True with stateful", call, "shuffle")
    elif n % fixed:
        error = refused("ragged last stateful batch", call, "x")
        assert f"x[:{n - n % fixed}]" in str(error)
    elif method == "predict":
        out = worked("stateful predict", call)
        np.testing.assert_allclose(out, stitched_reference(model, x, fixed), rtol=1e-4, atol=1e-5)
    else:
        worked(f"stateful {method}", call)


def stitched_reference(model, x, fixed):
    """Row i of batch k+1 continues row i of batch k: one long sequence per row."""
    lstm, dense = model.layers
    batches = x.reshape(-1, fixed, T, F)  # (batches, rows, T, F)
    rows = np.concatenate(list(batches), axis=1)  # (rows, batches * T, F)
    step = functools.partial(numpy_rnn.lstm_step, weights=lstm.get_weights())
    zeros = [np.zeros((fixed, U)), np.zeros((fixed, U))]
    outputs, _ = numpy_rnn.run(step, rows, zeros)  # (rows, batches * T, U)
    ends = outputs[:, T - 1 :: T]  # (rows, batches, U): the output at each batch's end
    kernel, bias = dense.get_weights()
    out = ends @ kernel + bias  # (rows, batches, 1)
    return out.transpose(1, 0, 2).reshape(-1, 1)


OPTIMIZERS = ["adam", "sgd", "rmsprop", "adagrad", "adamw", "nadam", "Adam", "SGD"]
LOSSES = ["mse", "mae", "mean_squared_error", "huber", "log_cosh", "MeanSquaredError", "mape"]
METRICS = ["mae", "mse", "mean_absolute_error", "rmse", "RootMeanSquaredError"]


def names_and_typos(known):
    good = st.sampled_from(known)
    typo = st.tuples(good, st.sampled_from(["x", "_2", "s", " "])).map("".join)
    garbage = st.text(alphabet="abcdefghijklmnop_", max_size=8).map(lambda t: "q" + t)
    return st.one_of(good, typo, garbage, st.sampled_from([5, 0.1, ["adam"]]))


@given(argument=st.sampled_from(["optimizer", "loss", "metrics"]), draw=st.data())
@counted
def test_unknown_optimizer_loss_and_metric_names_are_refused_at_compile(argument, draw):
    known = {"optimizer": OPTIMIZERS, "loss": LOSSES, "metrics": METRICS}[argument]
    name = draw.draw(names_and_typos(known))
    options = {"optimizer": "sgd", "loss": "mse"}
    options[argument] = [name] if argument == "metrics" and isinstance(name, str) else name
    model = unrolled.Sequential([unrolled.Input((T, F)), unrolled.LSTM(U), unrolled.Dense(1)])
    valid = name in known
    names = (argument, "metric") if argument == "metrics" else (argument,)
    outcome = attempt(f"unknown {argument} name", lambda: model.compile(**options), *names)
    assert valid == isinstance(outcome, Worked), (argument, name)
    if valid:
        x, y = data(4)
        history = worked(f"fit with {argument}={name!r}", lambda: model.fit(x, y, verbose=0))
        assert all(np.isfinite(v).all() for v in history.history.values())


@given(
    x_shape=st.one_of(st.integers(1, 4).map(lambda n: (n, T, F)), any_shape),
    layers=st.sampled_from(["lstm", "gru_dense", "bidirectional"]),
)
@counted
def test_predict_on_an_unbuilt_model_builds_from_3d_data_and_refuses_the_rest(x_shape, layers):
    model = unrolled.Sequential(
        {
            "lstm": lambda: [unrolled.LSTM(U)],
            "gru_dense": lambda: [unrolled.GRU(U), unrolled.Dense(1)],
            "bidirectional": lambda: [unrolled.Bidirectional(unrolled.SimpleRNN(U))],
        }[layers]()
    )
    x = np.random.default_rng(len(x_shape)).normal(size=x_shape).astype(np.float32)
    valid = len(x_shape) == 3 and 0 not in x_shape
    kind_of = "predict on an unbuilt model" if valid else "predict on an unbuilt model, bad x"
    outcome = attempt(kind_of, lambda: model.predict(x, verbose=0), *X_NAMES)
    assert valid == isinstance(outcome, Worked), x_shape
    if valid:
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(outcome.value, want, **ACROSS_PATHS)


@given(
    method=st.sampled_from(["fit", "evaluate", "train_on_batch", "test_on_batch"]),
    built=st.booleans(),
)
@counted
def test_a_model_without_compile_asked_to_train_says_to_compile(method, built):
    layers = [unrolled.LSTM(U), unrolled.Dense(1)]
    model = unrolled.Sequential([unrolled.Input((T, F)), *layers] if built else layers)
    x, y = data(4)
    error = refused("fit without compile", lambda: getattr(model, method)(x, y), "compile")
    assert "model.compile(" in str(error)
    if method == "fit":
        out = worked("predict without compile", lambda: model.predict(x, verbose=0))
        assert out.shape == (4, 1)


@given(
    kind=models,
    method=st.sampled_from(["predict", "evaluate"]),
    argument=st.sampled_from(["batch_size", "steps", "verbose"]),
    value=st.one_of(counts, st.sampled_from(["auto", "loud"])),
)
@counted
def test_predict_and_evaluate_arguments_are_checked(kind, method, argument, value):
    model = MODELS[kind]
    x, y = data(5)
    options = {"verbose": 0, argument: value}
    call = {
        "predict": lambda: model.predict(x, **options),
        "evaluate": lambda: model.evaluate(x, y, **options),
    }[method]
    if argument == "verbose":
        valid = value in (0, 1, 2, "auto") and not isinstance(value, bool)
    else:
        valid = positive_or_none(value)
    outcome = attempt(
        f"{method} {argument}" if valid else f"bad {method} {argument}", call, argument
    )
    assert valid == isinstance(outcome, Worked), (method, argument, value)
    if not valid:
        return
    steps = value if argument == "steps" and value is not None else None
    size = value if argument == "batch_size" and value is not None else 32
    seen = len(x) if steps is None else min(len(x), steps * size)
    if method == "predict":
        want = model.predict(x[:seen], verbose=0)
        np.testing.assert_allclose(outcome.value, want, **ACROSS_PATHS)
    else:
        want = expected_loss(model, x[:seen], y[:seen])
        assert math.isclose(outcome.value, want, rel_tol=1e-5, abs_tol=1e-6)
