"""The compiled fit path against the reference path (eager autograd and the Keras update rules).

Each case trains two identical models, one on the kernel (`fast_path="auto"`) and one on
the reference path (`fast_path=False`), and compares the losses, the weights, the
optimizer's slots and step count, and the stateful states, to 1e-5. Gradients are
compared on their own through one SGD step with learning rate 1.

The main cases run on both kernels (the `kernel` fixture): the row-by-row one, which small
models get, and the batched one (MKL products, batches split over two threads), forced
here on the same small models so that the comparisons stay quick.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled.callbacks import ResetStates
from unrolled.compiled import fit_plan
from unrolled.layers import GRU, LSTM, Dense, Dropout, Masking, SimpleRNN

pytest.importorskip("numba")


FEATURES, STEPS, UNITS = 2, 4, 3
RECURRENT = {
    "lstm": lambda **kw: LSTM(UNITS, **kw),
    "gru": lambda **kw: GRU(UNITS, **kw),
    "rnn_tanh": lambda **kw: SimpleRNN(UNITS, **kw),
    "rnn_relu": lambda **kw: SimpleRNN(UNITS, activation="relu", **kw),
}


def _data(samples: int = 12, outputs: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, STEPS, FEATURES)).astype(np.float32)
    y = rng.normal(size=(samples, outputs)).astype(np.float32)
    return x, y


def _model(
    kind: str, batch: int | None, stateful: bool, outputs: int = 2, mask: bool = False, **options
):
    unrolled.set_random_seed(3)
    shape = {"batch_shape": (batch, STEPS, FEATURES)}
    layers = [Masking(0.0, **shape)] if mask else []
    layers.append(RECURRENT[kind](stateful=stateful, **({} if mask else shape), **options))
    layers.append(Dense(outputs))
    return unrolled.Sequential(layers)


def _train(model, x, y, fast, optimizer="adam", epochs=3, **fit):
    model.compile(optimizer=optimizer, loss="mse", fast_path=fast)
    history = model.fit(x, y, epochs=epochs, verbose=0, **fit)
    return history, model._trainer


def _assert_same(fast_model, ref_model, fast_trainer, ref_trainer, fast_history, ref_history):
    assert fast_trainer.last_path.name == "compiled-epoch", fast_trainer.last_path
    batched = fit_plan.MAX_WORK_PER_BATCH == 0
    assert ("batched over 2 threads" in fast_trainer.last_path.reason) == batched
    assert ref_trainer.last_path.name == "reference"
    np.testing.assert_allclose(
        fast_history.history["loss"], ref_history.history["loss"], rtol=1e-5, atol=1e-6
    )
    for ours, theirs in zip(fast_model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    fast_opt, ref_opt = fast_trainer.optimizer, ref_trainer.optimizer
    assert fast_opt.iterations == ref_opt.iterations
    for p_fast, p_ref in zip(fast_model.parameters(), ref_model.parameters()):
        for name, slot in ref_opt.state[p_ref].items():
            # Slots hold squared gradients (up to ~1): compared relatively.
            np.testing.assert_allclose(
                fast_opt.state[p_fast][name], slot, rtol=1e-4, atol=1e-6, err_msg=name
            )
    for ours, theirs in zip(fast_model.get_states().values(), ref_model.get_states().values()):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, atol=1e-5)


CASES = [(kind, stateful, "adam") for kind in sorted(RECURRENT) for stateful in (False, True)] + [
    ("lstm", False, "sgd"),
    ("gru", True, "sgd"),
    ("lstm", True, "nesterov"),
    ("rnn_tanh", False, "momentum"),
    ("lstm", False, "rmsprop"),
    ("gru", True, "rmsprop_momentum"),
    ("rnn_relu", False, "rmsprop_momentum"),
]
OPTIMIZERS = {
    "adam": lambda: "adam",
    "sgd": lambda: "sgd",
    "nesterov": lambda: unrolled.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "momentum": lambda: unrolled.optimizers.SGD(0.05, momentum=0.5),
    "rmsprop": lambda: unrolled.optimizers.RMSprop(0.01, rho=0.8),
    "rmsprop_momentum": lambda: unrolled.optimizers.RMSprop(0.01, momentum=0.5),
}


@pytest.mark.parametrize("kind, stateful, optimizer", CASES)
def test_fit_matches_reference_path(kind, stateful, optimizer, kernel):
    x, y = _data()
    batch = 3 if stateful else None
    runs = []
    for fast in ("auto", False):
        model = _model(kind, batch, stateful)
        fit = (
            {"batch_size": 3, "shuffle": False, "callbacks": [ResetStates()]}
            if stateful
            else {
                "batch_size": 5,  # a short last batch
                "seed": 7,
            }
        )
        history, trainer = _train(model, x, y, fast, OPTIMIZERS[optimizer](), **fit)
        runs.append((model, trainer, history))
    (fm, ft, fh), (rm, rt, rh) = runs
    _assert_same(fm, rm, ft, rt, fh, rh)


@pytest.mark.parametrize("kind", sorted(RECURRENT))
@pytest.mark.parametrize("stateful", [False, True], ids=["stateless", "stateful"])
def test_masked_fit_matches_reference_path(kind, stateful, kernel):
    x, y = _data(samples=8)
    x[0, :2] = 0.0  # pre-padding
    x[1, -1] = 0.0  # post-padding
    x[2, 1] = 0.0  # a hole
    x[3] = 0.0  # nothing valid: the output is zeros
    runs = []
    for fast in ("auto", False):
        model = _model(kind, 4 if stateful else None, stateful, mask=True)
        history, trainer = _train(model, x, y, fast, batch_size=4, shuffle=False)
        runs.append((model, trainer, history))
    (fm, ft, fh), (rm, rt, rh) = runs
    _assert_same(fm, rm, ft, rt, fh, rh)


@pytest.mark.parametrize("kind", sorted(RECURRENT))
def test_gradients_match_autograd(kind, kernel):
    x, y = _data(samples=4)
    model = _model(kind, None, False, use_bias=True)
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.mean((model(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    history, trainer = _train(
        model, x, y, "auto", unrolled.optimizers.SGD(1.0), epochs=1, batch_size=4
    )
    assert trainer.last_path.name == "compiled-epoch"
    assert history.history["loss"][0] == pytest.approx(float(loss.detach()), rel=1e-6)
    for b, p, g in zip(before, model.parameters(), grads):
        np.testing.assert_allclose((b - p.detach()).numpy(), g.numpy(), atol=1e-5)


def test_without_biases(kernel):
    x, y = _data()
    runs = []
    for fast in ("auto", False):
        unrolled.set_random_seed(1)
        model = unrolled.Sequential(
            [LSTM(UNITS, use_bias=False, input_shape=(STEPS, FEATURES)), Dense(2, use_bias=False)]
        )
        history, trainer = _train(model, x, y, fast, batch_size=4)
        runs.append((model, trainer, history))
    (fm, ft, fh), (rm, rt, rh) = runs
    _assert_same(fm, rm, ft, rt, fh, rh)


def test_path_and_reason_are_reported():
    x, y = _data()
    model = _model("lstm", None, False)
    assert model.last_fit_path is None
    _train(model, x, y, "auto", epochs=1)
    assert model.last_fit_path == (
        "compiled-epoch",
        "numba kernel: whole epochs of LSTM -> Dense, MSE, Adam",
    )


def _decline(**change):
    """The reason fit stays on the reference path after one epoch with `change` applied."""
    x, y = _data()
    y = change.pop("y", y)
    layer_options = change.pop("layer", {})
    dense_options = change.pop("dense", {})
    compile_options = {"optimizer": "adam", "loss": "mse", **change.pop("compile", {})}
    unrolled.set_random_seed(0)
    model = change.pop("model", None) or unrolled.Sequential(
        [LSTM(UNITS, input_shape=(STEPS, FEATURES), **layer_options), Dense(2, **dense_options)]
    )
    model.compile(**compile_options)
    model.fit(x, y, epochs=1, verbose=0, **change)
    path = model._trainer.last_path
    assert path.name == "reference"
    return path.reason


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"layer": {"go_backwards": True}}, "go_backwards=True (only False)"),
        ({"layer": {"dropout": 0.2}}, "dropout"),
        ({"layer": {"recurrent_dropout": 0.2}}, "dropout"),
        ({"layer": {"activation": "relu"}}, "fused operator computes tanh"),
        ({"layer": {"kernel_regularizer": "l2"}}, "regularizers"),
        ({"layer": {"use_cudnn": False}}, "use_cudnn=False"),
        ({"dense": {"activation": "relu"}}, "only linear"),
        ({"compile": {"loss": "mape"}}, "loss mape: the kernel implements MSE, MAE, Huber"),
        (
            {"compile": {"loss": unrolled.losses.CategoricalCrossentropy(label_smoothing=0.1)}},
            "label_smoothing=0.1 (only 0.0); label smoothing runs on the reference path",
        ),
        (
            {"compile": {"loss": unrolled.losses.MeanSquaredError(reduction="sum")}},
            "reduction='sum'",
        ),
        ({"compile": {"metrics": ["mape"]}}, "metric mape (MeanAbsolutePercentageError)"),
        ({"compile": {"weighted_metrics": ["mae"]}}, "weighted_metrics"),
        (
            {"compile": {"optimizer": "nadam"}},
            "optimizer Nadam: the kernel implements Keras's Adam (AdamW), SGD, RMSprop",
        ),
        (
            {"compile": {"optimizer": unrolled.optimizers.RMSprop(centered=True)}},
            "optimizer RMSprop: centered=True (only False)",
        ),
        ({"compile": {"optimizer": unrolled.optimizers.Adam(amsgrad=True)}}, "amsgrad"),
        ({"compile": {"fast_path": False}}, "fast_path=False"),
        ({"steps_per_epoch": 2}, "steps_per_epoch"),
        (
            {"callbacks": [unrolled.callbacks.LambdaCallback(on_batch_end=lambda b, logs: None)]},
            "every batch",
        ),
    ],
)
def test_unsupported_options_decline_with_a_reason(change, reason):
    assert reason in _decline(**change)


def test_wide_layers_with_few_rows_per_thread_decline_to_torch(monkeypatch):
    monkeypatch.setattr(fit_plan, "_threads_for", lambda rows, units: 2)
    model = unrolled.Sequential([LSTM(256, input_shape=(STEPS, FEATURES)), Dense(2)])
    reason = _decline(model=model, batch_size=32)
    assert "256 units at 6 rows per thread: torch's fused operator is faster" in reason


def test_threads_follow_torch_setting_with_enough_rows_each(monkeypatch):
    import numba

    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 8)
    assert fit_plan._threads_for(32, 64) == 4  # 8 rows each
    assert fit_plan._threads_for(12, 64) == 1
    assert fit_plan._threads_for(3, 64) == 1
    assert fit_plan._threads_for(32, 256) == 4  # wide: all of them, or torch's operator
    assert "8 rows per thread" in fit_plan._batched_blocker(256, 32, 4)
    assert "rows per thread" not in (fit_plan._batched_blocker(256, 96, 4) or "")


@pytest.mark.parametrize("units", [128, 256])
def test_large_batches_take_the_batched_kernel(units):
    from unrolled.compiled import blas

    if blas.missing() is not None:
        pytest.skip(blas.missing())
    x, y = _data(samples=64)
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([LSTM(units, input_shape=(STEPS, FEATURES)), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    name, reason = model.last_fit_path
    assert name == "compiled-epoch" and "batched over" in reason


def test_without_mkl_large_batches_decline_with_the_reason(monkeypatch):
    from unrolled.compiled import blas

    monkeypatch.setattr(blas, "missing", lambda: "this PyTorch build exports no MKL sgemm")
    model = unrolled.Sequential([LSTM(128, input_shape=(STEPS, FEATURES)), Dense(2)])
    reason = _decline(model=model, batch_size=32)
    assert "too many for the row-by-row kernel, and this PyTorch build exports no MKL" in reason


def test_gru_reset_before_declines():
    model = unrolled.Sequential(
        [GRU(UNITS, reset_after=False, input_shape=(STEPS, FEATURES)), Dense(2)]
    )
    assert "reset_after=False" in _decline(model=model)


def test_a_layer_between_recurrent_layers_declines():
    model = unrolled.Sequential(
        [
            LSTM(UNITS, return_sequences=True, input_shape=(STEPS, FEATURES)),
            Dropout(0.2),
            LSTM(UNITS),
            Dense(2),
        ]
    )
    assert "LSTM -> Dropout -> LSTM -> Dense" in _decline(model=model)


def test_environment_switch_forces_the_reference_path(monkeypatch):
    monkeypatch.setenv("UNROLLED_FAST_PATH", "0")
    assert "UNROLLED_FAST_PATH=0" in _decline()


def test_plain_torch_module_has_no_kernel():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(STEPS * FEATURES, 2))
    trainer = unrolled.Trainer(net, optimizer="adam", loss="mse")
    x, y = _data()
    trainer.fit(x, y, epochs=1, verbose=0)
    assert trainer.last_path.name == "reference"
    assert "no compiled training kernel" in trainer.last_path.reason


def test_diverging_loss_still_names_the_batch(kernel):
    x, y = _data()
    model = _model("lstm", None, False)
    model.compile(optimizer=unrolled.optimizers.SGD(1e30), loss="mse")
    with pytest.raises(unrolled.NonFiniteLossError, match="batch 2"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)


def test_without_numba_both_paths_decline_and_name_the_extra(monkeypatch):
    from unrolled.compiled import jit
    from unrolled.compiled.rollout_plan import plan_rollout

    monkeypatch.setattr(jit, "NUMBA_FOUND", False)
    assert 'pip install "unrolled[fast]"' in _decline()
    runner, reason = plan_rollout([LSTM(4), Dense(1)])
    assert runner is None and "numba is not installed" in reason


def test_epoch_callbacks_and_validation_keep_the_compiled_path(kernel):
    x, y = _data(samples=16)
    runs = []
    for fast in ("auto", False):
        model = _model("gru", None, False)
        schedule = unrolled.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
        history, trainer = _train(
            model, x, y, fast, batch_size=4, validation_split=0.25, callbacks=[schedule], seed=1
        )
        runs.append((model, trainer, history))
    (fm, ft, fh), (rm, rt, rh) = runs
    _assert_same(fm, rm, ft, rt, fh, rh)
    np.testing.assert_allclose(fh.history["val_loss"], rh.history["val_loss"], rtol=1e-5)


def test_a_resumed_fit_ends_where_an_uninterrupted_one_does(tmp_path, kernel):
    x, y = _data()
    whole = _model("lstm", 3, True)
    _train(whole, x, y, "auto", epochs=4, batch_size=3, shuffle=False)
    first = _model("lstm", 3, True)
    _train(first, x, y, "auto", epochs=2, batch_size=3, shuffle=False, checkpoint=tmp_path)
    second = _model("lstm", 3, True)
    _, trainer = _train(
        second, x, y, "auto", epochs=4, batch_size=3, shuffle=False, checkpoint=tmp_path
    )
    assert trainer.last_path.name == "compiled-epoch"
    for ours, theirs in zip(second.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
