"""The error classes and the helpers that phrase them (`unrolled.errors`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled import errors


@pytest.mark.parametrize(
    "cls, builtin",
    [
        (unrolled.ShapeError, ValueError),
        (unrolled.ConfigError, ValueError),
        (unrolled.InputTypeError, TypeError),
    ],
)
def test_error_classes_are_keras_compatible_builtins_and_unrolled_errors(cls, builtin):
    assert issubclass(cls, builtin)
    assert issubclass(cls, unrolled.UnrolledError)
    assert not issubclass(cls, RuntimeError)


@pytest.mark.parametrize(
    "shape, text",
    [((32, 10, 3), "(32, 10, 3)"), ((None, 5), "(None, 5)"), ((7,), "(7,)"), ((), "()")],
)
def test_shape_str_writes_python_tuples(shape, text):
    assert errors.shape_str(shape) == text


@pytest.mark.parametrize("value", [1, 4, np.int64(4), np.int32(2), torch.tensor(3)])
def test_positive_int_accepts_integral_values(value):
    assert errors.positive_int(value, "units") == int(value)
    assert type(errors.positive_int(value, "units")) is int


@pytest.mark.parametrize("value", [0, -1, 2.5, 4.0, "4", True, None, float("nan")])
def test_positive_int_rejects_other_values_naming_the_argument(value):
    with pytest.raises(unrolled.ConfigError, match="`units`"):
        errors.positive_int(value, "units")


@pytest.mark.parametrize("value, expected", [(0, 0.0), (0.5, 0.5), (1, 1.0), ("0.25", 0.25)])
def test_rate_accepts_numbers_in_unit_interval(value, expected):
    assert errors.rate(value, "dropout") == expected


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "half", None])
def test_rate_rejects_values_outside_unit_interval(value):
    with pytest.raises(unrolled.ConfigError, match="`dropout`"):
        errors.rate(value, "dropout")
