"""Dot, Maximum, Minimum, Permute and Keras 1's merge()/Merge against Keras 3.

Values, masks and symbolic shapes come from real Keras on the same data; Keras 1's
`merge(mode=...)` is compared with the Keras 3 spelling its warning names, run in Keras.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from oracles import keras_layers as kl
from oracles.keras_oracle import rng_for

import unrolled
import unrolled.layers as L
from unrolled.errors import ConfigError, ShapeError

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

MASKS = [
    np.array([[1, 0, 1], [0, 0, 1]], bool),
    np.array([[1, 1, 0], [0, 1, 1]], bool),
    np.array([[0, 1, 0], [1, 1, 1]], bool),
]


def _data(*shape: int, key: object = None) -> np.ndarray:
    return rng_for("merging", shape, key).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("name", ["Maximum", "Minimum"])
@pytest.mark.parametrize(
    "masked", [(True, True, True), (True, True, False), (False, True, True), (False,) * 3]
)
def test_maximum_and_minimum_match_keras_values_and_masks(name, masked):
    ours_in, theirs_in = [], []
    for index, has_mask in enumerate(masked):
        theirs_x, ours_x = kl.with_mask(
            _data(2, 3, 4, key=index), MASKS[index] if has_mask else None
        )
        ours_in.append(ours_x)
        theirs_in.append(theirs_x)
    kl.assert_same(getattr(L, name)()(ours_in), getattr(keras.layers, name)()(theirs_in))
    function = getattr(L, name.lower())
    kl.assert_same(function(ours_in), getattr(keras.layers, name.lower())(theirs_in))


@pytest.mark.parametrize(
    ("axes", "first", "second"),
    [
        (1, (2, 3), (2, 3)),
        (-1, (2, 3, 4), (2, 5, 4)),
        ((1, 2), (2, 3, 5), (2, 10, 3)),
        ((2, 1), (2, 3, 4), (2, 4)),
        ([1, 1], (2, 4), (2, 4, 6)),
        ((2, 2), (2, 3, 4, 5), (2, 6, 4)),
    ],
)
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_matches_keras_values_and_shapes(axes, first, second, normalize):
    x, y = _data(*first, key="x"), _data(*second, key="y")
    theirs = keras.layers.Dot(axes, normalize=normalize)
    ours = L.Dot(axes, normalize=normalize)
    kl.assert_same(
        ours([torch.from_numpy(x), torch.from_numpy(y)]),
        theirs([torch.from_numpy(x), torch.from_numpy(y)]),
    )
    shapes = [(None, *first[1:]), (None, *second[1:])]
    assert ours.compute_output_shape(shapes) == theirs.compute_output_shape(shapes)
    symbolic = ours([unrolled.Input(first[1:]), unrolled.Input(second[1:])])
    assert symbolic.shape == theirs([keras.Input(first[1:]), keras.Input(second[1:])]).shape
    functional = L.dot([torch.from_numpy(x), torch.from_numpy(y)], axes=axes, normalize=normalize)
    kl.assert_same(functional, keras.layers.dot([x, y], axes=axes, normalize=normalize))


def test_dot_drops_masks_as_keras():
    theirs_x, ours_x = kl.with_mask(_data(2, 3, 4, key=1), MASKS[0])
    theirs_y, ours_y = kl.with_mask(_data(2, 3, 4, key=2), MASKS[1])
    kl.assert_same(L.Dot(axes=2)([ours_x, ours_y]), keras.layers.Dot(axes=2)([theirs_x, theirs_y]))


def test_permute_matches_keras_and_drops_masks_with_a_warning():
    x = _data(2, 3, 4, 5)
    for dims in [(2, 1, 3), (3, 1, 2), (1, 2, 3)]:
        kl.assert_same(
            L.Permute(dims)(torch.from_numpy(x)), keras.layers.Permute(dims)(torch.from_numpy(x))
        )
        assert (
            L.Permute(dims)(unrolled.Input((3, 4, 5))).shape
            == keras.layers.Permute(dims)(keras.Input((3, 4, 5))).shape
        )
    theirs_x, ours_x = kl.with_mask(_data(2, 3, 4), MASKS[0])
    with pytest.warns(UserWarning, match="does not support masking"):
        keras.layers.Permute((2, 1))(theirs_x)
    with pytest.warns(UserWarning, match="does not support masking"):
        out = L.Permute((2, 1))(ours_x)
    assert kl.mask_of(out) is None


@pytest.mark.parametrize(
    ("mode", "keras_spelling"),
    [
        ("sum", lambda xs: keras.layers.add(xs)),
        ("mul", lambda xs: keras.layers.multiply(xs)),
        ("ave", lambda xs: keras.layers.average(xs)),
        ("max", lambda xs: keras.layers.maximum(xs)),
        ("concat", lambda xs: keras.layers.concatenate(xs, axis=1)),
        ("dot", lambda xs: keras.layers.dot(xs, axes=2)),
        ("cos", lambda xs: keras.layers.dot(xs, axes=2, normalize=True)),
    ],
)
def test_keras1_merge_runs_its_keras3_spelling_with_a_warning(mode, keras_spelling):
    a, b = _data(2, 3, 4, key="a"), _data(2, 3, 4, key="b")
    with pytest.warns(DeprecationWarning, match="Keras 1") as caught:
        got = L.merge(
            [torch.from_numpy(a), torch.from_numpy(b)], mode=mode, concat_axis=1, dot_axes=2
        )
    assert caught[0].filename == __file__  # the warning points at the caller's line
    kl.assert_same(got, keras_spelling([torch.from_numpy(a), torch.from_numpy(b)]))
    with pytest.warns(DeprecationWarning):
        again = L.merge.merge(
            [torch.from_numpy(a), torch.from_numpy(b)], mode=mode, concat_axis=1, dot_axes=2
        )
    np.testing.assert_allclose(again.numpy(), got.numpy())


def test_keras1_merge_in_a_model_and_with_a_callable_mode():
    left, right = unrolled.Input((3,)), unrolled.Input((3,))
    with pytest.warns(DeprecationWarning, match="concatenate"):
        merged = L.merge([left, right], mode="concat", name="joined")
    model = unrolled.Model([left, right], L.Dense(2)(merged))
    assert model.layers[2].name == "joined" and model.output_shape == (None, 2)
    with pytest.warns(DeprecationWarning, match="Lambda"):
        product = L.merge(
            [torch.full((1, 2), 2.0), torch.full((1, 2), 3.0)], mode=lambda xs: xs[0] * xs[1]
        )
    assert product.tolist() == [[6.0, 6.0]]


def test_keras1_merge_and_merge_layer_refuse_clearly():
    with pytest.raises(ConfigError, match="merge mode"):
        L.merge([torch.ones(1, 2), torch.ones(1, 2)], mode="sub")
    with pytest.raises(ConfigError, match="at least 2 inputs"):
        L.merge(torch.ones(1, 2), mode="sum")
    with pytest.raises(ConfigError, match="node_indices"):
        L.merge([torch.ones(1, 2), torch.ones(1, 2)], node_indices=[0, 0])
    left = unrolled.Sequential([L.Input((3,)), L.Dense(2)])
    right = unrolled.Sequential([L.Input((3,)), L.Dense(2)])
    with pytest.raises(ConfigError, match=r"functional API.*concatenate"):
        L.Merge([left, right], mode="concat")


def test_bad_arguments_and_inputs_say_what_was_expected():
    with pytest.raises(ConfigError, match="axes"):
        L.Dot(axes="last")
    with pytest.raises(ConfigError, match="two integers"):
        L.Dot(axes=(1, 2, 3))
    with pytest.raises(ShapeError, match="axis values 3"):
        L.Dot(axes=1)([torch.zeros(2, 3), torch.zeros(2, 4)])
    with pytest.raises(ShapeError, match="samples axis"):
        L.Dot(axes=0)([torch.zeros(2, 3), torch.zeros(2, 3)])
    with pytest.raises(ShapeError, match="list of 2 inputs"):
        L.Dot(axes=1)([torch.zeros(2, 3)] * 3)
    with pytest.raises(ShapeError, match="one shape"):
        L.Maximum()([torch.zeros(2, 3), torch.zeros(2, 4)])
    with pytest.raises(ConfigError, match="consecutive and start from 1"):
        L.Permute((0, 1))
    with pytest.raises(ConfigError, match="tuple of integers"):
        L.Permute(2)
    with pytest.raises(ShapeError, match=r"3 axes \(samples and 2 more\)"):
        L.Permute((2, 1))(torch.zeros(2, 3, 4, 5))


def test_configs_round_trip_and_have_keras_keys(tmp_path):
    for ours, theirs in [
        (L.Dot(axes=(1, 2), normalize=True), keras.layers.Dot(axes=(1, 2), normalize=True)),
        (L.Maximum(), keras.layers.Maximum()),
        (L.Minimum(), keras.layers.Minimum()),
        (L.Permute((2, 1)), keras.layers.Permute((2, 1))),
    ]:
        config = ours.get_config()
        assert type(ours).from_config(config).get_config() == config
        assert set(theirs.get_config()) - {"quantization_config"} <= set(config)
    a, b = unrolled.Input((3, 4)), unrolled.Input((3, 4))
    out = L.Dot(axes=2)(
        [L.Permute((2, 1))(L.maximum([a, b])), L.Permute((2, 1))(L.minimum([a, b]))]
    )
    model = unrolled.Model([a, b], out)
    path = tmp_path / "merges.unrolled"
    model.save(path)
    arrays = [_data(2, 3, 4, key=1), _data(2, 3, 4, key=2)]
    loaded = unrolled.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(arrays, verbose=0), model.predict(arrays, verbose=0))


def test_a_keras1_file_with_a_merge_layer_is_refused_with_the_way_out():
    from unrolled.interop.keras_config import UnsupportedLayerError, build_layer

    entry = {"class_name": "Merge", "config": {"name": "merge_1", "mode": "concat"}}
    with pytest.raises(UnsupportedLayerError, match="functional API"):
        build_layer(entry, 1)
