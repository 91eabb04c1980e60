"""Keras's names on weights: `w.name == "kernel"`, `w.path == "lstm/lstm_cell/kernel"`.

A layer's weights are `KerasWeight`s: `torch.nn.Parameter`s in every respect (optimizers,
`state_dict`, `torch.compile`, `.to()`), that also answer Keras's `name`, `path`,
`trainable` and `numpy()`. A `Layer` turns each parameter it registers into one, in place,
so an optimizer made before still holds the same object.

The path is the chain of layers that hold the weight, outermost first, as Keras's name
scopes make it when the weight is created: a `Sequential` adds its name
(`sequential/lstm/lstm_cell/kernel`), a wrapper adds its own (`bidirectional/forward_lstm/...`,
`time_distributed/dense/kernel`), and a functional `Model` adds none (Keras builds a
functional model's layers before the model exists). A layer takes the scope of the first
layer it is placed in.

Keras differences: Keras fixes a path when the weight is created; ours follows the layer's
first placement, so a layer built on its own and then added to a `Sequential` reads
`sequential/...` where Keras reads the layer's name alone.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.module import register_module_module_registration_hook


class KerasWeight(nn.Parameter):
    """A `torch.nn.Parameter` with Keras's `name` and `path`.

    Example:
        >>> layer = Dense(2, name="head")
        >>> layer.build((None, 3))
        >>> [(w.name, w.path) for w in layer.weights]
        [('kernel', 'head/kernel'), ('bias', 'head/bias')]
    """

    @property
    def name(self) -> str | None:  # type: ignore[override]
        """The weight's own name, as Keras's: `kernel`, `recurrent_kernel`, `bias`, ..."""
        return self.__dict__.get("_keras_name")

    @property
    def path(self) -> str | None:
        """The layers that hold it and its name, joined by `/`: `lstm/lstm_cell/kernel`."""
        owner_ref = self.__dict__.get("_keras_owner")
        owner = owner_ref() if owner_ref is not None else None
        if owner is None:
            return self.__dict__.get("_keras_path")  # a copy made apart from its layer
        return "/".join((*scope_of(owner), owner.name, self.name))

    @property
    def trainable(self) -> bool:
        """Keras's word for `requires_grad`."""
        return self.requires_grad

    def numpy(self, *, force: bool = False) -> np.ndarray:  # type: ignore[override]
        """The values as a NumPy array (a copy), as a Keras variable's `numpy()`."""
        return self.detach().cpu().numpy().copy()

    # Copies keep the names; the layer that holds a copy links it again (`adopt_weights`).
    def __deepcopy__(self, memo: dict[int, Any]) -> KerasWeight:
        if id(self) in memo:
            return memo[id(self)]
        twin = KerasWeight(self.data.clone(memory_format=torch.preserve_format), self.requires_grad)
        memo[id(self)] = twin
        twin.__dict__.update(copy.deepcopy(_portable_state(self), memo))
        return twin

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild, (self.data, self.requires_grad, _portable_state(self)))


def _portable_state(weight: KerasWeight) -> dict[str, Any]:
    # The owner is a weak reference (a weight must not keep its layer alive), which neither
    # pickles nor copies; the path goes along as text instead.
    state = {k: v for k, v in weight.__dict__.items() if k != "_keras_owner"}
    state["_keras_path"] = weight.path
    return state


def _rebuild(data: torch.Tensor, requires_grad: bool, state: dict[str, Any]) -> KerasWeight:
    weight = KerasWeight(data, requires_grad)
    weight.__dict__.update(state)
    return weight


def name_weight(owner: nn.Module, name: str, parameter: nn.Parameter) -> nn.Parameter:
    """Makes `parameter` (registered on `owner` as `name`) a `KerasWeight`, in place."""
    if type(parameter) is nn.Parameter:
        parameter.__class__ = KerasWeight  # same object: optimizers already holding it still do
    if isinstance(parameter, KerasWeight):
        parameter.__dict__["_keras_name"] = name
        parameter.__dict__["_keras_owner"] = weakref.ref(owner)
    return parameter


def adopt_weights(owner: nn.Module) -> None:
    """Links `owner`'s own weights to it again (after unpickling or copying)."""
    for name, parameter in owner._parameters.items():
        if parameter is not None:
            name_weight(owner, name, parameter)


def scope_of(layer: nn.Module) -> tuple[str, ...]:
    """The names of the layers around `layer`, outermost first."""
    return layer.__dict__.get("_keras_scope", ())


def _assign_scope(layer: nn.Module, scope: tuple[str, ...]) -> None:
    layer.__dict__["_keras_scope"] = scope
    inner = scope + (layer.name,)
    for child in _sub_layers(layer):
        _assign_scope(child, inner)


def _sub_layers(module: nn.Module) -> list[nn.Module]:
    """The layers directly inside `module`, looking through ModuleList/ModuleDict (a
    StackedRNNCells keeps its cells in one), which add no scope, as Keras's lists do not."""
    found = []
    for child in module._modules.values():
        if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
            found += _sub_layers(child)
        elif _names_weights(child):
            found.append(child)
    return found


def _names_weights(module: Any) -> bool:
    # Read from the class: the hook sees other libraries' modules half-made (torch.compile's
    # wrapper answers attribute reads from a module it has not stored yet).
    return getattr(type(module), "_names_weights", False) is True


def _on_register(parent: nn.Module, name: str, child: Any) -> None:
    # torch calls this for every submodule registered anywhere; only our layers act on it.
    if _names_weights(parent) and isinstance(child, (nn.ModuleList, nn.ModuleDict)):
        for item in _sub_layers(child):
            _on_register(parent, name, item)
        return
    if not (_names_weights(parent) and _names_weights(child)):
        return
    if getattr(type(parent), "_scope_boundary", False) or "_keras_scope" in child.__dict__:
        return  # a functional model adds no scope; a layer keeps its first placement's
    _assign_scope(child, (*scope_of(parent), parent.name))


register_module_module_registration_hook(_on_register)
