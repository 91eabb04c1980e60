"""The classes and functions a saved file may name, and nothing else.

A saved config names each object as Keras 3 does, `{"module", "class_name", "config",
"registered_name"}`. Loading looks those names up here, in tables filled by code that has
been imported, and never imports a module or resolves a dotted path from the file: a
config naming `os.system` finds nothing and is refused.

Three sources, in the order they are searched:

1. `custom_objects={"MyLayer": MyLayer}` passed to `load_model` (as in Keras);
2. user classes and functions registered with `@register_serializable()`, under
   `"<package>>Name"` (Keras's `registered_name`, e.g. `"Custom>MyLayer"`);
3. unrolled's own classes, by namespace: `unrolled.layers`, `unrolled.models` (the model
   classes register themselves), `unrolled.regularizers`, `unrolled.constraints`,
   `unrolled.optimizers`, `unrolled.losses`, `unrolled.metrics`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from unrolled import constraints, initializers, regularizers
from unrolled import layers as layers_module
from unrolled.errors import ConfigError, FileFormatError
from unrolled.layers.base import Layer
from unrolled.training import losses, metrics, optimizers

T = TypeVar("T")

# namespace -> class name -> class
_BUILTIN: dict[str, dict[str, Any]] = {}
# "Package>Name" -> class or function
_CUSTOM: dict[str, Any] = {}
# object -> (namespace, registered name); one of the two is None
_IDENTITY: dict[Any, tuple[str | None, str | None]] = {}

# Where a spec without a "module" (a wrapper's nested layer) is looked for.
_LAYER_NAMESPACES = ("unrolled.layers", "unrolled.models")


def register_builtin(
    namespace: str, *objects: Any, aliases: Mapping[str, Any] | None = None
) -> None:
    """Adds unrolled's own classes under `namespace` (model classes call this for themselves)."""
    table = _BUILTIN.setdefault(namespace, {})
    for obj in objects:
        table[obj.__name__] = obj
        _IDENTITY.setdefault(obj, (namespace, None))
    for alias, obj in (aliases or {}).items():
        table[alias] = obj


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Registers a class or function so that saved models can name it: Keras's decorator.

    Loading a model then finds it by its registered name `"<package>>Name"`, without
    running anything from the file. Register layers, cells, losses, metrics, activations,
    initializers, regularizers and constraints of your own, and the functions of `Lambda`
    layers (a `Lambda` with an unregistered function cannot be saved).

    Args:
        package: groups names, so two libraries can both have a `MyLayer`.
        name: the name to register under; the object's `__name__` by default.

    Example:
        >>> @register_serializable(package="Demo")
        ... def scaled_tanh(x):
        ...     return 2 * torch.tanh(x)
        >>> registered_name(scaled_tanh)
        'Demo>scaled_tanh'
    """
    if not isinstance(package, str) or ">" in package or not package:
        raise ConfigError(
            f"`package` must be a non-empty string without '>'. Received: {package!r}"
        )

    def decorator(obj: T) -> T:
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
            raise ConfigError(
                f"register_serializable decorates classes and functions; received {obj!r}."
            )
        key = f"{package}>{name or obj.__name__}"  # type: ignore[attr-defined]
        _CUSTOM[key] = obj
        _IDENTITY[obj] = (None, key)
        return obj

    return decorator


def registered_name(obj: Any) -> str | None:
    """The name `register_serializable` gave `obj` (a class or function), or None."""
    try:
        return _IDENTITY.get(obj, (None, None))[1]
    except TypeError:  # unhashable
        return None


def identity(obj: Any) -> tuple[str | None, str | None]:
    """`(namespace, registered name)` of a class or function; `(None, None)` if unknown."""
    try:
        return _IDENTITY.get(obj, (None, None))
    except TypeError:
        return (None, None)


def lookup(
    module: Any,
    class_name: Any,
    registered: Any,
    custom_objects: Mapping[str, Any] | None,
    where: str,
) -> Any:
    """The class or function a saved spec names.

    Raises:
        FileFormatError: nothing registered under that name.
    """
    if not isinstance(class_name, str) or (
        registered is not None and not isinstance(registered, str)
    ):
        raise FileFormatError(f"{where}: a class name must be a string; received {class_name!r}.")
    custom = dict(custom_objects or {})
    for key in (registered, class_name):
        if key is not None and key in custom:
            return custom[key]
    if registered is not None and registered in _CUSTOM:
        return _CUSTOM[registered]
    if isinstance(module, str) and class_name in _BUILTIN.get(module, {}):
        return _BUILTIN[module][class_name]
    if module is None:
        for namespace in _LAYER_NAMESPACES:
            if class_name in _BUILTIN.get(namespace, {}):
                return _BUILTIN[namespace][class_name]
        # A nested spec names a registered class by its bare name only.
        matches = [obj for key, obj in _CUSTOM.items() if key.rpartition(">")[2] == class_name]
        if len(matches) == 1:
            return matches[0]
    shown = class_name if module is None else f"{module}.{class_name}"
    raise FileFormatError(
        f"{where}: unknown class {shown!r}"
        + (f" (registered as {registered!r})" if registered else "")
        + ". Only unrolled's own classes and those registered with "
        "@unrolled.saving.register_serializable() can be loaded; if it is yours, register it "
        f"(or pass custom_objects={{{class_name!r}: {class_name}}}) before loading. Nothing "
        "is imported from a file."
    )


def _register_builtins() -> None:
    layer_classes = [
        obj
        for obj in vars(layers_module).values()
        if inspect.isclass(obj) and issubclass(obj, Layer)
    ]
    register_builtin("unrolled.layers", Layer, *layer_classes)
    register_builtin(
        "unrolled.regularizers",
        *(c for c in vars(regularizers).values() if _subclass(c, regularizers.Regularizer)),
    )
    register_builtin(
        "unrolled.initializers",
        *(c for c in vars(initializers).values() if _subclass(c, initializers.Initializer)),
    )
    register_builtin(
        "unrolled.constraints",
        *(c for c in vars(constraints).values() if _subclass(c, constraints.Constraint)),
    )
    register_builtin(
        "unrolled.optimizers",
        *(c for c in vars(optimizers).values() if _subclass(c, optimizers.Optimizer)),
    )
    # Wrappers around an arbitrary function are left out: their config cannot hold it.
    register_builtin(
        "unrolled.losses",
        *(
            c
            for c in vars(losses).values()
            if _subclass(c, losses.Loss) and c not in (losses.Loss, losses.LossFunctionWrapper)
        ),
    )
    register_builtin(
        "unrolled.metrics",
        *(
            c
            for c in vars(metrics).values()
            if _subclass(c, metrics.Metric)
            and c not in (metrics.Metric, metrics.MeanMetricWrapper, metrics.DeferredMean)
        ),
    )


def _subclass(obj: Any, base: type) -> bool:
    return inspect.isclass(obj) and issubclass(obj, base) and obj is not base


_register_builtins()
