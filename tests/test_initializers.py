"""`unrolled.initializers` against Keras's closed-form definitions."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import torch

import unrolled
from unrolled import initializers


@pytest.mark.parametrize(
    "name, limit",
    [
        ("glorot_uniform", math.sqrt(6 / (40 + 60))),
        ("he_uniform", math.sqrt(6 / 40)),
        ("lecun_uniform", math.sqrt(3 / 40)),
        ("random_uniform", 0.05),
    ],
)
def test_uniform_initializers_stay_within_keras_limits(name, limit):
    torch.manual_seed(0)
    w = initializers.get(name)((40, 60)).numpy()
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit


@pytest.mark.parametrize(
    "name, stddev",
    [
        ("glorot_normal", math.sqrt(2 / (200 + 300))),
        ("he_normal", math.sqrt(2 / 200)),
        ("lecun_normal", math.sqrt(1 / 200)),
    ],
)
def test_truncated_normal_initializers_have_keras_variance_and_two_sigma_cut(name, stddev):
    torch.manual_seed(0)
    w = initializers.get(name)((200, 300)).numpy()
    assert abs(w.std() - stddev) < 0.03 * stddev
    # Keras truncates at two standard deviations of the untruncated normal.
    assert np.abs(w).max() <= 2 * stddev / 0.87962566103423978 + 1e-7


@pytest.mark.parametrize("shape", [(5, 5), (4, 12), (12, 4)])
def test_orthogonal_has_orthonormal_rows_or_columns(shape):
    torch.manual_seed(0)
    q = initializers.get("orthogonal")(shape).numpy().astype(np.float64)
    small = min(shape)
    gram = q @ q.T if shape[0] <= shape[1] else q.T @ q
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def test_constant_initializers():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3)).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.get("ones")((2, 3)).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(initializers.get("identity")((3, 3)).numpy(), np.eye(3))


def test_unknown_initializer_raises_config_error_listing_known_names():
    with pytest.raises(unrolled.ConfigError, match="glorot_uniform") as info:
        initializers.get("glorot_unifrom", "kernel_initializer")
    assert "kernel_initializer" in str(info.value)


def test_initializer_with_wrong_shape_raises_config_error():
    with pytest.raises(unrolled.ConfigError, match=r"\(2, 2\)"):
        initializers.initial_value(lambda shape: np.zeros((2, 2)), (3, 3), "kernel_initializer")


@pytest.mark.parametrize(
    "alias, limit",
    [
        ("uniform", 0.05),
        ("GlorotUniform", math.sqrt(6 / (40 + 60))),
        ("HeUniform", math.sqrt(6 / 40)),
    ],
)
def test_keras_alias_names_are_accepted_with_keras_limits(alias, limit):
    # Keras accepts these spellings (the RNN guide's MinimalRNNCell uses initializer="uniform").
    torch.manual_seed(0)
    w = initializers.get(alias)((40, 60)).numpy()
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit


def test_keras_alias_normal_is_random_normal_with_stddev_0_05():
    torch.manual_seed(0)
    w = initializers.get("normal")((200, 300)).numpy()
    assert abs(w.std() - 0.05) < 0.002 and abs(w.mean()) < 0.002


# -- Keras's initializer classes ----------------------------------------------------------------
I = initializers  # noqa: E741
# Keras 3.15's config keys we do not take, with the only value we accept (its default).
KERAS_ONLY = {"input_axes": None, "output_axes": None}

CLASS_CASES = [
    ("Constant", {"value": 0.5}),
    ("Zeros", {}),
    ("Ones", {}),
    ("Identity", {"gain": 2.0}),
    ("RandomNormal", {"mean": 1.0, "stddev": 0.2, "seed": 3}),
    ("RandomUniform", {"minval": -0.3, "maxval": 0.1, "seed": 3}),
    ("TruncatedNormal", {"mean": 0.0, "stddev": 0.1, "seed": 3}),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": 3}),
    ("GlorotUniform", {"seed": 3}),
    ("GlorotNormal", {"seed": 3}),
    ("HeUniform", {"seed": 3}),
    ("HeNormal", {"seed": 3}),
    ("LecunUniform", {"seed": 3}),
    ("LecunNormal", {"seed": 3}),
    ("Orthogonal", {"gain": 1.5, "seed": 3}),
]


@pytest.mark.parametrize("name, options", CLASS_CASES, ids=[c[0] for c in CLASS_CASES])
def test_each_keras_class_has_keras_config_and_distribution(name, options):
    ours, theirs = getattr(I, name)(**options), getattr(keras.initializers, name)(**options)
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    shared = ours_config.keys() & theirs_config.keys()
    assert {k: ours_config[k] for k in shared} == {k: theirs_config[k] for k in shared}
    assert {k: theirs_config[k] for k in theirs_config.keys() - shared} == {
        k: v for k, v in KERAS_ONLY.items() if k in theirs_config
    }
    # Ours names every constructor argument (Keras 3.15's Identity leaves out its gain).
    assert set(ours_config) == set(options) | ({"value"} if name == "Constant" else set())
    shape = (40, 60)
    got, want = (
        ours(shape).double().numpy(),
        keras.ops.convert_to_numpy(theirs(shape)).astype(float),
    )
    assert got.shape == want.shape
    if "seed" not in options:  # deterministic: the same numbers
        np.testing.assert_allclose(got, want, atol=1e-7)
    else:  # random: the same bounds and spread (draws differ between generators)
        assert got.min() >= want.min() - 0.05 * abs(want.min()) - 1e-6
        assert got.max() <= want.max() + 0.05 * abs(want.max()) + 1e-6
        np.testing.assert_allclose(got.std(), want.std(), rtol=0.1)
        np.testing.assert_allclose(got.mean(), want.mean(), atol=0.1 * want.std() + 1e-3)
        np.testing.assert_array_equal(
            ours(shape).numpy(), got.astype(np.float32)
        )  # seeded: repeats


def test_initializer_objects_build_layers_and_survive_saving(tmp_path):
    layer = unrolled.layers.LSTM(
        3, kernel_initializer=I.Constant(0.25), recurrent_initializer=I.Identity(gain=0.5)
    )
    model = unrolled.Sequential([unrolled.Input((4, 2)), layer, unrolled.layers.Dense(1)])
    np.testing.assert_array_equal(layer.cell.kernel.detach().numpy(), np.full((2, 12), 0.25))
    np.testing.assert_array_equal(layer.cell.recurrent_kernel.detach().numpy(), 0.5 * np.eye(3, 12))
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled")
    config = loaded.layers[0].get_config()
    assert isinstance(config["recurrent_initializer"], I.Identity)
    assert config["recurrent_initializer"].get_config() == {"gain": 0.5}
