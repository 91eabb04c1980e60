"""`unrolled.initializers` against Keras's closed-form definitions."""

from __future__ import annotations

import math

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
