"""Every `>>>` example in unrolled's docstrings runs and prints what it shows.

Each module under `unrolled/` is a test case, so a failure names the module. Examples run in
the namespace a reader of the docs has, not in the module's own globals: `np`, `torch`,
`unrolled` (also as `keras`, the README's `import unrolled as keras`), the public names of
`unrolled`, `unrolled.layers`, `unrolled.models`, `unrolled.explain` and
`unrolled.topologies`, and the public names of the page the example is on: the module's own
and its package's `__all__` (the docs of `unrolled.training.optimizers` say `Adam`, not
`unrolled.optimizers.Adam`). Generators are seeded before each docstring, and examples that
write files write them in a temporary directory.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from types import ModuleType

import numpy as np
import pytest
import torch

import unrolled

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SEED = 0

# Not imported: `python -m unrolled` runs the command line on import.
SKIPPED = {"unrolled.__main__"}
NUMBA_FOUND = importlib.util.find_spec("numba") is not None

# Modules whose examples are their area's documentation: they must keep some.
DOCUMENTED = [
    "unrolled.data.batching",
    "unrolled.data.padding",
    "unrolled.data.scaling",
    "unrolled.data.splitting",
    "unrolled.data.windowing",
    "unrolled.explain.diagram",
    "unrolled.explain.gates",
    "unrolled.explain.parameters",
    "unrolled.explain.plots",
    "unrolled.explain.report",
    "unrolled.explain.trace",
]


def module_names() -> list[str]:
    found = pkgutil.walk_packages(unrolled.__path__, prefix="unrolled.")
    return sorted(info.name for info in found if info.name not in SKIPPED)


def reader_namespace(module: ModuleType) -> dict[str, object]:
    """The names a reader of `module`'s docs has in scope."""
    names: dict[str, object] = {}
    for area in ("topologies", "explain", "models", "layers", ""):
        public = importlib.import_module(f"unrolled.{area}" if area else "unrolled")
        names.update({name: getattr(public, name) for name in public.__all__})
    names.update(np=np, torch=torch, unrolled=unrolled, keras=unrolled)
    package = importlib.import_module(module.__name__.rpartition(".")[0] or "unrolled")
    for public in (package, module):
        names.update({name: getattr(public, name) for name in getattr(public, "__all__", ())})
    names.update(
        (name, value)
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    )
    return names


def import_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # The compiled kernels (unrolled.compiled.*kernel*, blas, cell_steps) compile with
        # numba at import; without numba the compiled paths decline and these never load.
        if error.name == "numba" and not NUMBA_FOUND:
            pytest.skip(f"{module_name} needs numba at import, and numba is not installed")
        raise


def run_examples(module_name: str) -> tuple[doctest.TestResults, str]:
    """The module's examples counted, and doctest's report of the failed ones."""
    module = import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report: list[str] = []
    for test in finder.find(module, globs=reader_namespace(module)):
        unrolled.set_random_seed(SEED)  # each docstring's output is independent of the order
        runner.run(test, out=report.append)
    return doctest.TestResults(runner.failures, runner.tries), "".join(report)


@pytest.mark.parametrize("module_name", module_names())
def test_examples_print_what_they_show(module_name, tmp_path, monkeypatch, record_property):
    monkeypatch.chdir(tmp_path)  # examples that save files save them here
    result, report = run_examples(module_name)
    record_property("examples", result.attempted)  # 0 for a module without examples
    assert not result.failed, f"{result.failed} of {result.attempted} examples failed:\n{report}"
    if module_name in DOCUMENTED:
        assert result.attempted, f"{module_name} has no examples left"
