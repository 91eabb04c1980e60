"""An optimizer made over an unbuilt model would silently miss its weights: we warn, with the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import unrolled
from unrolled.layers import LSTM, Dense, Embedding


def test_parameters_of_an_unbuilt_model_warn_with_the_fix():
    model = unrolled.Sequential([Embedding(10, 4), LSTM(3), Dense(1)])
    with pytest.warns(unrolled.UnbuiltWeightsWarning, match=r"model.build\(\(None, timesteps"):
        found = list(model.parameters())
    # The embedding exists; the LSTM and Dense weights do not yet: what the warning is for.
    assert [tuple(p.shape) for p in found] == [(10, 4)]


def test_parameters_of_a_built_model_reach_every_weight_without_a_warning():
    model = unrolled.Sequential([Embedding(10, 4), LSTM(3), Dense(1)])
    model.build((None, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer = torch.optim.Adam(model.parameters())
    shapes = [tuple(p.shape) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(shapes) == sorted([(10, 4), (4, 12), (3, 12), (12,), (3, 1), (1,)])


def test_fit_on_an_unbuilt_model_does_not_warn():
    model = unrolled.Sequential([LSTM(3), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", unrolled.UnbuiltWeightsWarning)
        model.fit(np.zeros((4, 5, 2), np.float32), np.zeros((4, 1), np.float32), verbose=0)
        model.predict(np.zeros((4, 5, 2), np.float32), verbose=0)
