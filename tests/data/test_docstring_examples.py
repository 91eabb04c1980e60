"""The Example sections of unrolled.data's docstrings run and print what they show."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from unrolled.data import batching, padding, scaling, splitting, windowing


@pytest.mark.parametrize("module", [batching, padding, scaling, splitting, windowing])
def test_examples_run(module):
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed
