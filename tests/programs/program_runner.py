"""Runs a Keras script twice, in real Keras 3 and in unrolled, and compares what it leaves.

A script in `scripts/` is a Keras program as a user writes it (`import keras`,
`from keras.layers import ...`), cut into cells by `# %% <name>` lines. `run_both` runs it
once as written, in real Keras 3 on the torch backend (the oracle), and once with only its
import lines pointed at `unrolled` (`for_unrolled`). After the cell named
`Program.share_after` (usually `build`), both models get the same weights, drawn with NumPy
in the shapes of Keras's `model.weights`: the one step a test adds to a user's script.
`assert_programs_agree` then compares the values the script leaves behind (predictions,
evaluation, loss histories) and the trained weights, to 1e-4.

Where Keras 3 refuses a script's own spelling (Keras 1 names), `Program.keras3_script`
names a Keras 3 spelling of the same program in `scripts/keras3/` to serve as the oracle.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

SCRIPTS = Path(__file__).resolve().parent / "scripts"
TOL = {"atol": 1e-4, "rtol": 1e-4}


@dataclass(frozen=True)
class Program:
    """One script and what its two runs must agree on.

    Args:
        name: the script's file stem in `scripts/`.
        compare: names the script leaves in its namespace whose values must agree.
        share_after: the cell after which both sides get the same weights.
        models: the names of the models whose weights are shared (and compared at the end).
        trained_weights_agree: compare the models' weights after the script ran (it trains
            deterministically); False where training draws dropout masks.
        keras3_script: a Keras 3 spelling of the program, run on the Keras side instead.
        by_layer: share weights layer by layer, matched by place in `model.layers` and class,
            instead of as the model's whole `get_weights()` list.
        weight_scale: the standard deviation of the drawn weights; large enough that the
            outputs compared are not near-constant.
    """

    name: str
    compare: tuple[str, ...]
    share_after: str = "build"
    models: tuple[str, ...] = ("model",)
    trained_weights_agree: bool = True
    keras3_script: str | None = None
    by_layer: bool = False
    weight_scale: float = 0.3


def cells(source: str) -> list[tuple[str, str]]:
    """Splits a script at its `# %% <name>` markers into (name, code) cells, in order."""
    parts = re.split(r"^# %% (\w+)\s*$", source, flags=re.M)
    # parts: [preamble, name1, code1, name2, code2, ...]; the preamble is the docstring.
    named = list(zip(parts[1::2], parts[2::2]))
    head = parts[0]
    return [("preamble", head), *named]


def for_unrolled(source: str) -> str:
    """The user's one change: the import lines name `unrolled` instead of `keras`."""
    source = re.sub(r"^(\s*)import keras$", r"\1import unrolled as keras", source, flags=re.M)
    return re.sub(r"^(\s*)from keras(?=[.\s])", r"\1from unrolled", source, flags=re.M)


def draw_weights(key: str, variables: list, scale: float) -> list[np.ndarray]:
    """Seed-independent weights in the shapes of Keras variables (a model's or a layer's).

    Moving variances stay positive; everything else is a small normal draw.
    """
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    weights = []
    for variable in variables:
        shape = tuple(variable.shape)
        draw = rng.normal(size=shape) * scale
        if "variance" in variable.path:
            draw = np.abs(draw) + 0.5
        weights.append(draw.astype(np.float32))
    return weights


def run(source: str, filename: str, program: Program, weights: dict | None) -> dict:
    """Runs the script's cells in one namespace; shares weights after `program.share_after`.

    With `weights` None (the Keras run), draws them and records them in the namespace under
    `__weights__` so the unrolled run can set the same ones.
    """
    namespace: dict[str, Any] = {"__name__": "__program__"}
    drawn: dict[str, list[np.ndarray]] = {}
    for name, code in cells(source):
        exec(compile(code, f"{filename}:{name}", "exec"), namespace)
        if name != program.share_after:
            continue
        for model_name in program.models:
            model = namespace[model_name]
            parts = (
                [layer for layer in model.layers if layer.weights] if program.by_layer else [model]
            )
            for index, part in enumerate(parts):
                # Layers are matched by their place in Keras's order of `model.layers` and
                # their class, not by automatic names: those count every layer the process
                # made before, so they drift apart between the two libraries.
                where = f"/{index}:{type(part).__name__}" if program.by_layer else ""
                key = f"{program.name}/{model_name}{where}"
                if weights is None:
                    drawn[key] = draw_weights(key, part.weights, program.weight_scale)
                part.set_weights(weights[key] if weights else drawn[key])
    namespace["__weights__"] = drawn
    return namespace


def as_arrays(value: Any) -> list[np.ndarray]:
    """A program's value (array, scalar, list of arrays, History) as a flat list of arrays."""
    if hasattr(value, "history"):  # keras.callbacks.History
        return [np.asarray(value.history[key]) for key in sorted(value.history)]
    if isinstance(value, (list, tuple)):
        return [a for item in value for a in as_arrays(item)]
    return [np.asarray(keras.ops.convert_to_numpy(value) if hasattr(value, "device") else value)]


def run_both(program: Program) -> tuple[dict, dict]:
    """(unrolled's namespace, Keras's namespace) after running the program in each."""
    source = (SCRIPTS / f"{program.name}.py").read_text()
    keras_path = SCRIPTS / (program.keras3_script or f"{program.name}.py")
    theirs = run(keras_path.read_text(), str(keras_path), program, None)
    ours = run(
        for_unrolled(source), f"{program.name}.py (unrolled)", program, theirs["__weights__"]
    )
    return ours, theirs


def assert_programs_agree(program: Program, ours: dict, theirs: dict) -> None:
    """The compared values, and (where training is deterministic) the final weights, agree."""
    for name in program.compare:
        got, want = as_arrays(ours[name]), as_arrays(theirs[name])
        assert len(got) == len(want), (name, len(got), len(want))
        for index, (g, w) in enumerate(zip(got, want)):
            assert g.shape == w.shape, (name, index, g.shape, w.shape)
            if w.dtype.kind in "USO":  # decoded text, labels
                np.testing.assert_array_equal(g, w, err_msg=f"{name}[{index}]")
            else:
                np.testing.assert_allclose(g, w, **TOL, err_msg=f"{name}[{index}]")
    if program.trained_weights_agree:
        for model_name in program.models:
            mine, keras_model = ours[model_name], theirs[model_name]
            pairs = [(mine, keras_model)]
            if program.by_layer:
                pairs = list(zip(mine.layers, keras_model.layers, strict=True))
            for our_part, keras_part in pairs:
                got, want = our_part.get_weights(), keras_part.get_weights()
                assert len(got) == len(want), (model_name, keras_part.name)
                for index, (g, w) in enumerate(zip(got, want)):
                    where = f"{model_name} {keras_part.name} weight {index}"
                    np.testing.assert_allclose(g, w, **TOL, err_msg=where)
