"""What `print(layer)` shows: the main sizes, then the options that differ from the defaults.

`repr(LSTM(4, return_sequences=True, activation="relu"))` is
`LSTM(4, activation='relu', return_sequences=True)` followed by the cell it runs, as torch
prints any module's children. Nothing here is written per class: the main sizes are the
constructor's required arguments (`units`; `input_dim, output_dim`; `rate`), and "differs
from the default" compares `get_config()` with the config of a layer made from those
required arguments alone, so each option is compared in the form the config gives it
(`activation=None` is `'linear'` in both).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import torch
from torch import nn

# Always different (every layer has its own name), or shown by the children of the tree.
_NOT_SHOWN = frozenset({"name"})

_REQUIRED = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def describe(layer: nn.Module) -> str:
    """The text inside `LayerClass(...)`: main sizes positionally, changed options by name."""
    try:
        config = layer.get_config()  # type: ignore[operator]
    except Exception:  # a user layer whose config needs more than it has; repr must not raise
        return ""
    required = [name for name in _required_arguments(type(layer)) if name in config]
    defaults = _default_config(type(layer), config)
    parts = []
    for index, name in enumerate(required):
        if _nested(config[name]):
            continue
        # After a wrapped layer left to the tree, a size would read as the first argument.
        skipped = any(_nested(config[before]) for before in required[:index])
        parts.append(f"{name}={_text(config[name])}" if skipped else _text(config[name]))
    for key, value in config.items():
        if key in _NOT_SHOWN or key in required or _nested(value):
            continue
        if key in defaults and _same(defaults[key], value):
            continue
        parts.append(f"{key}={_text(value)}")
    return ", ".join(parts)


def _required_arguments(cls: type) -> list[str]:
    """The constructor's arguments without a default, in order (`units`, `cell`, `layer`)."""
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.name != "self" and p.kind in _REQUIRED and p.default is inspect.Parameter.empty
    ]


def _default_config(cls: type, config: dict[str, Any]) -> dict[str, Any]:
    """The config of `cls` made from its required arguments alone.

    A class that cannot be made from its config (a user layer) gives the signature defaults
    of its own arguments, and the config of the first base class that can be made for the
    rest (`dtype=None` there is `'float32'`, as in the config).
    """
    bases = [k for k in cls.__mro__ if issubclass(k, nn.Module) and k is not nn.Module]
    made: dict[str, Any] = {}
    unmade = bases
    for index, klass in enumerate(bases):
        found = _made_config(klass, config)
        if found is not None:
            made, unmade = found, bases[:index]
            break
    declared: dict[str, Any] = {}
    for klass in unmade:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if p.default is not inspect.Parameter.empty:
                declared.setdefault(name, p.default)
    return {**made, **declared}


def _made_config(cls: type, config: dict[str, Any]) -> dict[str, Any] | None:
    """`cls.from_config` of the required arguments only, then its config; None if it fails.

    Making it draws no weights unless a nested config gives an input shape; the random
    streams are left as they were either way, and the name given spares the name counter.
    """
    required = {name: config[name] for name in _required_arguments(cls) if name in config}
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            made = cls.from_config({**required, "name": "default"})  # type: ignore[attr-defined]
            return dict(made.get_config())
    except Exception:  # a user layer that cannot be made from its config alone
        return None


def _nested(value: Any) -> bool:
    # A wrapped layer or cell (`{"class_name": ..., "config": ...}`, or a list of them) is
    # printed as a child module of the tree, not inline.
    if isinstance(value, dict):
        return "class_name" in value and "config" in value
    if isinstance(value, (list, tuple)) and value:
        return all(_nested(v) for v in value)
    return isinstance(value, nn.Module)


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b) and not (_number(a) and _number(b)):
        return _text(a) == _text(b)  # e.g. a list and a tuple holding the same shape
    try:
        return bool(a == b)
    except Exception:  # arrays and tensors compare element-wise
        return _text(a) == _text(b)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if inspect.isfunction(value) or inspect.isbuiltin(value) or inspect.isclass(value):
        return value.__qualname__
    get_config = getattr(value, "get_config", None)
    if callable(get_config) and not isinstance(value, nn.Module):
        try:
            options = ", ".join(f"{k}={_text(v)}" for k, v in get_config().items())
        except Exception:
            return type(value).__name__
        return f"{type(value).__name__}({options})"
    return repr(value)
