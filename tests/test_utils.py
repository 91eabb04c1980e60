"""keras.utils equivalents against Keras."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from keras.utils import to_categorical as keras_to_categorical

import unrolled
from unrolled.utils import set_random_seed, to_categorical


@pytest.mark.parametrize("labels", [[0, 2, 1], [[1], [0]], np.array([[0, 1], [2, 2]])])
def test_to_categorical_equals_keras(labels):
    np.testing.assert_array_equal(
        to_categorical(labels, num_classes=3), keras_to_categorical(labels, num_classes=3)
    )


def test_to_categorical_refuses_labels_that_do_not_fit():
    with pytest.raises(unrolled.ConfigError, match="num_classes"):
        to_categorical([3], num_classes=3)


def test_set_random_seed_repeats_numpy_and_torch_draws():
    set_random_seed(5)
    first = (np.random.rand(3), torch.rand(3))
    set_random_seed(5)
    np.testing.assert_array_equal(np.random.rand(3), first[0])
    torch.testing.assert_close(torch.rand(3), first[1])
