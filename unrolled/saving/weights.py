"""A module's tensors to and from files: weights and buffers by `state_dict()` name.

Loading checks every name and shape against the module first and copies only when all
fit, so a bad file never leaves a half-loaded model. A stateful recurrent layer's states
may come at another batch size than the layer has (they define it), or be absent (the
layer keeps its zeros): a layer creates its state buffers at its first batch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch
from torch import nn

from unrolled import files, state_names
from unrolled.errors import FileFormatError
from unrolled.layers.base import Layer
from unrolled.layers.cell import Cell
from unrolled.layers.recurrent import RNN
from unrolled.saving import archive

WEIGHTS_FORMAT = "unrolled.weights"


def save_weights(module: nn.Module, path: str | os.PathLike[str]) -> None:
    """Writes `module.state_dict()` to a safetensors file, atomically."""
    metadata = {"format": WEIGHTS_FORMAT, "format_version": str(archive.FORMAT_VERSION)}
    files.write_bytes(path, files.tensors_to_bytes(module.state_dict(), metadata))


def read_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (safetensors) or of a model file's weights member.

    Raises:
        FileFormatError: not one of those, or damaged.
    """
    path = os.fspath(path)
    if archive.is_archive(path):
        return files.tensors_from_bytes(
            archive.read(path).weights, f"Model file {path!r} ({archive.WEIGHTS})"
        )[0]
    with open(path, "rb") as file:
        data = file.read()
    what = f"Weights file {path!r}"
    if data.startswith(b"\x89HDF"):
        raise FileFormatError(
            f"{what} is an HDF5 file (Keras's .h5 weights). Import Keras models with "
            "unrolled.interop.from_keras(path); unrolled's own weights files are safetensors."
        )
    tensors, metadata = files.tensors_from_bytes(data, what)
    version = metadata.get("format_version", "1")
    if metadata.get("format") == WEIGHTS_FORMAT and (
        not version.isdigit() or int(version) > archive.FORMAT_VERSION
    ):
        raise FileFormatError(
            f"{what} was written in format version {version}; this unrolled reads versions up "
            f"to {archive.FORMAT_VERSION}. Upgrade unrolled to load it."
        )
    return tensors


def load_state(
    module: nn.Module,
    tensors: dict[str, torch.Tensor],
    what: str,
    skip_mismatch: bool = False,
) -> None:
    """Copies `tensors` into `module` by name, after checking all of them.

    Args:
        skip_mismatch: load what fits and warn about the rest (Keras's `skip_mismatch`),
            instead of raising.

    Raises:
        FileFormatError: a tensor the module has is missing, one it lacks is present, or a
            shape differs. Nothing has been copied then.

    Names of an older layout (`_layers.0.cell.kernel`) are read as today's (`state_names`).
    """
    tensors = state_names.current_names(module, tensors)
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    states = _state_sizes(module)
    if skip_mismatch:
        kept = _fitting(expected, tensors, states, what)
        current = module.state_dict()
        tensors = {
            **{k: v for k, v in current.items() if k not in kept and k not in states},
            **kept,
        }
    files.check_shapes(
        {k: v for k, v in expected.items() if k not in states},
        {k: v for k, v in tensors.items() if k not in states},
        what,
        describe=_describer(module),
    )
    for name, value in tensors.items():
        if name in states and tuple(value.shape[1:]) != states[name]:
            shape = ", ".join(str(d) for d in states[name])
            raise FileFormatError(
                f"{what}: stateful state {name!r} has shape {tuple(value.shape)}; the layer "
                f"keeps states of shape (batch_size, {shape})."
            )
    current = module.state_dict()
    # States the file lacks keep their current values (zeros until a batch has run).
    complete = {**{k: current[k] for k in states if k in current and k not in tensors}, **tensors}
    try:
        module.load_state_dict(complete, strict=True)
    except RuntimeError as error:  # checked above; kept for modules with their own rules
        raise FileFormatError(f"{what} does not fit the model: {error}") from None


def _describer(module: nn.Module) -> Callable[[str], str]:
    # "'0.cell.kernel' (layer 'lstm', cell.kernel)": the name users gave or see.
    layers = {
        prefix: m
        for prefix, m in module.named_modules()
        if prefix and isinstance(m, Layer) and not isinstance(m, Cell)
    }

    def describe(name: str) -> str:
        prefix = name.rpartition(".")[0]
        while prefix and prefix not in layers:
            prefix = prefix.rpartition(".")[0]
        if not prefix:
            return repr(name)
        return f"{name!r} (layer {layers[prefix].name!r}, {name[len(prefix) + 1 :]})"

    return describe


def _state_sizes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    # Every state buffer a stateful RNN may hold, by state_dict name, with its shape after
    # the samples axis: `(units,)`, or a ConvLSTM's `(rows, cols, filters)`.
    sizes = {}
    for prefix, layer in module.named_modules():
        if isinstance(layer, RNN) and layer.stateful:
            head = f"{prefix}." if prefix else ""
            for index, shape in enumerate(layer.state_shapes()):
                sizes[f"{head}state_{index}"] = shape
    return sizes


def _fitting(
    expected: dict[str, tuple[int, ...]],
    tensors: dict[str, torch.Tensor],
    states: dict[str, tuple[int, ...]],
    what: str,
) -> dict[str, torch.Tensor]:
    kept, skipped = {}, []
    for name, value in tensors.items():
        if name in states or expected.get(name) == tuple(value.shape):
            kept[name] = value
        else:
            skipped.append(name)
    absent = [name for name in expected if name not in tensors and name not in states]
    if skipped or absent:
        warnings.warn(
            f"{what}: skip_mismatch=True skipped {len(skipped)} tensor(s) that do not fit "
            f"({skipped[:5]}) and left {len(absent)} weight(s) it lacks unchanged ({absent[:5]}).",
            stacklevel=3,
        )
    return kept


def match_dtype(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Casts a freshly built module to the floating dtype its saved weights have (float64 models)."""
    names = {name for name, _ in module.named_parameters()}
    saved = {t.dtype for name, t in tensors.items() if name in names and t.is_floating_point()}
    current = {p.dtype for p in module.parameters() if p.is_floating_point()}
    if len(saved) == 1 and saved != current:
        module.to(next(iter(saved)))
