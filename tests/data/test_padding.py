"""pad_sequences against Keras's own function."""

from __future__ import annotations

import numpy as np
import pytest
from keras.utils import pad_sequences as keras_pad

import unrolled
from unrolled.data import pad_sequences

SEQUENCES = [[1, 2, 3, 4], [5], [], [6, 7]]


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 2, 3, 6])
def test_padding_and_truncating_equal_keras(padding, truncating, maxlen):
    want = keras_pad(SEQUENCES, maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    got = pad_sequences(SEQUENCES, maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


def test_feature_vectors_and_float_dtype_equal_keras():
    sequences = [np.ones((3, 2)) * 0.5, np.ones((1, 2))]
    want = keras_pad(sequences, dtype="float32", padding="post")
    np.testing.assert_array_equal(pad_sequences(sequences, dtype="float32", padding="post"), want)


def test_bad_arguments_are_named():
    with pytest.raises(unrolled.ConfigError, match="padding"):
        pad_sequences(SEQUENCES, padding="middle")
    with pytest.raises(unrolled.ConfigError, match="maxlen"):
        pad_sequences(SEQUENCES, maxlen=-1)
    with pytest.raises(unrolled.ShapeError, match="step shapes"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
