"""Each script in examples/ runs to the end; each asserts that its model learned its task."""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


def test_there_is_one_example_per_topology_in_the_seeds():
    names = {path.stem for path in EXAMPLES}
    assert {
        "one_to_one",
        "one_to_many_repeat",
        "many_to_one",
        "many_to_many",
        "many_to_many_last_n",
        "stateful_feedback",
        "autoencoder",
        "quick_start",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_learns(path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        runpy.run_path(str(path), run_name="__main__")  # each script asserts its own result
    assert capsys.readouterr().out.strip(), "an example prints what it learned"
