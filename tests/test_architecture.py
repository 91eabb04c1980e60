"""The import direction of DESIGN.md, held by an ast walk over the package.

errors/compat -> ops, datasets -> layers: a lower module never imports a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "unrolled"
# Each top-level module or subpackage, and the ones it must not import.
FORBIDDEN = {
    "errors": {"compat", "naming", "activations", "initializers", "ops", "layers", "datasets"},
    "naming": {"activations", "initializers", "ops", "layers", "models", "training"},
    "compat": {"ops", "layers", "datasets"},
    "activations": {"ops", "layers"},
    "initializers": {"ops", "layers"},
    "ops": {"layers", "datasets", "compiled"},
    "datasets": {"ops", "layers"},
    # data prepares arrays for any model: NumPy and torch only.
    "data": {"layers", "models", "training"},
    # training drives any torch.nn.Module: it must not know our layer or model classes.
    # Nor the file format above it: checkpoints use only `files`.
    "training": {"layers", "models", "saving", "interop", "compiled"},
    # Compiled kernels know layers and training; models hand them to the Trainer.
    "compiled": {"models", "saving", "interop", "cli"},
    # Atomic writes and checked safetensors sit below everything that writes files.
    "files": {
        "compat",
        "naming",
        "ops",
        "layers",
        "models",
        "training",
        "saving",
        "interop",
        "cli",
    },
    # The file format knows layers and training; models register themselves with it.
    "saving": {"models", "interop", "cli"},
    # Keras import and ONNX export sit above the models they build and walk.
    "layers": {"interop", "compiled"},
    "models": {"interop"},
    # explain reads models by their attributes (models import it lazily for summary()).
    "explain": {"models", "training", "saving", "interop", "cli"},
}


def _unrolled_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("unrolled."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("unrolled.")}
    return names


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_lower_modules_do_not_import_higher_ones(part: str) -> None:
    files = (
        [PACKAGE / f"{part}.py"]
        if (PACKAGE / f"{part}.py").exists()
        else sorted((PACKAGE / part).rglob("*.py"))
    )
    assert files, f"no source found for {part}"
    for path in files:
        wrong = _unrolled_imports(path) & FORBIDDEN[part]
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}"
