"""Every layer class exported from `unrolled.layers`, held to issue 16's promises as a user
tries them: in a model it shows in `summary()` and the shape trace with Keras's output shape,
its weights have Keras's order, names and paths, it saves and loads in our format, imports
from Keras `.keras` and `.h5` files with Keras's predictions, exports to ONNX (or refuses
naming the layer), and refuses inputs of the wrong rank or feature size, and masks or sizes
torch would fail on, with our ShapeError.

The cases are in every_layer_cases.py, one per class (plus "Class/option" cases); a class
without a case fails `test_every_exported_layer_has_a_case`. Keras (torch backend) is the
oracle for output shapes, weights and predictions, onnxruntime runs the exported graphs, and
the loaded model is compared with the one that was saved.
"""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch
from every_layer_cases import CASES, IMAGE, NOT_PLACED, Case

import unrolled
import unrolled.layers
from unrolled.errors import ConfigError, ShapeError
from unrolled.explain import shape_trace
from unrolled.interop import UnsupportedLayerError, from_keras, to_onnx
from unrolled.layers import Layer

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are saving your model as an HDF5 file",
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:.*Convolution[123]D:DeprecationWarning",
    "ignore:.*Keras 1:DeprecationWarning",
)
NAMES = sorted(CASES)
BATCH = 2
TOL = 1e-5


def _exported_layer_classes() -> dict[str, type]:
    classes = {}
    for name in unrolled.layers.__all__:
        item = getattr(unrolled.layers, name)
        if inspect.isclass(item) and issubclass(item, Layer):
            classes[item.__name__] = item  # aliases (MaxPool1D) share their class's case
    return classes


def test_every_exported_layer_has_a_case() -> None:
    missing = sorted(set(_exported_layer_classes()) - set(CASES) - set(NOT_PLACED))
    assert not missing, f"add a case to tests/layers/every_layer_cases.py for {missing}"
    assert not set(CASES) & set(NOT_PLACED)


# -- the same model in Keras and in ours ------------------------------------------------------------
def _data(case: Case, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if case.tokens:
        return [rng.integers(0, case.tokens, (BATCH, *s)).astype(np.int64) for s in case.inputs]
    return [rng.normal(size=(BATCH, *s)).astype(np.float32) for s in case.inputs]


def _apply(case: Case, layer: Any, inputs: list[Any]) -> Any:
    if case.call == "list":
        return layer(inputs)
    return layer(*inputs)


def _ours(case: Case) -> Any:
    return _model(case, unrolled, "int64")


def _model(case: Case, library: Any, int_dtype: str) -> Any:
    """The case's layer in a model named "model": Sequential for one input, functional for
    several; the same code builds Keras's and ours."""
    dtype = int_dtype if case.tokens else "float32"
    layer = _make(case, library.layers)
    if len(case.inputs) == 1 and case.call == "one":
        return library.Sequential([library.Input(case.inputs[0], dtype=dtype), layer], name="model")
    inputs = [library.Input(s, dtype=dtype) for s in case.inputs]
    return library.Model(inputs, _apply(case, layer, inputs), name="model")


def _randomized(model: Any) -> Any:
    """`model` with random weights (positive variances), so that moving statistics, scales
    and offsets all show in its predictions."""
    rng = np.random.default_rng(2)
    model.set_weights(
        [
            rng.uniform(*((0.5, 1.5) if "variance" in w.name else (-0.5, 0.5)), tuple(w.shape))
            for w in model.weights
        ]
    )
    return model


def _make(case: Case, module: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras 1 names (Convolution1D)
        return case.make(module)


_KERAS: dict[str, tuple[keras.Model, Path, Path]] = {}


def _keras(name: str, folder: Path) -> tuple[keras.Model, Path, Path]:
    """Keras's model with random weights, saved as .keras and .h5 (built once per module)."""
    if name not in _KERAS:
        model = _model(CASES[name], keras, "int32")
        rng = np.random.default_rng(1)
        for w in model.weights:
            low, high = (0.5, 1.5) if "variance" in w.path else (-0.5, 0.5)
            w.assign(rng.uniform(low, high, tuple(w.shape)).astype(w.dtype))
        stem = name.replace("/", "-")
        keras_file, h5_file = folder / f"{stem}.keras", folder / f"{stem}.h5"
        model.save(keras_file)
        model.save(h5_file)
        _KERAS[name] = (model, keras_file, h5_file)
    return _KERAS[name]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("every_layer")


def _predict(model: Any, x: list[np.ndarray]) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out = model(*[torch.as_tensor(a) for a in x])
    return out.numpy()


def _layer_of(model: Any) -> Any:
    return next(layer for layer in model.layers if layer.name == "layer")


# -- 1, 2: summary and shape trace ------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_summary_and_shape_trace_show_the_layer_with_keras_output_shape(
    name: str, folder: Path
) -> None:
    case = CASES[name]
    ours = _ours(case)
    keras_model, _, _ = _keras(name, folder)
    want = tuple(keras_model.output_shape)
    assert tuple(ours.output_shape) == want

    text = ours.summary(print_fn=lambda *a, **k: None)
    row = next(line for line in text.splitlines() if line.lstrip().startswith("layer "))
    assert str(want).replace(" ", "") in row.replace(" ", ""), row

    trace = shape_trace(ours)
    rows = [r for r in trace.rows if r.layer == "layer"]
    assert rows and tuple(rows[-1].output_shape) == want, trace
    assert "layer" in str(trace)


@pytest.mark.parametrize("name", NAMES)
def test_weights_in_keras_order_with_keras_names_and_paths(name: str, folder: Path) -> None:
    ours, (keras_model, _, _) = _ours(CASES[name]), _keras(name, folder)
    assert [(w.path, tuple(w.shape)) for w in ours.weights] == [
        (w.path, tuple(w.shape)) for w in keras_model.weights
    ]
    assert [w.name for w in ours.weights] == [w.name for w in keras_model.weights]


# -- 3: our file format ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_saves_and_loads_in_our_format_with_the_same_predictions(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    model = _randomized(_ours(case))
    x = _data(case)
    want = _predict(model, x)
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.models.load_model(tmp_path / "m.unrolled")
    assert type(_layer_of(loaded)) is type(_layer_of(model))
    np.testing.assert_allclose(_predict(loaded, x), want, atol=TOL, rtol=0)


# -- 4: Keras files -------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name", NAMES)
def test_imports_from_keras_files_with_keras_predictions(
    name: str, suffix: str, folder: Path
) -> None:
    case = CASES[name]
    keras_model, keras_file, h5_file = _keras(name, folder)
    x = _data(case)
    want = keras.ops.convert_to_numpy(
        keras_model(
            [keras.ops.convert_to_tensor(a) for a in x] if len(x) > 1 else x[0], training=False
        )
    )
    path = keras_file if suffix == ".keras" else h5_file
    if case.keras_import_refuses is not None:
        with pytest.raises(UnsupportedLayerError, match=case.keras_import_refuses):
            from_keras(path)
        return
    ours = from_keras(path)
    np.testing.assert_allclose(_predict(ours, x), want, atol=TOL, rtol=0)


# -- 5: ONNX --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_exports_to_onnx_equal_to_eager_or_refuses_naming_the_layer(
    name: str, tmp_path: Path
) -> None:
    case = CASES[name]
    model = _randomized(_ours(case))
    x = _data(case)
    try:
        sig = to_onnx(model, tmp_path / "m.onnx")
    except ConfigError as error:
        layer = _layer_of(model)
        names = {type(layer).__name__, type(getattr(layer, "cell", layer)).__name__}
        assert any(n in str(error) for n in names), f"the refusal names no layer: {error}"
        return
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(sig.path), options)
    (got,) = session.run(None, dict(zip(sig.inputs, x)))
    np.testing.assert_allclose(got, _predict(model, x), atol=TOL, rtol=0)


# -- 6: bad input ---------------------------------------------------------------------------------
def _assert_shape_error_in_our_words(call: Any) -> None:
    try:
        call()
    except ShapeError as error:
        message = str(error)
        assert "samples" in message, message
        assert re.search(r"[Ee]xpect|must", message), message
        return
    except Exception as error:  # noqa: BLE001 - the point: no other error type
        pytest.fail(f"{type(error).__name__} instead of ShapeError: {error}")
    pytest.fail("no error for a bad input")


def _bad_inputs(case: Case, first: tuple[int, ...]) -> list[torch.Tensor]:
    xs = [torch.as_tensor(a) for a in _data(case)]
    dtype = xs[0].dtype
    xs[0] = torch.zeros((BATCH, *first), dtype=dtype)
    return xs


@pytest.mark.parametrize("which", ["fewer", "more"])
@pytest.mark.parametrize("name", NAMES)
def test_an_input_of_the_wrong_rank_is_a_shape_error(name: str, which: str) -> None:
    case = CASES[name]
    shape = getattr(case, which)
    if shape is None:
        return  # the layer takes any rank here, as Keras's does
    layer = _make(case, unrolled.layers)
    xs = _bad_inputs(case, shape)
    _assert_shape_error_in_our_words(lambda: _apply(case, layer, xs))


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n].wider is not None])
def test_another_feature_size_after_the_build_is_a_shape_error(name: str) -> None:
    case = CASES[name]
    model = _ours(case)
    xs = _bad_inputs(case, case.wider)
    _assert_shape_error_in_our_words(lambda: model(*xs))


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n].wider is not None])
def test_a_built_layer_given_another_feature_size_is_a_shape_error(name: str) -> None:
    case = CASES[name]
    layer = _make(case, unrolled.layers)
    _apply(case, layer, [torch.as_tensor(a) for a in _data(case)])  # builds it
    xs = _bad_inputs(case, case.wider)
    with pytest.raises(ShapeError, match=r"(expect|built for).*(features|channels|shape)"):
        _apply(case, layer, xs)


def _zeros(*shape: int) -> torch.Tensor:
    return torch.zeros(shape)


L = unrolled.layers
# Bad inputs beyond the rank that torch would fail on inside its kernels.
BAD_CALLS = {
    "conv1d_window_longer_than_the_input": lambda: L.Conv1D(2, 5)(_zeros(2, 4, 3)),
    "conv2d_dilated_window_larger_than_the_image": lambda: L.Conv2D(2, 3, dilation_rate=2)(
        _zeros(2, 4, 4, 2)
    ),
    "conv3d_window_larger_than_the_volume": lambda: L.Conv3D(2, 4)(_zeros(2, 3, 3, 3, 1)),
    "max_pooling1d_window_longer_than_the_input": lambda: L.MaxPooling1D(5)(_zeros(2, 4, 3)),
    "average_pooling2d_window_larger_than_the_image": lambda: L.AveragePooling2D(5)(
        _zeros(2, 4, 4, 2)
    ),
    "attention_samples_differ": lambda: L.Attention()([_zeros(2, 4, 3), _zeros(3, 4, 3)]),
    "additive_attention_key_samples_differ": lambda: L.AdditiveAttention()(
        [_zeros(2, 4, 3), _zeros(2, 4, 3), _zeros(3, 4, 3)]
    ),
    "multi_head_attention_samples_differ": lambda: L.MultiHeadAttention(2, 2)(
        _zeros(2, 4, 3), _zeros(3, 4, 3)
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_sizes_torch_would_fail_on_are_a_shape_error(name: str) -> None:
    with pytest.raises(ShapeError, match=r"smaller than the window|same samples axis"):
        BAD_CALLS[name]()


def test_a_window_larger_than_the_input_is_refused_when_the_model_is_built() -> None:
    # Keras refuses it at the same point: "Computed output size would be negative".
    with pytest.raises(ShapeError, match=r"smaller than the window \(5,\)"):
        unrolled.Sequential([unrolled.Input((4, 3)), L.Conv1D(2, 5)])


def _steps(*shape: int) -> torch.Tensor:
    return torch.ones(shape, dtype=torch.bool)


# Masks of other steps than their inputs: torch would broadcast them or fail inside.
BAD_MASKS = {
    "global_average_pooling1d": lambda: L.GlobalAveragePooling1D()(
        _zeros(2, 4, 3), mask=_steps(2, 5)
    ),
    "attention_value_mask": lambda: L.Attention()(
        [_zeros(2, 4, 3), _zeros(2, 5, 3)], mask=[None, _steps(2, 4)]
    ),
    "additive_attention_query_mask": lambda: L.AdditiveAttention()(
        [_zeros(2, 4, 3), _zeros(2, 5, 3)], mask=[_steps(2, 5), None]
    ),
    "multi_head_attention_attention_mask": lambda: L.MultiHeadAttention(2, 2)(
        _zeros(2, 4, 3), _zeros(2, 5, 3), attention_mask=_steps(2, 4, 4)
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_MASKS))
def test_a_mask_of_other_steps_is_a_shape_error(name: str) -> None:
    with pytest.raises(ShapeError, match=r"mask must have shape \(samples, (timesteps|T, S)\)"):
        BAD_MASKS[name]()


# Sequential models without an Input, built from their first array as Keras builds them.
UNSIZED = {
    "conv2d_flatten_dense": (lambda lib: [lib.Conv2D(2, 2), lib.Flatten(), lib.Dense(1)], IMAGE),
    "lstm_sequences_flatten_dense": (
        lambda lib: [lib.LSTM(2, return_sequences=True), lib.Flatten(), lib.Dense(1)],
        (4, 3),
    ),
    "prelu_first": (lambda lib: [lib.PReLU(), lib.Dense(1)], (4, 3)),
    "conv_lstm2d_first": (lambda lib: [lib.ConvLSTM2D(2, 2)], (3, 4, 4, 2)),
}


@pytest.mark.parametrize("name", sorted(UNSIZED))
def test_a_sequential_without_input_predicts_as_keras(name: str) -> None:
    layers, shape = UNSIZED[name]
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
    want = keras.Sequential(layers(keras.layers)).predict(x, verbose=0).shape
    assert unrolled.Sequential(layers(L)).predict(x, verbose=0).shape == want


def test_a_recurrent_sequential_without_input_still_takes_other_timesteps() -> None:
    # Only the features axis is fixed where the layers allow it (Keras runs other lengths too).
    model = unrolled.Sequential([L.LSTM(3), L.Dense(1)])
    model.predict(np.zeros((2, 5, 1), np.float32), verbose=0)
    assert model.predict(np.zeros((2, 8, 1), np.float32), verbose=0).shape == (2, 1)
