"""Model files: `load_model`, and the path checks of `model.save` and `save_weights`.

One file holds everything a model is (see `unrolled.saving.archive` for the layout):
the architecture as JSON, weights and stateful layers' states as safetensors, and when
the model was compiled, the compile arguments and the optimizer's state, so that `fit`
continues after loading exactly as if the model had never been saved. Loading never runs
code from the file: classes come from a registry, tensors from safetensors.

Keras differences: Keras's `.keras` and `.h5` files are HDF5 inside; ours are not, and
Keras cannot read them. `model.save("m.keras")` / `"m.h5"` still writes our format, with
a warning; `.unrolled` is the suffix to use. Stateful layers' states are saved (Keras loses
them). Keras files are imported with `unrolled.interop.from_keras(path)`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from unrolled import files
from unrolled.errors import ConfigError, FileFormatError
from unrolled.saving import archive, serialization, weights
from unrolled.training import checkpoint

_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_WARNED: set[tuple[str, str]] = set()


def load_model(
    filepath: str | os.PathLike[str],
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,  # noqa: A002 - Keras's argument name
    safe_mode: bool = True,
) -> Any:
    """Loads a model saved by `model.save(path)`: architecture, weights, states, compile state.

    Nothing in the file is executed: classes are looked up in the registry (unrolled's own,
    those registered with `@unrolled.saving.register_serializable()`, and `custom_objects`),
    tensors are read as safetensors, and everything is checked before the model is returned.

    Args:
        filepath: a file written by `model.save`.
        custom_objects: `{"ClassName": cls}` for classes or functions not registered.
        compile: also compile the model as it was, and restore its optimizer's state.
        safe_mode: accepted for Keras compatibility; loading is always safe here.

    Returns:
        A new model on the CPU (move it with `.to(device)`), compiled as it was when
        `compile=True` and the file holds compile arguments.

    Raises:
        MissingFileError (a FileNotFoundError and a ValueError): no such file.
        FileFormatError: anything wrong with the file: not ours, truncated or corrupted,
            from a newer format version, an unknown class, a missing tensor or a tensor of
            the wrong shape. No half-loaded model is ever returned.

    Example:
        >>> model = Sequential([Input((24, 1)), LSTM(8), Dense(1)])
        >>> model.save("forecaster.unrolled")
        >>> restored = load_model("forecaster.unrolled")
    """
    path = archive.existing_file(filepath)
    what = f"Model file {path!r}"
    saved = archive.read(path)
    spec = saved.config.get("model")
    if not serialization.is_spec(spec):
        raise FileFormatError(f"{what}: config.json has no model spec (corrupted).")
    tensors, _ = files.tensors_from_bytes(saved.weights, f"{what} ({archive.WEIGHTS})")
    # Building draws initial weights that the file replaces: leave the caller's random
    # stream as it was, so loading does not change what a later fit shuffles or drops.
    with torch.random.fork_rng(devices=[]):
        model = serialization.deserialize_object(spec, custom_objects, "the model")
    if not isinstance(model, nn.Module):
        raise FileFormatError(
            f"{what}: its model spec builds a {type(model).__name__}, not a model."
        )
    weights.match_dtype(model, tensors)
    weights.load_state(model, tensors, what)
    compile_config = saved.config.get("compile_config")
    if compile and compile_config is not None and hasattr(model, "compile_from_config"):
        model.compile_from_config(compile_config, custom_objects)
        if saved.optimizer_tensors is not None and saved.optimizer_json is not None:
            slots, _ = files.tensors_from_bytes(
                saved.optimizer_tensors, f"{what} ({archive.OPTIMIZER_TENSORS})"
            )
            trainer = model._trainer or model._make_trainer()
            checkpoint.load_optimizer_state(
                trainer.optimizer, model, slots, saved.optimizer_json, what
            )
    return model


def checked_path(filepath: Any, overwrite: bool, method: str) -> str:
    """`filepath` as a str once it can be written, warning (once) that Keras suffixes hold our format."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise ConfigError(
            f"{method}() needs `filepath`: a file path (str or pathlib.Path). Received: "
            f"filepath={filepath!r}"
        )
    path = os.fspath(filepath)
    if os.path.isdir(path):
        raise ConfigError(
            f"{method}() needs a file path; `filepath` {path!r} is a directory. Name a file in it."
        )
    if not overwrite and os.path.exists(path):
        raise ConfigError(f"`filepath` {path!r} exists and overwrite=False.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(
            f"{method}(): the directory of `filepath`, {directory!r}, does not exist; create it "
            "first (os.makedirs)."
        )
    suffix = next((s for s in _KERAS_SUFFIXES if path.lower().endswith(s)), None)
    if suffix is not None and (method, suffix) not in _WARNED:
        _WARNED.add((method, suffix))  # once per process: ModelCheckpoint saves every epoch
        kind = (
            "safetensors weights"
            if method == "save_weights"
            else "unrolled's model format (a zip of JSON and safetensors)"
        )
        better = ".safetensors" if method == "save_weights" else archive.SUFFIX
        warnings.warn(
            f"{method}({path!r}): the file holds {kind}, not Keras's HDF5, so Keras cannot read it; "
            f"unrolled reads it back. Name it *{better} to silence this warning (shown once).",
            UserWarning,
            stacklevel=3,
        )
    return path
