"""`from_keras(path)`: a Keras model file as an `unrolled` Sequential or functional Model.

The config is rebuilt from a table of layer classes (`keras_config`), the graph from the
saved call nodes, and each layer's weights are copied with `set_weights` in Keras's order.
Keras 1 and 2 `.h5` files, tf.keras 2 files and Keras 3 `.keras`/`.h5` files are read with
h5py and json alone: no TensorFlow, no Keras, no pickle, no code from the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from unrolled.errors import ConfigError
from unrolled.interop.keras_config import UnsupportedLayerError, build_layer, input_shape_hint
from unrolled.interop.keras_files import KerasFile, read_keras_file, storage_key
from unrolled.layers import Bidirectional, Input, Layer
from unrolled.layers.base import layer_from_spec
from unrolled.layers.input_layer import _torch_dtype
from unrolled.layers.recurrent import RNN
from unrolled.layers.symbolic import flatten
from unrolled.models import Model, Sequential
from unrolled.ops import phase
from unrolled.ops.cell_kinds import kind_of_layer
from unrolled.saving.registry import register_builtin

_FUNCTIONAL = ("Functional", "Model")


def from_keras(path: str | os.PathLike[str]) -> Sequential | Model:
    """Builds the model saved in a Keras `.keras` or `.h5` file, with its weights.

    Args:
        path: a Keras 3 `.keras` archive, or a legacy HDF5 file written by `model.save(...h5)`
            in Keras 1, Keras 2, tf.keras 2 or Keras 3.

    Returns:
        A `Sequential` for a Sequential model, a functional `Model` otherwise; its predictions
        equal Keras's. Layer names are kept, so `model.get_layer("lstm")` works as in Keras.

    Raises:
        UnsupportedLayerError (a ConfigError, so a ValueError): a layer with no unrolled
            counterpart, or one that would need code from the file (Lambda, custom activations).
        ConfigError: the file is not a Keras model file, or its weights do not fit the config.
        ImportError: h5py is not installed (`pip install 'unrolled[keras-import]'`).

    Keras differences: files from Keras 1 and 2 keep Keras 2's `hard_sigmoid`
    (`clip(0.2 * x + 0.5, 0, 1)`), which Keras 3 replaced when it loads such a file. The
    optimizer state and the compile settings are not imported.

    Example:
        >>> model = from_keras("forecaster.keras")  # doctest: +SKIP
        >>> model.predict(windows).shape  # doctest: +SKIP
        (32, 1)
    """
    saved = read_keras_file(path)
    config = saved.config
    kind = config.get("class_name") if isinstance(config, dict) else None
    version = saved.major_version
    if kind == "Sequential":
        model, layers = _sequential(config["config"], version)
    elif kind in _FUNCTIONAL:
        model, layers = _functional(config["config"], version)
    else:
        raise UnsupportedLayerError(
            f"The file holds a model of class {kind!r}; from_keras imports Sequential and "
            "functional models (subclassed models are code and cannot be rebuilt from a file)."
        )
    _load_weights(layers, saved)
    phase.set_mode(model, False)
    return model


# -- Sequential -------------------------------------------------------------------------------------
def _sequential(config: Any, version: int) -> tuple[Sequential, list[tuple[dict[str, Any], Any]]]:
    # Keras 1 and early Keras 2 wrote the layer list as the whole config.
    entries = config if isinstance(config, list) else config["layers"]
    name = None if isinstance(config, list) else config.get("name")
    batch_shape = None
    dtype = None
    built: list[tuple[dict[str, Any], Any]] = []
    for entry in entries:
        if entry.get("class_name") == "InputLayer":
            batch_shape = _input_batch_shape(entry["config"])
            dtype = _dtype(entry["config"].get("dtype"))
            continue
        if not built and batch_shape is None:
            batch_shape = input_shape_hint(entry)
            dtype = _dtype(entry.get("config", {}).get("dtype"))
        _refuse_nested_model(entry)
        built.append((entry, build_layer(entry, version)))
    if batch_shape is None and not isinstance(config, list):
        hint = config.get("build_input_shape")
        batch_shape = tuple(hint) if hint is not None else None
    layers: list[Any] = [layer for _, layer in built]
    if batch_shape is not None:
        layers.insert(0, Input(batch_shape=batch_shape, dtype=dtype))
    model = Sequential(layers, name=name)
    return model, built


# -- functional -------------------------------------------------------------------------------------
def _functional(
    config: dict[str, Any], version: int
) -> tuple[Model, list[tuple[dict[str, Any], Any]]]:
    layers: dict[str, Any] = {}
    built: list[tuple[dict[str, Any], Any]] = []
    # Outputs of each call: (layer name, node index) -> flat list of symbolic tensors.
    produced: dict[tuple[str, int], list[Any]] = {}
    pending: list[tuple[str, int, Any]] = []
    mask_only = _mask_only_layers(config)
    masks_possible = any(
        entry.get("class_name") == "Masking"
        or (entry.get("class_name") == "Embedding" and (entry.get("config") or {}).get("mask_zero"))
        for entry in config["layers"]
    )
    for entry in config["layers"]:
        layer_config = entry.get("config") or {}
        name = entry.get("name") or layer_config.get("name")
        if entry.get("class_name") == "InputLayer":
            produced[(name, 0)] = [
                Input(
                    batch_shape=_input_batch_shape(layer_config),
                    name=name,
                    dtype=_dtype(layer_config.get("dtype")),
                )
            ]
            continue
        if name in mask_only:
            continue  # Keras 3 records the masks it propagated; ours propagate themselves
        _refuse_nested_model(entry)
        layer = build_layer(entry, version)
        layers[name] = layer
        built.append((entry, layer))
        for index, node in enumerate(entry.get("inbound_nodes") or []):
            pending.append((name, index, node))

    # Calls wait until the tensors they read exist (a shared layer's second call may read a
    # layer listed after it), and each layer's calls happen in their saved order.
    while pending:
        progressed = False
        for item in list(pending):
            name, index, node = item
            if index > 0 and (name, index - 1) not in produced:
                continue
            call = _node_call(node, produced, layers[name])
            if call is None:
                continue
            args, kwargs = call
            layer = layers[name]
            if masks_possible and _keras3_ignores_mask(node, layer):
                layer = IgnoresInputMask(layer)
            outputs = layer(*args, **kwargs)
            produced[(name, index)] = _flat(outputs)
            pending.remove(item)
            progressed = True
        if not progressed:
            names = ", ".join(sorted({name for name, _, _ in pending}))
            raise ConfigError(
                f"The saved graph cannot be rebuilt: the calls of {names} read tensors that no "
                "layer in the file produces."
            )
    inputs = _endpoints(config["input_layers"], produced)
    outputs = _endpoints(config["output_layers"], produced)
    return Model(inputs, outputs, name=config.get("name")), built


def _keras3_ignores_mask(node: Any, layer: Any) -> bool:
    # Keras 3 fills in `mask` only for a call with one tensor argument, so a recurrent layer
    # called with `initial_state` tensors runs unmasked; its saved call then has no `mask`.
    return (
        isinstance(node, dict)
        and isinstance(layer, (RNN, Bidirectional))
        and bool(_histories((node.get("kwargs") or {}).get("initial_state")))
        and "mask" not in (node.get("kwargs") or {})
    )


class IgnoresInputMask(Layer):
    """Runs `layer` without its input's mask, and passes that mask on to the outputs.

    This is what Keras 3 does to a recurrent layer called with `initial_state` tensors
    (its mask lookup is skipped for calls with several tensor arguments). Imported Keras 3
    models keep that behaviour; the weights are `layer`'s own.
    """

    supports_masking = True

    def __init__(self, layer: Layer) -> None:
        super().__init__(name=layer.name, trainable=layer.trainable)
        self.layer = layer
        self.built = layer.built

    def build(self, input_shape: Any) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    @property
    def weights(self) -> list[Any]:
        return list(self.layer.weights)

    def forward(
        self, inputs: Any, initial_state: Any = None, mask: Any = None, training: Any = None
    ) -> Any:
        unmasked = inputs.view_as(inputs)  # the same values, without the mask attribute
        return self.layer(unmasked, initial_state=initial_state, training=training)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return self.layer.compute_mask(inputs, mask)

    def get_config(self) -> dict[str, Any]:
        inner = self.layer
        return {"layer": {"class_name": type(inner).__name__, "config": inner.get_config()}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IgnoresInputMask:
        return cls(layer_from_spec(config["layer"]))


# Saved in our own format, an imported model names this class; loading finds it here.
register_builtin("unrolled.interop", IgnoresInputMask)


def _mask_only_layers(config: dict[str, Any]) -> set[str]:
    """Layers whose outputs only ever reach `mask=` arguments (Keras 3's `NotEqual`, `Any` ops).

    Keras 3 records the masks it propagated as explicit calls of its ops; our layers
    propagate masks themselves, so those ops are not rebuilt.
    """
    data_refs: dict[str, set[str]] = {}
    for entry in config["layers"]:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        refs = data_refs.setdefault(name, set())
        for node in entry.get("inbound_nodes") or []:
            if isinstance(node, dict):
                kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if k != "mask"}
                refs |= {h[0] for h in _histories([node.get("args"), kwargs])}
            else:
                refs |= {h[0] for h in _histories(node)}
    needed = {h[0] for h in _histories(config["output_layers"])}
    frontier = list(needed)
    while frontier:
        for ref in data_refs.get(frontier.pop(), ()):
            if ref not in needed:
                needed.add(ref)
                frontier.append(ref)
    return set(data_refs) - needed


def _histories(value: Any) -> list[list[Any]]:
    # Every tensor reference in a saved structure, as [layer, node, index].
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"]]
        return [h for v in value.values() for h in _histories(v)]
    if isinstance(value, list):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            return [value]
        return [h for v in value for h in _histories(v)]
    return []


def _node_call(node: Any, produced: dict[tuple[str, int], list[Any]], layer: Any) -> Any:
    """`(args, kwargs)` for one saved call, or None while an input is not built yet."""
    missing = object()

    def tensor(history: Sequence[Any]) -> Any:
        outputs = produced.get((history[0], int(history[1])))
        return missing if outputs is None else outputs[int(history[2])]

    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        resolve = _resolver(tensor, keras3=True)
        args = [resolve(a) for a in node.get("args", [])]
        saved = node.get("kwargs") or {}
        kwargs = {k: (None if k == "mask" else resolve(v)) for k, v in saved.items()}
    else:  # Keras 1/2: [[layer, node, tensor, kwargs], ...] for the first argument
        resolve = _resolver(tensor, keras3=False)
        entries = list(node)
        inputs = [tensor(e[:3]) for e in entries]
        kwargs = {}
        if entries and len(entries[0]) > 3 and entries[0][3]:
            kwargs = {k: resolve(v) for k, v in entries[0][3].items()}
        if len(inputs) > 1 and isinstance(layer, (RNN, Bidirectional)):
            # Keras 2 passed `initial_state` as extra inputs: [x, h, c].
            args, kwargs["initial_state"] = [inputs[0]], inputs[1:]
        else:
            args = [inputs[0] if len(inputs) == 1 else inputs]
    if any(leaf is missing for leaf in flatten((args, kwargs))):
        return None
    # A saved `mask=` is the mask Keras propagated; ours travels with the tensors the same way.
    kept = {k: v for k, v in kwargs.items() if k == "initial_state" and v is not None}
    unknown = sorted(set(kwargs) - {"initial_state", "mask", "training"})
    if unknown:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} was called with {', '.join(unknown)}, which unrolled's "
            f"{type(layer).__name__} does not take."
        )
    return args, kept


def _resolver(tensor: Any, keras3: bool) -> Any:
    def resolve(value: Any) -> Any:
        if keras3 and isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return tensor(value["config"]["keras_history"])
        if (
            not keras3
            and isinstance(value, list)
            and len(value) == 3
            and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:])
        ):
            return tensor(value)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return resolve


def _endpoints(spec: Any, produced: dict[tuple[str, int], list[Any]]) -> Any:
    # One tensor is written [name, node, index]; several as a list (or dict) of those.
    if isinstance(spec, dict):
        return {k: _endpoints(v, produced) for k, v in spec.items()}
    if isinstance(spec, list) and spec and isinstance(spec[0], str):
        return produced[(spec[0], int(spec[1]))][int(spec[2])]
    tensors = [_endpoints(s, produced) for s in spec]
    return tensors[0] if len(tensors) == 1 else tensors


def _flat(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


# -- shapes and dtypes ------------------------------------------------------------------------------
def _input_batch_shape(config: dict[str, Any]) -> tuple[int | None, ...]:
    for key in ("batch_shape", "batch_input_shape"):
        if config.get(key) is not None:
            return tuple(config[key])
    if config.get("input_shape") is not None:
        return (config.get("batch_size"), *config["input_shape"])
    raise ConfigError(f"The input {config.get('name')!r} in the file has no shape.")


def _dtype(value: Any) -> Any:
    if isinstance(value, dict):  # Keras 3 dtype policy
        value = (value.get("config") or {}).get("name")
    if not isinstance(value, str) or "float" in value or value.startswith("mixed"):
        return None  # our layers compute in float32
    try:
        return _torch_dtype(value)
    except ConfigError:
        return None


def _refuse_nested_model(entry: dict[str, Any]) -> None:
    if entry.get("class_name") in ("Sequential", *_FUNCTIONAL):
        raise UnsupportedLayerError(
            f"Layer {entry.get('config', {}).get('name')!r} is a whole model used as a layer; "
            "from_keras imports flat models. Save the inner model on its own, or flatten it."
        )


# -- weights ----------------------------------------------------------------------------------------
def _load_weights(built: list[tuple[dict[str, Any], Any]], saved: KerasFile) -> None:
    counts: dict[str, int] = {}
    for entry, layer in built:
        name = (entry.get("config") or {}).get("name") or entry.get("name")
        key = storage_key(entry.get("class_name", ""), counts)  # Keras 3's, in layer order
        expected = _weights_of(layer)
        values = saved.weights.get(name)
        if values is None and saved.format == "keras":
            values = saved.weights.get(f"key:{key}")
        if not expected and (not values or getattr(layer, "built", True)):
            continue
        if not values:
            raise ConfigError(
                f"The file holds no weights for layer {name!r} ({entry.get('class_name')}), "
                f"which has {len(expected)}."
            )
        values = _upgrade_weights(entry, values, saved.major_version)
        try:
            layer.set_weights(values)
        except ValueError as error:
            raise ConfigError(
                f"The weights saved for layer {name!r} ({entry.get('class_name')}) do not fit its "
                f"config: {error}"
            ) from None


def _weights_of(layer: Any) -> list[Any]:
    if isinstance(layer, Layer):
        return list(layer.weights)
    return list(layer.parameters()) if isinstance(layer, nn.Module) else []


def _upgrade_weights(
    entry: dict[str, Any], values: list[np.ndarray], version: int
) -> list[np.ndarray]:
    """Keras 1's per-gate arrays joined into Keras 2's `kernel, recurrent_kernel, bias`.

    The rule is Keras 2's own (`preprocess_weights_for_loading` in tf.keras's hdf5_format.py):
    a gated layer's file holds `W, U, b` per gate, gates in the kind's `keras1_order` (LSTM
    i, c, f, o; GRU z, r, h).
    """
    class_name = entry.get("class_name")
    config = entry.get("config") or {}
    if class_name == "Bidirectional":
        half = len(values) // 2
        backward = config.get("backward_layer") or config["layer"]
        return [
            *_upgrade_weights(config["layer"], values[:half], version),
            *_upgrade_weights(backward, values[half:], version),
        ]
    if class_name == "TimeDistributed":
        return _upgrade_weights(config["layer"], values, version)
    if version >= 2:
        return values
    kind = kind_of_layer(class_name or "")
    if kind is None or not kind.gated or len(values) != 3 * kind.gate_count:
        return values
    # the file's gate position of each Keras block, for kernel, recurrent kernel and bias
    positions = [kind.keras1_order.index(block) for block in range(kind.gate_count)]
    return [np.concatenate([values[3 * p + part] for p in positions], axis=-1) for part in range(3)]
