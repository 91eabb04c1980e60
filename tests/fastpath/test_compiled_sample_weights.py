"""`sample_weight` and `class_weight` on the compiled path: each sample's loss weight.

Keras 3's `sum_over_batch_size`: a batch's loss is `sum_b w_b * loss_b / batch_size` (a
loss on every step: over `batch_size * timesteps` terms, each sample's weight on all its
steps); `metrics=` stay unweighted. Fits on the row kernel, the batched kernel and the
stack kernel against the reference path (`fast_path=False`): history (loss and metrics),
weights and optimizer slots; three of them against real Keras 3 as well (same starting
weights by `set_weights`, no shuffling). Then what stays on the reference path: weights
per timestep, and a runner that takes no weights.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from collections.abc import Callable  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import unrolled  # noqa: E402
from unrolled.compiled import blas  # noqa: E402
from unrolled.layers import LSTM, Dense, Embedding, Input, TimeDistributed  # noqa: E402

pytest.importorskip("numba")

STEPS, FEATURES, VOCABULARY = 5, 3, 6
CLASS_WEIGHT = {0: 1.0, 1: 3.0}


def _weights(samples: int, seed: int = 3) -> np.ndarray:
    """Uneven weights `(samples,)`, zeros among them (a sample that must not count)."""
    weights = np.random.default_rng(seed).uniform(0.2, 3.0, samples).astype(np.float32)
    weights[::5] = 0.0
    return weights


def _fit(
    layers: Callable[[], list], fast: bool | str, x, y, loss: str, metrics: list, **fit
) -> tuple[unrolled.Sequential, dict]:
    """The model of `layers` (same seed, same starting weights) fitted three epochs."""
    unrolled.set_random_seed(7)
    model = unrolled.Sequential(layers())
    model.compile(unrolled.optimizers.Adam(0.02), loss, metrics=metrics, fast_path=fast)
    fit = {"epochs": 3, "batch_size": 4, "seed": 11, "verbose": 0, **fit}
    history = model.fit(x, y, **fit)
    return model, history.history


def _slots(model: unrolled.Sequential) -> list[dict[str, np.ndarray]]:
    """Each weight's optimizer slots by name."""
    state = model._trainer.optimizer.state
    return [
        {name: v.detach().numpy() for name, v in state.get(p, {}).items() if hasattr(v, "detach")}
        for p in model.parameters()
    ]


def _assert_fits_match(fast, reference) -> None:
    """History (loss and every metric), weights and optimizer slots to float32 rounding."""
    (fast_model, fast_history), (ref_model, ref_history) = fast, reference
    assert ref_model.last_fit_path.name == "reference"
    assert list(fast_history) == list(ref_history)
    for key, values in ref_history.items():
        np.testing.assert_allclose(fast_history[key], values, rtol=1e-5, atol=1e-6, err_msg=key)
    for ours, theirs in zip(fast_model.get_weights(), ref_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert fast_model._trainer.optimizer.iterations == ref_model._trainer.optimizer.iterations
    for mine, theirs in zip(_slots(fast_model), _slots(ref_model), strict=True):
        assert mine.keys() == theirs.keys()
        for name in theirs:
            np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-4, atol=1e-6)


def _assert_compiled(model: unrolled.Sequential, words: str = "", batched: bool | None = None):
    """The fit ran on a compiled kernel: its reason names `words` (and the batched kernel
    when `batched`, not when False)."""
    name, reason = model.last_fit_path
    assert name == "compiled-epoch", reason
    assert words in reason, reason
    assert batched is None or ("batched" in reason) == batched, reason


def _fit_both(layers, x, y, loss, metrics, **fit):
    """`(compiled fit, reference fit)` of the same model on the same data."""
    fast = _fit(layers, "auto", x, y, loss, metrics, **fit)
    return fast, _fit(layers, False, x, y, loss, metrics, **fit)


# ---- the row kernel and the batched kernel (one recurrent layer, a Dense head) -------------


def _features(samples: int) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(samples, STEPS, FEATURES)).astype(np.float32)


def _regressor() -> list:
    return [Input((STEPS, FEATURES)), LSTM(3), Dense(2)]


def _binary_classifier() -> list:
    return [Input((STEPS, FEATURES)), LSTM(3), Dense(1, activation="sigmoid")]


