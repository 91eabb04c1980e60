"""Keras layer configs (Keras 1, 2 and 3 spellings) → our layers, built by class name from a table.

`build_layer(entry, version)` takes one `{"class_name": ..., "config": {...}}` entry of a
saved model and returns the matching `unrolled` layer. Nothing is looked up dynamically:
a class name that is not in `LAYERS` raises `UnsupportedLayerError`, naming the layer and
listing the supported ones, and so does anything that would need code from the file
(Lambda layers, custom activations).

What changes between Keras versions and is handled here:
    Keras 1   `output_dim`, `init`, `inner_init`, `inner_activation`, `W_regularizer`,
              `dropout_W`, `p` (Dropout), ...; `forget_bias_init`, `consume_less` dropped.
    Keras 2   `implementation` and `time_major` (False only) on recurrent layers;
              initializers, regularizers and constraints as `{"class_name", "config"}`.
    Keras 3   the same with `module`/`registered_name` keys and dtype policies.
    Keras < 3 `hard_sigmoid` is `clip(0.2 * x + 0.5, 0, 1)`; Keras 3 changed it to
              `relu6(x + 3) / 6`. Files from Keras 1 and 2 keep their own definition.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from unrolled import constraints, initializers, layers, regularizers
from unrolled.errors import ConfigError
from unrolled.layers import RNN, Bidirectional, TimeDistributed
from unrolled.layers.embeddings import KERAS1_NAMES as EMBEDDING_KERAS1_NAMES
from unrolled.layers.recurrent import KERAS1_NAMES
from unrolled.saving.registry import register_serializable


class UnsupportedLayerError(ConfigError):
    """A saved layer has no `unrolled` counterpart, or would need code from the file to build."""


@register_serializable(package="unrolled")
def hard_sigmoid_keras2(x: torch.Tensor) -> torch.Tensor:
    """Keras 1 and 2's `hard_sigmoid`: `clip(0.2 * x + 0.5, 0, 1)` (Keras 3 uses `relu6(x + 3) / 6`).

    Registered for saving, so an imported Keras 2 model saves and loads in our format.
    """
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def _classes(*names: str) -> dict[str, type[nn.Module]]:
    """Our layer classes by Keras class name: `unrolled.layers` exports each under that name."""
    return {name: getattr(layers, name) for name in names}


RECURRENT = _classes("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
CELLS = _classes("LSTMCell", "GRUCell", "SimpleRNNCell")
MERGES = _classes(
    "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot"
)
#: Attention layers (Keras 3 saves MultiHeadAttention's projections in its get_weights order).
ATTENTION = _classes("Attention", "AdditiveAttention", "MultiHeadAttention")
#: Convolutions, poolings and the 1-D resizing layers (channels-last), as Keras 2 and 3 save them.
CONVOLUTIONAL = _classes(
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "UpSampling1D",
    "ZeroPadding1D",
    "Cropping1D",
)
#: Normalizations, activation layers, noise and activity regularization.
NORMALIZATION_AND_ACTIVATIONS = _classes(
    "BatchNormalization",
    "LayerNormalization",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "ActivityRegularization",
)
SIMPLE = {
    **_classes(
        "Dense",
        "Dropout",
        "Activation",
        "Flatten",
        "Reshape",
        "RepeatVector",
        "Masking",
        "Embedding",
        "Permute",
    ),
    **MERGES,
    **ATTENTION,
    **CONVOLUTIONAL,
    **NORMALIZATION_AND_ACTIVATIONS,
}
#: Every class name `from_keras` can build (InputLayer and models are handled by the importer).
SUPPORTED = sorted(
    [*RECURRENT, "RNN", "Bidirectional", "TimeDistributed", *SIMPLE, "InputLayer", "Sequential"]
)

_WHY_NOT = {
    "Lambda": "a Lambda layer holds Python code (marshalled bytecode), and importing never "
    "executes code from a file. Rebuild the model in unrolled with a Lambda of your own function, "
    "then load the weights",
    "CuDNNLSTM": "it stores its weights in cuDNN's layout; load it in Keras 2 as an LSTM "
    "(Keras converts the weights) and save again",
    "CuDNNGRU": "it stores its weights in cuDNN's layout; load it in Keras 2 as a "
    "GRU(reset_after=True, recurrent_activation='sigmoid') and save again",
    "Merge": "Keras 1's Merge layer joins branches inside a Sequential model, which Keras 2 and "
    "3 (and unrolled) express only with the functional API. Rebuild it as a Model whose branch "
    "outputs meet in concatenate/add/multiply/average/maximum/dot, then load the weights",
}

# Keras 1 argument names → Keras 3 ones: the recurrent layers' own table, and Dense's and
# Dropout's two others.
_KERAS1_NAMES = {**KERAS1_NAMES, "bias": "use_bias", "p": "rate"}
# Keys that describe the saved object, not the layer's computation: dropped.
_IGNORED = {
    "dtype",
    "input_dtype",
    "batch_input_shape",
    "batch_shape",
    "input_shape",
    "input_length",
    "build_config",
    "sparse",
    "ragged",
    "optional",
    "quantization_config",
    "lora_rank",
    "lora_alpha",
    "implementation",
    "consume_less",
    "forget_bias_init",
    "time_major",
    "autocast",
    "synchronized",
    "use_cudnn",
}


def build_layer(entry: dict[str, Any], version: int) -> nn.Module:
    """Our layer for one saved `{"class_name", "config"}` entry written by Keras `version`."""
    class_name = entry.get("class_name")
    config = dict(entry.get("config") or {})
    name = config.get("name", entry.get("name", "?"))
    if class_name in _WHY_NOT:
        raise UnsupportedLayerError(
            f"Layer {name!r} ({class_name}) cannot be imported: {_WHY_NOT[class_name]}."
        )
    try:
        if class_name in RECURRENT:
            return RECURRENT[class_name](**_recurrent_args(config, class_name, version))
        if class_name == "RNN":
            return _generic_rnn(config, version)
        if class_name == "Bidirectional":
            return _bidirectional(config, version)
        if class_name == "TimeDistributed":
            return TimeDistributed(build_layer(config.pop("layer"), version), **_common(config))
        if class_name in SIMPLE:
            return SIMPLE[class_name](**_simple_args(config, class_name, version))
    except UnsupportedLayerError:
        raise
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"Layer {name!r} ({class_name}) in the Keras file: {error}") from None
    raise UnsupportedLayerError(
        f"Layer {name!r} ({class_name}) has no unrolled counterpart. Supported layers: "
        f"{', '.join(SUPPORTED)}."
    )


# -- recurrent layers -------------------------------------------------------------------------------
def _recurrent_args(config: dict[str, Any], class_name: str, version: int) -> dict[str, Any]:
    if config.get("time_major"):
        raise UnsupportedLayerError(
            f"Layer {config.get('name')!r} ({class_name}) has time_major=True, inputs "
            "(timesteps, samples, features); unrolled layers take (samples, timesteps, features)."
        )
    args = _translate(config, _KERAS1_NAMES, class_name, version)
    if class_name == "SimpleRNN":
        args.pop("recurrent_activation", None)  # Keras 1 configs carry one; a SimpleRNN has none
    if class_name == "GRU" and version < 2:
        args.setdefault("reset_after", False)  # Keras 1's GRU applies the reset gate first
    if class_name in ("LSTM", "GRU") and version < 2:
        # Keras 1's default inner activation, absent from configs that kept the default.
        args.setdefault("recurrent_activation", hard_sigmoid_keras2)
    return args


def _generic_rnn(config: dict[str, Any], version: int) -> RNN:
    cell_entry = config.pop("cell")
    if isinstance(cell_entry, dict) and cell_entry.get("class_name") == "StackedRNNCells":
        cell_entry = cell_entry["config"]["cells"]
    entries = cell_entry if isinstance(cell_entry, list) else [cell_entry]
    cells = []
    for each in entries:
        kind = each.get("class_name")
        if kind not in CELLS:
            raise UnsupportedLayerError(
                f"Layer {config.get('name')!r} (RNN) runs a {kind} cell, which has no unrolled "
                f"counterpart (user cells are code). Supported cells: {', '.join(sorted(CELLS))}."
            )
        cell_args = _translate(dict(each["config"]), _KERAS1_NAMES, kind, version)
        cell_args.pop("trainable", None)
        cells.append(CELLS[kind](**cell_args))
    args = _translate(config, {}, "RNN", version)
    return RNN(cells if len(cells) > 1 else cells[0], **args)


def _bidirectional(config: dict[str, Any], version: int) -> Bidirectional:
    layer = build_layer(config.pop("layer"), version)
    backward_entry = config.pop("backward_layer", None)
    backward = None if backward_entry is None else build_layer(backward_entry, version)
    merge_mode = config.pop("merge_mode", "concat")
    return Bidirectional(layer, merge_mode=merge_mode, backward_layer=backward, **_common(config))


# -- other layers -----------------------------------------------------------------------------------
def _simple_args(config: dict[str, Any], class_name: str, version: int) -> dict[str, Any]:
    if class_name == "Embedding":
        # Keras 1's `dropout` (whole words, in training) is kept: Embedding implements it.
        return _translate(config, EMBEDDING_KERAS1_NAMES, class_name, version, keep_input_dim=True)
    if class_name in ("Conv1D", "Conv2D", "Conv3D") and version < 2:
        raise UnsupportedLayerError(
            f"Layer {config.get('name')!r} ({class_name}): Keras 1 files store convolution "
            "kernels in another layout (Theano's also flipped); load the file in Keras 2 and save "
            "it again"
        )
    if class_name == "Flatten":
        config.pop("data_format", None)  # 'channels_last'/'channels_first' only matter for images
    return _translate(config, _KERAS1_NAMES, class_name, version)


def _common(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k in ("name", "trainable")}


def _translate(
    config: dict[str, Any],
    renames: dict[str, str],
    class_name: str,
    version: int,
    keep_input_dim: bool = False,
) -> dict[str, Any]:
    """Keras config → constructor arguments: old names renamed, objects resolved, noise dropped."""
    layer = config.get("name", "?")
    args: dict[str, Any] = {}
    for key, value in config.items():
        if key in _IGNORED or (key == "input_dim" and not keep_input_dim):
            continue
        key = renames.get(key, key)
        if key.endswith("activation") and key != "activity_regularizer":
            value = _activation(value, layer, class_name, version)
        elif key.endswith("initializer"):
            value = _initializer(value)
            if value is None:
                continue
        elif key.endswith("regularizer"):
            value = _rule(value, _REGULARIZERS, layer, key)
        elif key.endswith("constraint"):
            value = _rule(value, _CONSTRAINTS, layer, key)
        args[key] = value
    return args


def _activation(value: Any, layer: str, class_name: str, version: int) -> Any:
    name = value
    if isinstance(value, dict):
        # Keras 3 writes built-in functions as {"module": "keras.activations", "config": "tanh"};
        # anything else is a user function, which is code.
        module = str(value.get("module") or "")
        inner = value.get("config")
        if module.startswith("keras") and isinstance(inner, str):
            name = inner
        else:
            raise UnsupportedLayerError(
                f"Layer {layer!r} ({class_name}) uses the custom activation "
                f"{value.get('config')!r}; importing never runs code from a file. Build the layer "
                "in unrolled with your function and load the weights."
            )
    if name is None:
        return None
    if not isinstance(name, str):
        raise ConfigError(f"Layer {layer!r} ({class_name}): unreadable activation {value!r}.")
    if name == "hard_sigmoid" and version < 3:
        return hard_sigmoid_keras2
    return name


def _initializer(value: Any) -> Any:
    # The weights come from the file, so an initializer only matters if the user rebuilds the
    # layer; keep the ones we know by name and drop the rest.
    name = value.get("class_name") if isinstance(value, dict) else value
    if not isinstance(name, str):
        return None
    try:
        initializers.get(name)
    except ConfigError:
        return None
    return name


def _l1l2(config: dict[str, Any]) -> Any:
    return regularizers.L1L2(l1=config.get("l1", 0.0), l2=config.get("l2", 0.0))


_REGULARIZERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "l1l2": _l1l2,
    "l1": _l1l2,
    "l2": _l1l2,
    "l1l2regularizer": _l1l2,  # Keras 1
    "weightregularizer": _l1l2,  # Keras 1
}
_CONSTRAINTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "maxnorm": lambda c: constraints.MaxNorm(c.get("max_value", c.get("m", 2.0)), c.get("axis", 0)),
    "nonneg": lambda c: constraints.NonNeg(),
    "unitnorm": lambda c: constraints.UnitNorm(c.get("axis", 0)),
    "minmaxnorm": lambda c: constraints.MinMaxNorm(
        c.get("min_value", 0.0), c.get("max_value", 1.0), c.get("rate", 1.0), c.get("axis", 0)
    ),
}


def _rule(
    value: Any, table: dict[str, Callable[[dict[str, Any]], Any]], layer: str, key: str
) -> Any:
    """A regularizer or constraint from its saved form; unknown ones are dropped with a warning."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        # Keras 2/3: {"class_name": "L2", "config": {...}}; Keras 1: {"name": "L1L2Regularizer", ...}.
        kind = str(value.get("class_name") or value.get("name") or "")
        config = value.get("config") if "class_name" in value else value
        factory = table.get(kind.replace("_", "").lower())
        if factory is not None and isinstance(config, dict):
            return factory(config)
    warnings.warn(
        f"Layer {layer!r}: `{key}`={value!r} has no unrolled counterpart and is dropped; it only "
        "matters for further training.",
        stacklevel=4,
    )
    return None


def input_shape_hint(entry: dict[str, Any]) -> tuple[int | None, ...] | None:
    """The batch shape a saved layer says its input has, if it says (any Keras version)."""
    config = entry.get("config") or {}
    class_name = entry.get("class_name")
    for key in ("batch_input_shape", "batch_shape"):
        if config.get(key) is not None:
            return tuple(config[key])
    if config.get("input_shape") is not None:
        return (None, *config["input_shape"])
    if class_name == "Embedding" and config.get("input_length") is not None:
        return (None, config["input_length"])
    if config.get("input_dim") is not None and class_name != "Embedding":
        if class_name in RECURRENT or class_name == "RNN":
            return (None, config.get("input_length"), config["input_dim"])
        return (None, config["input_dim"])
    build = entry.get("build_config") or {}
    shape = build.get("input_shape") if isinstance(build, dict) else None
    return tuple(shape) if isinstance(shape, (list, tuple)) else None
