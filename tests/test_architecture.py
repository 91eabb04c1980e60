"""The import direction of the design doc, held by an ast walk over the package.

The design doc is /work/shared/DESIGN.md, beside this repository, not in it. Under
"Suggested layout" it says: "Imports flow one way: errors/compat -> ops, data -> layers ->
training, explain, saving -> models -> interop -> cli", and that `training` knows
`torch.nn.Module`, not our layer classes. FORBIDDEN spells that out per part, with what the
code added since (`files` below everything that writes, `compiled` between training and
models); the cycle test holds "one way" for every module.
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
    # explain reads models by their attributes (models import it for summary()).
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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imported_modules(name: str) -> set[str]:
    """The unrolled modules that module `name` imports, at module level or in a function.

    `from package import thing` names the module `package.thing` when there is one, else
    the package. The parent packages Python runs first are not counted: each package's
    `__init__` re-exports its own modules, so counting them would make every one a cycle.
    """
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            found |= {
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            }
    return (found & MODULES.keys()) - {name}


def test_no_import_cycle_among_modules() -> None:
    graph = {name: _imported_modules(name) for name in MODULES}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        for imported in sorted(graph[name]):
            if imported in trail:
                cycle = " -> ".join([*trail[trail.index(imported) :], imported])
                pytest.fail(f"import cycle: {cycle}; move what they share below both.")
            if imported not in done:
                visit(imported, [*trail, imported])
        done.add(name)

    for name in sorted(graph):
        visit(name, [name])


# One home per cell kind: unrolled/ops/cell_kinds.py. Elsewhere a torch or ONNX recurrent
# operator, or a gate order, is read from its CellKind record, never written again.
CELL_KIND_HOME = PACKAGE / "ops" / "cell_kinds.py"
TORCH_OPERATORS = {"lstm", "gru", "rnn_tanh", "rnn_relu"}
OPERATOR_NAMES = TORCH_OPERATORS | {f"{name}_cell" for name in TORCH_OPERATORS}
GATE_ORDERS = {"ifco", "ifgo", "iofc", "icfo", "zrh", "rzn", "zrn"}
ONNX_RECURRENT = {"LSTM", "GRU", "RNN"}
# Keras's LSTM gate permutations as literals: to ONNX, from Keras 1 files. (GRU's (1, 0, 2)
# to torch reads like an axis transpose, so it is not searched for.)
PERMUTATIONS = {(0, 3, 1, 2), (0, 2, 1, 3)}


def _kind_tables(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in OPERATOR_NAMES:
            base = node.value
            if isinstance(base, ast.Name) and base.id in {"torch", "_VF"}:
                found.append(f"line {node.lineno}: torch.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in GATE_ORDERS or node.value in {"rnn_tanh", "rnn_relu"}:
                found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, (ast.Tuple, ast.List)) and all(
            isinstance(e, ast.Constant) and type(e.value) is int for e in node.elts
        ):
            if tuple(e.value for e in node.elts) in PERMUTATIONS:
                found.append(f"line {node.lineno}: gate permutation {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "make_node":
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and first.value in ONNX_RECURRENT:
                found.append(f"line {node.lineno}: ONNX operator {first.value!r}")
        elif isinstance(node, ast.Compare) and any(
            isinstance(c, ast.Constant) and c.value in TORCH_OPERATORS for c in node.comparators
        ):
            found.append(f"line {node.lineno}: compares with an operator name")
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if p != CELL_KIND_HOME],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_cell_kind_home_names_operators_and_gate_orders(path: Path) -> None:
    found = _kind_tables(path)
    assert not found, f"{path.relative_to(PACKAGE)} restates a cell kind: {found}"


def test_the_cell_kind_check_finds_a_restated_table(tmp_path: Path) -> None:
    restated = tmp_path / "restated.py"
    restated.write_text(
        "import torch\n"
        "OPS = {'lstm': torch.lstm}\n"
        "order = [0, 3, 1, 2]\n"
        "if kind == 'gru':\n    pass\n"
        "node = helper.make_node('LSTM', inputs, outputs)\n"
    )
    assert len(_kind_tables(restated)) == 4
