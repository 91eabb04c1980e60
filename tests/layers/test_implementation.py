"""`implementation=0|1|2`, accepted as Keras 3 accepts it: it never changes the numbers.

Oracle: real Keras 3 with the same `implementation` and the same weights (its implementation 1
computes one matmul per gate, 2 one for all gates), with and without dropout in training.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import unrolled

X = np.random.default_rng(3).normal(size=(4, 6, 3)).astype(np.float32)


@pytest.mark.parametrize("implementation", [1, 2])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_every_implementation_gives_keras_numbers(kind, implementation):
    ours = getattr(unrolled.layers, kind)(5, implementation=implementation, return_sequences=True)
    # Keras 3's SimpleRNN takes neither argument (Keras 2's did); ours accepts it for those programs.
    options = {} if kind == "SimpleRNN" else {"implementation": implementation, "use_cudnn": False}
    theirs = getattr(keras.layers, kind)(5, return_sequences=True, **options)
    theirs(X)  # build
    ours(torch.from_numpy(X))
    ours.set_weights(theirs.get_weights())
    assert ours.implementation == implementation
    with torch.no_grad():
        got = ours(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, np.asarray(theirs(X).detach()), atol=1e-5)
    assert "implementation" not in ours.get_config()  # as Keras 3's config


def test_keras_2s_implementation_0_is_accepted_and_other_values_refused():
    assert unrolled.layers.LSTM(2, implementation=0).cell.implementation == 0
    with pytest.raises(
        unrolled.ConfigError, match="implementation.*0, 1 or 2.*Received: implementation=3"
    ):
        unrolled.layers.GRU(2, implementation=3)