@pytest.mark.parametrize("shape", ["samples", "samples_by_1"])
def test_sample_weights_on_the_epoch_kernels_match_the_reference(kernel, shape):
    x = _features(10)  # batches of 4, 4 and 2
    y = np.random.default_rng(2).normal(size=(10, 2)).astype(np.float32)
    weights = _weights(10) if shape == "samples" else _weights(10)[:, None]
    fast, reference = _fit_both(_regressor, x, y, "mse", ["mae"], sample_weight=weights)
    _assert_compiled(fast[0], batched=kernel == "batched")
    _assert_fits_match(fast, reference)


def test_sample_weights_move_the_compiled_fit():
    """The weights reach the kernel: unit weights and uneven ones train differently."""
    x = _features(10)
    y = np.random.default_rng(2).normal(size=(10, 2)).astype(np.float32)
    weighted = _fit(_regressor, "auto", x, y, "mse", [], sample_weight=_weights(10))
    ones = _fit(_regressor, "auto", x, y, "mse", [], sample_weight=np.ones(10, np.float32))
    plain = _fit(_regressor, "auto", x, y, "mse", [])
    for model, _ in (weighted, ones, plain):
        _assert_compiled(model)
    np.testing.assert_allclose(ones[1]["loss"], plain[1]["loss"], rtol=1e-6)
    assert not np.allclose(weighted[1]["loss"], plain[1]["loss"], rtol=1e-3)


def test_sample_weights_on_the_batched_kernel_of_a_wide_layer_match_the_reference():
    """LSTM(64) over 8 steps of 8 features, batches of 8: the planner's own choice."""
    if blas.missing() is not None:
        pytest.skip(blas.missing())
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 8, 8)).astype(np.float32)  # batches of 8, 8 and 4
    y = rng.normal(size=(20, 1)).astype(np.float32)

    def layers() -> list:
        return [Input((8, 8)), LSTM(64), Dense(1)]

    fast, reference = _fit_both(
        layers, x, y, "mse", ["mae"], sample_weight=_weights(20), batch_size=8
    )
    _assert_compiled(fast[0], batched=True)
    _assert_fits_match(fast, reference)


def test_class_weight_on_a_binary_classifier_matches_the_reference(kernel):
    x = _features(10)
    y = (np.random.default_rng(5).random((10, 1)) < 0.4).astype(np.float32)
    fast, reference = _fit_both(
        _binary_classifier, x, y, "binary_crossentropy", ["accuracy"], class_weight=CLASS_WEIGHT
    )
    _assert_compiled(fast[0])
    _assert_fits_match(fast, reference)


# ---- the stack kernel: a head on every step, and an Embedding with mask_zero ----------------


def _tagger() -> list:
    return [
        Input((STEPS, FEATURES)),
        LSTM(4, return_sequences=True),
        TimeDistributed(Dense(3, activation="softmax")),
    ]


def _token_classifier() -> list:
    return [
        Input((STEPS,)),
        Embedding(VOCABULARY, 3, mask_zero=True),
        LSTM(4),
        Dense(1, activation="sigmoid"),
    ]


def _token_data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids with padding (0) after each sequence, rows of padding only among them."""
    rng = np.random.default_rng(6)
    x = rng.integers(1, VOCABULARY, (samples, STEPS))
    lengths = rng.integers(0, STEPS + 1, samples)
    x[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0
    y = (rng.random((samples, 1)) < 0.4).astype(np.float32)
    return x, y


def test_sample_weights_on_a_loss_at_every_step_match_the_reference():
    """Sparse targets `(samples, timesteps)`: each sample's weight on all its steps."""
    x = _features(10)
    y = np.random.default_rng(8).integers(0, 3, (10, STEPS))
    fast, reference = _fit_both(
        _tagger, x, y, "sparse_categorical_crossentropy", ["accuracy"], sample_weight=_weights(10)
    )
    _assert_compiled(fast[0], "stack kernel")
    _assert_fits_match(fast, reference)


@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_weights_on_an_embedding_with_mask_zero_match_the_reference(weighting):
    x, y = _token_data(10)
    given = {"sample_weight": _weights(10)} if weighting == "sample_weight" else {}
    given = given or {"class_weight": CLASS_WEIGHT}
    fast, reference = _fit_both(
        _token_classifier, x, y, "binary_crossentropy", ["accuracy"], **given
    )
    _assert_compiled(fast[0], "stack kernel")
    _assert_fits_match(fast, reference)


# ---- against real Keras 3 ------------------------------------------------------------------


def _keras_fit(ours: unrolled.Sequential, layers: list, x, y, loss, metrics, **fit) -> tuple:
    """Keras's model of `layers`, starting from `ours`'s weights, fitted as `_fit` fits
    (no shuffling: the two libraries shuffle differently)."""
    model = keras.Sequential(layers)
    model.set_weights(ours.get_weights())
    model.compile(keras.optimizers.Adam(0.02), loss, metrics=metrics)
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0, **fit)
    return model, history.history


