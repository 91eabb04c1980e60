"""Keras 1 and tf.keras 2 `.h5` model files, written from a Keras 3 model with h5py.

No TensorFlow is installed here, so the files that Keras 1.x and tf.keras 2.x write are
made by hand, in their layout, from a real Keras 3 model (its weights and config). Keras 3
itself writes its own legacy `.h5` with `model.save("x.h5")`; that one is tested directly.

The layout, as TensorFlow 2.x's `tensorflow/python/keras/saving/hdf5_format.py` writes it
(`save_model_to_hdf5`, `save_weights_to_hdf5_group`, `save_attributes_to_hdf5_group`):

    /                        attrs: keras_version b"2.x", backend b"tensorflow",
                             model_config  JSON bytes {"class_name", "config"}
    /model_weights           attrs: layer_names (array of bytes, every layer of
                             model.layers in order), backend, keras_version
    /model_weights/<layer>   attrs: weight_names (array of bytes: the variables' names,
                             e.g. b"lstm/lstm_cell/kernel:0", in layer.weights order, i.e.
                             trainable then non-trainable); one dataset per name, the
                             slashes making nested groups: /model_weights/lstm/lstm/lstm_cell/kernel:0

and the functional config's call nodes as `engine/node.py` (`Node.serialize`) writes them:
`"inbound_nodes": [[[layer, node_index, tensor_index, kwargs], ...], ...]`, one list per
call, one entry per tensor of the first argument. A recurrent layer called with
`initial_state` received `[inputs, *states]` as its first argument (tf.keras 2's
`RNN.__call__`), so its states are extra entries. Layer configs are tf.keras 2's
`get_config()`: `batch_input_shape` on input layers, `time_major` and `implementation` on
recurrent layers, objects as `{"class_name", "config"}`, dtypes as strings.

Keras 1 (keras 1.2's `topology.py`, `save_weights_to_hdf5_group`) wrote the same groups
without a `keras_version` attribute, a Sequential config as a bare list of layers, the old
argument names (`output_dim`, `init`, `inner_init`, `inner_activation`, ...) and one array
per gate: LSTM `W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o`, GRU
`W_z, U_z, b_z, W_r, U_r, b_r, W_h, U_h, b_h` (as Keras 2's converter reads them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

_RECURRENT = ("LSTM", "GRU", "SimpleRNN")


def write_tf_keras2_h5(model: Any, path: str | Path, keras_version: str = "2.15.0") -> Path:
    """A tf.keras 2.x `model.save("x.h5")` file for the Keras 3 `model` (Sequential or functional)."""
    config = model.get_config()
    layers = [_layer_entry(entry) for entry in config["layers"]]
    kind = "Sequential" if type(model).__name__ == "Sequential" else "Functional"
    body: dict[str, Any] = {"name": config["name"], "layers": layers}
    if kind == "Functional":
        body["input_layers"] = _endpoint_list(config["input_layers"])
        body["output_layers"] = _endpoint_list(config["output_layers"])
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode()
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": kind, "config": body}).encode()
        group = f.create_group("model_weights")
        # tf.keras 2's Sequential.layers leaves the InputLayer out; a functional model's has it.
        names = [layer.name for layer in model.layers]
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = keras_version.encode()
        for layer in sorted(model.layers, key=lambda each: each.name):
            layer_group = group.create_group(layer.name)
            weight_names = []
            for variable in layer.weights:
                # Keras 3 paths are "sequential/lstm/lstm_cell/kernel"; TF 2 names "lstm/lstm_cell/kernel:0".
                name = variable.path.split("/", 1)[1] + ":0"
                weight_names.append(name.encode())
                layer_group.create_dataset(name, data=np.asarray(variable.numpy()))
            layer_group.attrs["weight_names"] = np.array(weight_names, dtype="S")
    return path


def _layer_entry(entry: dict[str, Any]) -> dict[str, Any]:
    out = {"class_name": entry["class_name"], "config": _layer_config(entry)}
    if "inbound_nodes" in entry:
        out["name"] = entry["name"]
        out["inbound_nodes"] = [_node(node) for node in entry["inbound_nodes"]]
    return out


def _layer_config(entry: dict[str, Any]) -> dict[str, Any]:
    config = {k: _plain(v) for k, v in entry["config"].items()}
    config["dtype"] = "float32"
    kind = entry["class_name"]
    if kind == "InputLayer":
        config["batch_input_shape"] = config.pop("batch_shape")
        config.pop("optional", None)
    if kind in _RECURRENT:
        config["time_major"] = False
        config.pop("seed", None)
        config.pop("zero_output_for_mask", None)
        if kind != "SimpleRNN":
            config["implementation"] = 2
    if kind in ("Bidirectional", "TimeDistributed"):
        for key in ("layer", "backward_layer"):
            if key in config:
                config[key] = {
                    "class_name": entry["config"][key]["class_name"],
                    "config": _layer_config(entry["config"][key]),
                }
    config.pop("quantization_config", None)
    return config


def _plain(value: Any) -> Any:
    # Keras 3 objects {"module", "class_name", "config", "registered_name"} -> tf.keras 2's.
    if isinstance(value, dict) and "class_name" in value and "module" in value:
        return {"class_name": value["class_name"], "config": _plain(value.get("config"))}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _node(node: dict[str, Any]) -> list[list[Any]]:
    first = node["args"][0]
    tensors = first if isinstance(first, list) else [first]
    entries = [[*t["config"]["keras_history"], {}] for t in tensors]
    for state in node.get("kwargs", {}).get("initial_state") or []:
        entries.append([*state["config"]["keras_history"], {}])
    return entries


def _endpoint_list(spec: Any) -> list[list[Any]]:
    return [spec] if spec and isinstance(spec[0], str) else spec


def write_keras1_h5(
    path: str | Path,
    layers: list[dict[str, Any]],
    weights: dict[str, list[tuple[str, np.ndarray]]],
) -> Path:
    """A Keras 1.x Sequential file: `layers` as Keras 1 `{"class_name", "config"}` entries and
    each layer's `(weight name, array)` pairs in Keras 1's order."""
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(
            {"class_name": "Sequential", "config": layers}
        ).encode()
        group = f.create_group("model_weights")
        names = [entry["config"]["name"] for entry in layers]
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            layer_group = group.create_group(name)
            pairs = weights.get(name, [])
            layer_group.attrs["weight_names"] = np.array([n.encode() for n, _ in pairs], dtype="S")
            for weight_name, array in pairs:
                layer_group.create_dataset(weight_name, data=array)
    return path


def keras1_lstm_weights(
    name: str, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> list:
    """Keras 2 LSTM weights (gates i, f, c, o) split into Keras 1's per-gate arrays (i, c, f, o)."""
    u = recurrent.shape[0]
    gate = {"i": 0, "f": 1, "c": 2, "o": 3}
    pairs = []
    for g in "icfo":
        k = gate[g]
        pairs += [
            (f"{name}_W_{g}", kernel[:, k * u : (k + 1) * u]),
            (f"{name}_U_{g}", recurrent[:, k * u : (k + 1) * u]),
            (f"{name}_b_{g}", bias[k * u : (k + 1) * u]),
        ]
    return pairs


def keras1_gru_weights(
    name: str, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> list:
    """Keras 2 GRU(reset_after=False) weights (z, r, h) split into Keras 1's per-gate arrays."""
    u = recurrent.shape[0]
    pairs = []
    for k, g in enumerate("zrh"):
        pairs += [
            (f"{name}_W_{g}", kernel[:, k * u : (k + 1) * u]),
            (f"{name}_U_{g}", recurrent[:, k * u : (k + 1) * u]),
            (f"{name}_b_{g}", bias[k * u : (k + 1) * u]),
        ]
    return pairs
