"""Objects to JSON-ready configs and back, through the registry only.

`serialize` turns a value from a `get_config()` into JSON: numbers, strings, lists and
dicts stay, and every object becomes Keras 3's spec

    {"module": "unrolled.layers", "class_name": "LSTM", "config": {...}, "registered_name": None}

A function (a `Lambda`'s, a custom activation) is saved only by its registered name,
`{"class_name": "function", "config": "Custom>fn", "registered_name": "Custom>fn"}`;
anything else that would need code from the file to come back is refused at save time,
with the place in the config that holds it.

`deserialize` is the inverse; it rebuilds only classes and functions the registry knows.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from unrolled import activations
from unrolled.errors import ConfigError, FileFormatError
from unrolled.saving import registry
from unrolled.training import losses, metrics

FUNCTION = "function"


def serialize(value: Any, where: str = "config") -> Any:
    """`value` as JSON-ready data; objects become specs.

    Raises:
        ConfigError: the value holds something that cannot be saved without code (an
            unregistered function, a NumPy array, a torch module without `get_config`).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, (list, tuple)):
        return [serialize(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"Cannot save {where}: its key {key!r} is not a string.")
            result[key] = serialize(item, f"{where}.{key}")
        return result
    if inspect.isclass(value):
        raise ConfigError(
            f"Cannot save {where}: it holds the class {value.__name__}, not an instance."
        )
    if hasattr(value, "get_config"):
        return serialize_object(value, where)
    if callable(value):
        return serialize_function(value, where)
    raise ConfigError(
        f"Cannot save {where}: a {type(value).__name__} has no config. Saved configs hold "
        "numbers, strings, lists, dicts and objects with get_config()."
    )


def serialize_object(obj: Any, where: str = "object") -> dict[str, Any]:
    """Keras 3's spec of an object with `get_config()`."""
    cls = type(obj)
    namespace, registered = registry.identity(cls)
    if namespace is None and registered is None and cls.__module__.startswith("unrolled."):
        hint = (
            " It wraps a Python function that a config cannot hold: pass it by name "
            "(e.g. loss='mse') or as a registered class."
            if hasattr(obj, "fn")
            else ""
        )
        raise ConfigError(
            f"Cannot save {where}: {cls.__module__}.{cls.__name__} is not registered for "
            f"saving, so a file could not name it.{hint}"
        )
    get_config = getattr(obj, "get_config", None)
    if not callable(get_config):
        raise ConfigError(
            f"Cannot save {where}: {cls.__module__}.{cls.__name__} has no get_config(). "
            "Use unrolled's layers, or a Layer subclass with get_config() registered with "
            "@unrolled.saving.register_serializable()."
        )
    label = f"{where} ({cls.__name__}{_named(obj)})"
    return {
        "module": namespace or cls.__module__,
        "class_name": cls.__name__,
        "config": serialize(get_config(), label),
        "registered_name": registered,
    }


def serialize_function(function: Any, where: str = "function") -> Any:
    """A function's name: a Keras name for built-in ones, else its registered name."""
    try:
        builtin = activations.name_of(function) or _builtin_function_names().get(function)
    except TypeError:  # an unhashable callable object
        builtin = None
    if builtin is not None:
        return builtin
    registered = registry.registered_name(function)
    if registered is not None:
        return {
            "module": None,
            "class_name": FUNCTION,
            "config": registered,
            "registered_name": registered,
        }
    name = getattr(function, "__qualname__", type(function).__name__)
    raise ConfigError(
        f"Cannot save {where}: it holds the Python function {name!r}. A saved file never holds "
        "code (loading it would have to run that code), so register the function with "
        "@unrolled.saving.register_serializable() and save again; load it where the same "
        "registration has run. A lambda cannot be registered: give it a name with `def`."
    )


def deserialize(
    value: Any, custom_objects: Mapping[str, Any] | None = None, where: str = "config"
) -> Any:
    """The inverse of `serialize`: specs become objects, through the registry only.

    Raises:
        FileFormatError: a spec names something unknown, or its config does not rebuild it.
    """
    if isinstance(value, list):
        return [deserialize(item, custom_objects, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        if is_spec(value):
            return deserialize_object(value, custom_objects, where)
        return {
            key: deserialize(item, custom_objects, f"{where}.{key}") for key, item in value.items()
        }
    return value


def is_spec(value: Any) -> bool:
    """Whether a dict is an object spec: a string `class_name` and a `config`.

    Other keys (Keras's `build_config`, say) do not make it plain data, so every object a
    file describes goes through the registry.
    """
    return (
        isinstance(value, dict) and isinstance(value.get("class_name"), str) and "config" in value
    )


def deserialize_object(
    spec: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None, where: str = "config"
) -> Any:
    """The object a spec describes, built by its class's `from_config`."""
    if not is_spec(spec):
        raise FileFormatError(
            f"{where}: expected {{'class_name': ..., 'config': ...}}; received {spec!r:.200}."
        )
    class_name = spec["class_name"]
    if class_name == FUNCTION:
        function = registry.lookup(
            None,
            spec.get("config"),
            spec.get("registered_name") or spec.get("config"),
            custom_objects,
            where,
        )
        if inspect.isclass(function) or not callable(function):
            raise FileFormatError(
                f"{where}: {spec.get('config')!r} is registered, but not as a function."
            )
        return function
    cls = registry.lookup(
        spec.get("module"), class_name, spec.get("registered_name"), custom_objects, where
    )
    if not inspect.isclass(cls):
        raise FileFormatError(f"{where}: {class_name!r} is registered as a function, not a class.")
    raw = spec["config"]
    if not isinstance(raw, dict):
        raise FileFormatError(f"{where}: the config of {class_name} must be a JSON object.")
    label = _short(f"{where} ({class_name}{_named(raw)})")
    from_config = getattr(cls, "from_config", None)
    try:
        if from_config is not None and _takes_custom_objects(from_config):
            # Models rebuild their own parts (layers, graph) from the raw config.
            return from_config(raw, custom_objects=custom_objects)
        config = deserialize(raw, custom_objects, label)
        return from_config(config) if from_config is not None else cls(**config)
    except FileFormatError:
        raise
    except RecursionError:
        raise FileFormatError(f"{label}: the saved config is nested too deeply.") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise FileFormatError(f"Could not rebuild {label} from its saved config: {error}") from None


def _short(where: str, keep: int = 80) -> str:
    # Paths into hostile, deeply nested configs would make messages pages long.
    return where if len(where) <= 2 * keep else f"{where[:keep]} ... {where[-keep:]}"


def _takes_custom_objects(function: Any) -> bool:
    try:
        return "custom_objects" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _named(obj: Any) -> str:
    name = obj.get("name") if isinstance(obj, dict) else getattr(obj, "name", None)
    return f" {name!r}" if isinstance(name, str) else ""


def _builtin_function_names() -> dict[Any, str]:
    # Keras names of our built-in loss and metric functions, so a compile() given the
    # function object saves the name that gives it back.
    names: dict[Any, str] = {fn: name for name, fn in losses._FUNCTIONS.items()}
    names.update(
        {
            metrics.accuracy: "Accuracy",  # the string "accuracy" picks a kind from the data
            metrics.binary_accuracy: "binary_accuracy",
            metrics.categorical_accuracy: "categorical_accuracy",
            metrics.sparse_categorical_accuracy: "sparse_categorical_accuracy",
        }
    )
    return names
