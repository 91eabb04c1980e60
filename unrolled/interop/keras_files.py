"""Reading Keras model files without Keras or TensorFlow: JSON config and weight arrays only.

Two formats:

    .keras   Keras 3: a zip of `config.json`, `metadata.json` and `model.weights.h5`. The
             weights file holds `layers/<key>/.../vars/<i>` datasets, where `<key>` is the
             layer's class name in snake case (numbered per class) and each `vars` group
             carries the layer's real name as its `name` attribute.
    .h5      legacy HDF5 (Keras 1 and 2, tf.keras 2, and Keras 3's `model.save("x.h5")`): the
             root attribute `model_config` (JSON) and a `model_weights` group with one group
             per layer. A layer group's `weight_names` attribute (split into `weight_names0`,
             `weight_names1`, ... when long) lists its datasets in the layer's weight order,
             e.g. `lstm/lstm_cell/kernel:0` (tf.keras 2) or `sequential/lstm/lstm_cell/kernel`
             (Keras 3). `model_weights.attrs["keras_version"]` says who wrote it (absent: Keras 1).

Only JSON is parsed and only numeric arrays are read: nothing in a file is executed.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unrolled.errors import ConfigError

# Sub-objects of a Keras 3 layer, in the order their weights come in `layer.weights`.
# Sub-layer groups in Keras's weight order (h5 lists groups alphabetically); the last five
# are MultiHeadAttention's projections.
_CHILD_ORDER = (
    *("forward_layer", "backward_layer", "layer", "cell", "cells"),
    *("query_dense", "key_dense", "_gate_dense", "value_dense", "output_dense"),
)


@dataclass
class KerasFile:
    """What a Keras file holds: the model config and each layer's weights in Keras order."""

    config: dict[str, Any]
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    keras_version: str = "3"
    format: str = "keras"

    @property
    def major_version(self) -> int:
        try:
            return int(self.keras_version.split(".")[0])
        except ValueError:
            return 3


def read_keras_file(path: str | os.PathLike[str]) -> KerasFile:
    """Reads a `.keras` archive or a legacy `.h5` file (told apart by content, not name).

    Raises:
        ConfigError: the file is neither, or holds no model config.
        ImportError: h5py is missing.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No Keras file at {str(path)!r}.")
    if zipfile.is_zipfile(path):
        return _read_keras_zip(path)
    with open(path, "rb") as handle:
        signature = handle.read(8)
    if signature == b"\x89HDF\r\n\x1a\n":
        return _read_legacy_h5(path)
    raise ConfigError(
        f"{str(path)!r} is neither a Keras 3 `.keras` archive (zip) nor a legacy Keras `.h5` "
        "file (HDF5). A TensorFlow SavedModel directory cannot be imported; load it in Keras "
        "and save it with model.save('model.keras')."
    )


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading Keras files needs h5py: pip install 'unrolled[keras-import]' (or h5py)."
        ) from None
    return h5py


# -- Keras 3 .keras ---------------------------------------------------------------------------------
def _read_keras_zip(path: Path) -> KerasFile:
    h5py = _h5py()
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise ConfigError(f"{str(path)!r} is a zip without config.json: not a .keras file.")
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
        weights: dict[str, list[np.ndarray]] = {}
        if "model.weights.h5" in names:
            with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as store:
                if "layers" in store:
                    weights = _keras3_layer_weights(store["layers"], h5py, _cell_orders(config))
    return KerasFile(config, weights, str(metadata.get("keras_version", "3")), "keras")


def _keras3_layer_weights(
    layers: Any, h5py: Any, cell_orders: dict[str, list[str]]
) -> dict[str, list[np.ndarray]]:
    """Weights by layer name, and by storage key as a fallback (keys are `lstm`, `lstm_1`, ...)."""
    found: dict[str, list[np.ndarray]] = {}
    for key in layers:
        group = layers[key]
        name = group["vars"].attrs.get("name") if "vars" in group else None
        name = None if name is None else _text(name)
        values = _collect_vars(group, h5py, cell_orders.get(name or "", []))
        found[f"key:{key}"] = values
        if name is not None:
            found[name] = values
    return found


def _collect_vars(group: Any, h5py: Any, cells: list[str]) -> list[np.ndarray]:
    # A layer's own variables first, then its sub-layers' in Keras's weight order.
    values = []
    if "vars" in group:
        own = group["vars"]
        values += [np.asarray(own[k]) for k in sorted(own, key=_numeric_key)]
    children = [k for k in group if k != "vars" and isinstance(group[k], h5py.Group)]
    if group.name.endswith("/cells") and set(children) <= set(cells):
        children.sort(key=cells.index)  # StackedRNNCells: the cells' list order, not a-z
    else:
        children.sort(
            key=lambda k: (_CHILD_ORDER.index(k) if k in _CHILD_ORDER else 99, _numeric_key(k))
        )
    for child in children:
        values += _collect_vars(group[child], h5py, cells)
    return values


def _cell_orders(config: Any) -> dict[str, list[str]]:
    """Each layer holding a StackedRNNCells: its cells' storage keys in list order, as Keras
    names them (class name in snake case, `_1`, `_2` for repeats); h5 lists them a-z."""
    layers = config.get("config", {}).get("layers", []) if isinstance(config, dict) else []
    orders = {}
    for layer in layers:
        cells = _find_cells(layer)
        if cells is not None:
            used: dict[str, int] = {}
            keys = [storage_key(str(cell.get("class_name", "")), used) for cell in cells]
            orders[str(layer.get("config", {}).get("name"))] = keys
    return orders


def storage_key(class_name: str, counts: dict[str, int]) -> str:
    """Keras 3's storage key of the next object of `class_name` in a list: the class name in
    snake case, then `_1`, `_2`, ... for repeats (`counts` keeps how many came before)."""
    snake = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", class_name))
    snake = re.sub("([a-z])([A-Z])", r"\1_\2", snake).lower()
    count = counts.get(snake)
    counts[snake] = 0 if count is None else count + 1
    return snake if count is None else f"{snake}_{count + 1}"


def _find_cells(item: Any) -> list[dict[str, Any]] | None:
    """The `cells` list of the first StackedRNNCells config inside `item`, or None."""
    if isinstance(item, dict) and item.get("class_name") == "StackedRNNCells":
        return list(item.get("config", {}).get("cells", []))
    inside = item.values() if isinstance(item, dict) else item if isinstance(item, list) else []
    for value in inside:
        found = _find_cells(value)
        if found is not None:
            return found
    return None


def _numeric_key(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


# -- legacy .h5 -------------------------------------------------------------------------------------
def _read_legacy_h5(path: Path) -> KerasFile:
    h5py = _h5py()
    with h5py.File(path, "r") as store:
        raw = store.attrs.get("model_config")
        if raw is None:
            raise ConfigError(
                f"{str(path)!r} holds no `model_config`: it is a weights-only file "
                "(model.save_weights). Build the model in unrolled and call load_weights, or "
                "save the whole model with model.save()."
            )
        config = json.loads(_text(raw))
        group = store["model_weights"] if "model_weights" in store else store
        version = _text(group.attrs.get("keras_version", store.attrs.get("keras_version", "1")))
        weights = {}
        for name in attribute_list(group, "layer_names"):
            if name in group:
                layer_group = group[name]
                weights[name] = [
                    np.asarray(layer_group[w]) for w in attribute_list(layer_group, "weight_names")
                ]
    return KerasFile(config, weights, version, "h5")


def attribute_list(group: Any, name: str) -> list[str]:
    """A list-of-strings attribute, joined from `name0`, `name1`, ... when Keras split it."""
    if name in group.attrs:
        return [_text(n) for n in group.attrs[name]]
    values: list[str] = []
    chunk = 0
    while f"{name}{chunk}" in group.attrs:
        values += [_text(n) for n in group.attrs[f"{name}{chunk}"]]
        chunk += 1
    return values


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    return value.decode("utf8") if isinstance(value, (bytes, np.bytes_)) else str(value)
