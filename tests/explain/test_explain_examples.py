"""The Example sections of unrolled.explain's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import unrolled as U
from unrolled import explain, topologies

MODULES = ["diagram", "gates", "parameters", "plots", "report", "trace"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, tmp_path, monkeypatch):
    module = importlib.import_module(f"unrolled.explain.{name}")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    names = {name: getattr(explain, name) for name in explain.__all__}
    names.update(np=np, LSTM=U.LSTM, many_to_one=topologies.many_to_one)
    result = doctest.testmod(module, extraglobs=names, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed
