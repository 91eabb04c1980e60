"""`unrolled.activations` against Keras 3's closed-form definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled import activations

X = torch.linspace(-5, 5, 41)
XN = X.numpy().astype(np.float64)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("tanh", np.tanh(XN)),
        ("sigmoid", 1 / (1 + np.exp(-XN))),
        ("relu", np.maximum(XN, 0)),
        ("linear", XN),
        ("hard_sigmoid", np.clip(XN + 3, 0, 6) / 6),  # Keras 3, not Keras 2's 0.2x + 0.5
        ("leaky_relu", np.where(XN > 0, XN, 0.2 * XN)),  # Keras's slope 0.2
        ("softsign", XN / (1 + np.abs(XN))),
    ],
)
def test_activation_matches_keras_formula(name, expected):
    np.testing.assert_allclose(activations.get(name)(X).numpy(), expected, atol=1e-6)


def test_none_means_linear_and_callables_pass_through():
    np.testing.assert_array_equal(activations.get(None)(X).numpy(), X.numpy())
    fn = torch.sin
    assert activations.get(fn) is fn
    assert activations.name_of(fn) is None
    assert activations.serialize(fn) is fn


def test_name_lookup_is_case_insensitive_and_names_round_trip():
    assert activations.name_of(activations.get("TANH")) == "tanh"
    assert activations.serialize(activations.get("relu")) == "relu"


def test_unknown_activation_raises_config_error_listing_known_names():
    with pytest.raises(unrolled.ConfigError) as info:
        activations.get("tanhh", "activation")
    assert "tanhh" in str(info.value) and "sigmoid" in str(info.value) and "relu" in str(info.value)