def _assert_matches_keras(ours, theirs) -> None:
    (our_model, our_history), (keras_model, keras_history) = ours, theirs
    for key, values in keras_history.items():
        np.testing.assert_allclose(our_history[key], values, rtol=1e-4, atol=1e-5, err_msg=key)
    for mine, reference in zip(our_model.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5)


def _start(layers: Callable[[], list]) -> unrolled.Sequential:
    """`_fit`'s model before training (same seed): its starting weights."""
    unrolled.set_random_seed(7)
    return unrolled.Sequential(layers())


def test_sample_weights_on_the_row_kernel_match_keras():
    x = _features(10)  # batches of 4, 4 and 2
    y = np.random.default_rng(2).normal(size=(10, 2)).astype(np.float32)
    weights = _weights(10)
    ours = _fit(_regressor, "auto", x, y, "mse", ["mae"], sample_weight=weights, shuffle=False)
    _assert_compiled(ours[0], batched=False)
    keras_layers = [keras.Input((STEPS, FEATURES)), keras.layers.LSTM(3), keras.layers.Dense(2)]
    theirs = _keras_fit(
        _start(_regressor), keras_layers, x, y, "mse", ["mae"], sample_weight=weights
    )
    _assert_matches_keras(ours, theirs)


def test_sample_weights_at_every_step_match_keras():
    x = _features(10)
    y = np.random.default_rng(8).integers(0, 3, (10, STEPS))
    # (samples, 1): Keras 3 broadcasts that over a sample's steps, but not (samples,).
    weights = _weights(10)[:, None]
    ours = _fit(
        _tagger, "auto", x, y, "sparse_categorical_crossentropy", ["accuracy"],
        sample_weight=weights, shuffle=False,
    )  # fmt: skip
    _assert_compiled(ours[0], "stack kernel")
    keras_layers = [
        keras.Input((STEPS, FEATURES)),
        keras.layers.LSTM(4, return_sequences=True),
        keras.layers.TimeDistributed(keras.layers.Dense(3, activation="softmax")),
    ]
    theirs = _keras_fit(
        _start(_tagger), keras_layers, x, y, "sparse_categorical_crossentropy", ["accuracy"],
        sample_weight=weights,
    )  # fmt: skip
    _assert_matches_keras(ours, theirs)


def test_class_weight_on_an_embedding_with_mask_zero_matches_keras():
    x, y = _token_data(10)
    ours = _fit(
        _token_classifier, "auto", x, y, "binary_crossentropy", ["accuracy"],
        class_weight=CLASS_WEIGHT, shuffle=False,
    )  # fmt: skip
    _assert_compiled(ours[0], "stack kernel")
    keras_layers = [
        keras.Input((STEPS,)),
        keras.layers.Embedding(VOCABULARY, 3, mask_zero=True),
        keras.layers.LSTM(4),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
    theirs = _keras_fit(
        _start(_token_classifier), keras_layers, x, y, "binary_crossentropy", ["accuracy"],
        class_weight=CLASS_WEIGHT,
    )  # fmt: skip
    _assert_matches_keras(ours, theirs)


# ---- what stays on the reference path ------------------------------------------------------


def test_weights_per_timestep_stay_on_the_reference_path_by_shape():
    x = _features(8)
    y = np.random.default_rng(8).integers(0, 3, (8, STEPS))
    weights = np.random.default_rng(9).uniform(0.5, 2.0, (8, STEPS)).astype(np.float32)
    model, _ = _fit(
        _tagger, "auto", x, y, "sparse_categorical_crossentropy", [], sample_weight=weights
    )
    name, reason = model.last_fit_path
    assert name == "reference"
    assert f"sample_weight of shape (8, {STEPS})" in reason, reason
    assert "one weight per sample, (samples,)" in reason, reason


def test_a_runner_that_takes_no_weights_stays_on_the_reference_path():
    class Unweighted:  # a module's runner from before sample weights
        path_name = "compiled-epoch"

    model = unrolled.Sequential(_regressor())
    model.fast_fit = lambda *arguments: (Unweighted(), "a kernel")
    model.compile("adam", "mse")
    x, y = _features(6), np.zeros((6, 2), np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, sample_weight=np.ones(6, np.float32))
    name, reason = model.last_fit_path
    assert name == "reference"
    assert reason.startswith("Unweighted takes no sample weights"), reason
