"""`Layer`: a `torch.nn.Module` with Keras's build, naming and weight methods."""

from __future__ import annotations

import inspect
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from unrolled import compat, regularizers
from unrolled.errors import ConfigError, ShapeError, UnbuiltWeightsWarning, shape_str
from unrolled.layers import dtype_policy, layer_repr, symbolic, weight_names
from unrolled.ops import phase

_NAME_COUNTS: Counter[str] = Counter()


def _auto_name(cls: type) -> str:
    # Keras names layers `lstm`, `lstm_1`, `lstm_2`, ... per class.
    snake = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls.__name__)  # Keras's to_snake_case
    base = re.sub(r"([a-z])([A-Z])", r"\1_\2", snake).lower()
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


class Layer(nn.Module):
    """Base of our layers: Keras's `build`, `name`, `trainable`, masks and weight lists on an `nn.Module`.

    Weights are created by `build(input_shape)`: at construction when `input_shape=`
    (or `batch_input_shape=`) is given, otherwise on the first call.

    Masks travel with tensors, as in Keras 3: a layer's output carries the mask that
    `compute_mask` gives (attribute `_keras_mask`), and the next layer receives it as its
    `mask` argument. A layer with `supports_masking = False` that receives a mask warns,
    because downstream layers will not see it.

    Calling a layer on a `SymbolicTensor` (from `Input`) records the call for a `Model`
    and returns symbolic outputs whose shapes come from `compute_output_shape`.
    """

    supports_masking: bool = False
    # Its weights carry Keras's `name` and `path`, and it is a scope for the layers in it.
    _names_weights: bool = True
    # Whether the user chose train/eval mode (`model.train()`), as opposed to fit/predict.
    mode_set_by_user: bool = False
    # The layer's own constructor arguments that `get_config()` gives after the base ones,
    # each read from the attribute of its name: its options, declared once.
    _config_options: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        activity_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.name = name or _auto_name(type(self))
        self.batch_shape = compat.pop_batch_shape(kwargs, type(self).__name__)
        # The weights' type: `dtype=` (None: float32, torch's default) until `.to()` casts them.
        self.variable_dtype = dtype_policy.weight_dtype(dtype, type(self).__name__)
        self.activity_regularizer = activity_regularizer  # stored for the training loop
        if kwargs:
            raise ConfigError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}"
            )
        self.built = False
        self._built_from_hint = False
        self._trainable = trainable
        self._inbound_nodes: list[Any] = []  # its calls in model definitions (symbolic)

    def __getstate__(self) -> dict[str, Any]:
        # Per-call caches (attributes named `_kept_*`) stay behind: `copy.deepcopy` and
        # `pickle` give a layer that makes them again on its first call. They are keyed on
        # weights' addresses and versions, which mean nothing in another copy or process.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_kept_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        weight_names.adopt_weights(self)  # copies and unpickled layers name their own weights

    def train(self, mode: bool = True) -> Layer:
        """torch's `train(mode)`; it also notes that the mode is the user's own choice.

        `fit` and `predict` switch modes through `ops.phase.set_mode`, which is not noted: a
        layer such as BatchNormalization then follows Keras's rule (batch statistics in
        `fit` only), and PyTorch's (`self.training`) once the user set the mode, as a
        hand-written torch loop or Lightning does.
        """
        if not phase.library_sets_mode():
            self.mode_set_by_user = True
        return super().train(mode)

    def register_parameter(self, name: str, param: nn.Parameter | None) -> None:
        """torch's `register_parameter`; the weight also gets Keras's `name` and `path`."""
        if param is not None:
            weight_names.name_weight(self, name, param)
        super().register_parameter(name, param)

    def __prepare_scriptable__(self) -> Any:
        # torch.jit.script calls this first: refuse with the way out, not a compiler error.
        raise ConfigError(
            f"torch.jit.script cannot compile {type(self).__name__}: unrolled's layers are "
            "Python (masks, Keras arguments, the choice of path), beyond TorchScript. Use "
            "torch.jit.trace(model, example) or torch.export.export(model, (example,)) instead."
        )

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _plain(args, kwargs) and symbolic.has_symbolic((args, kwargs)):
            return self._symbolic_call(args, kwargs)
        first = args[0] if args else kwargs.get("inputs")
        if self._built_from_hint:
            self.adopt_input_shape(
                tuple(np.shape(first)) if not hasattr(first, "shape") else tuple(first.shape)
            )
        previous_mask = kwargs.get("mask")
        if previous_mask is None:
            previous_mask = get_mask(first)
            if previous_mask is not None and accepts(type(self), "mask"):
                kwargs["mask"] = previous_mask
        outputs = super().__call__(*args, **kwargs)
        if self.activity_regularizer is not None:
            # Keras's activity penalty of this call, added to the loss by the training loop.
            self.activity_losses = _activity_penalties(self.activity_regularizer, outputs)
        if self.supports_masking:
            self._attach_masks(first, outputs, previous_mask)
        elif previous_mask is not None:
            warnings.warn(
                f"Layer '{self.name}' ({type(self).__name__}) received a mask but does not support "
                "masking, so downstream layers will not see it.",
                stacklevel=2,
            )
        return outputs

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of this layer's outputs; by default the input mask passes through."""
        return mask

    def _attach_masks(self, inputs: Any, outputs: Any, previous_mask: Any) -> None:
        if previous_mask is None and type(self).compute_mask is Layer.compute_mask:
            return  # nothing came in and nothing is made here
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None or (isinstance(masks, list) and all(m is None for m in masks)):
            return
        leaves = symbolic.flatten(outputs)
        if all(get_mask(leaf) is not None for leaf in leaves):
            return  # the layer set its own
        for tensor, mask in zip(leaves, symbolic.flatten(masks)):
            if mask is not None and isinstance(tensor, torch.Tensor) and get_mask(tensor) is None:
                tensor._keras_mask = mask

    def _symbolic_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        first = args[0] if args else kwargs.get("inputs")
        input_shape = symbolic.map_structure(lambda t: t.shape, first)
        if self._built_from_hint and self._contradicts_input_shape(input_shape):
            # Keras builds a layer in a graph for the tensor it is called on, whatever shape
            # it was given; its provisional weights go before anything can refer to them.
            self.ignore_input_shape(f"called on an input of shape {shape_str(input_shape)}")
        if self._built_from_hint:
            self.adopt_input_shape(input_shape)
        if not self.built:
            self.build(input_shape)
        output_shape = self.compute_output_shape(input_shape)
        node = symbolic.Node(self, args, kwargs)
        self._inbound_nodes.append(node)
        if symbolic.is_shape(output_shape):
            node.outputs = [symbolic.SymbolicTensor(output_shape, node, 0)]
            node.returned = node.outputs[0]
            return node.returned
        node.outputs = [
            symbolic.SymbolicTensor(shape, node, i) for i, shape in enumerate(output_shape)
        ]
        node.returned = (
            type(output_shape)(node.outputs)
            if isinstance(output_shape, tuple)
            else list(node.outputs)
        )
        return node.returned

    @property
    def input(self) -> Any:
        """The symbolic input of this layer's first call in a model definition, as in Keras."""
        node = self._first_node("input")
        return node.args[0] if node.args else node.kwargs.get("inputs")

    @property
    def output(self) -> Any:
        """The symbolic output(s) of this layer's first call in a model definition, as in Keras
        (the keras.io seq2seq recipe rebuilds its inference models from them)."""
        return self._first_node("output").returned

    def _first_node(self, what: str) -> Any:
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            # An AttributeError, as Keras raises (getattr(layer, "output", None) works; torch's
            # tools probe for it); torch's __getattr__ words it as a missing attribute.
            raise AttributeError(
                f"{self.name} has never been called on a symbolic tensor (from Input(...)), so it "
                f"has no symbolic {what}; call it in a model definition first."
            )
        return nodes[0]

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s) for `input_shape`, None for sizes known only at run time.

        This default runs the layer on zeros twice, with different sizes for the unknown
        axes, and marks the output axes that changed as unknown. Layers override it.
        """
        probes = [_probe(input_shape, fill) for fill in (2, 3)]
        with torch.no_grad():
            results = [
                symbolic.map_structure(lambda t: tuple(t.shape), self.forward(p)) for p in probes
            ]
        return _merge_probed_shapes(results[0], results[1])

    def ensure_built(self, inputs: Any) -> None:
        """Builds from the first real input's shape (on its device) if not built yet."""
        if self.built:
            return
        self.build(symbolic.map_structure(lambda t: tuple(t.shape), inputs))
        device = getattr(symbolic.flatten(inputs)[0], "device", None)
        if device is not None:
            self.to(device)

    # -- building ----------------------------------------------------------------------------
    def build_from_hint(self) -> None:
        """Builds from `input_shape=`/`batch_input_shape=` given at construction, if any.

        Layers call this at the end of `__init__`. The weights stay provisional until data,
        `set_weights` or a model confirms the shape (see `adopt_input_shape`).
        """
        if self.batch_shape is not None:
            self.build(self.batch_shape)
            self._built_from_hint = True

    def adopt_input_shape(self, input_shape: Any) -> None:
        """Confirms the construction-time shape on the first input; refuses another one.

        A built layer keeps its weights: an optimizer, `set_weights` or a saved file may
        already refer to them, so a call with other feature sizes is an error, never a rebuild.
        """
        if not self._built_from_hint:
            return
        hint = self.batch_shape
        if self._contradicts_input_shape(input_shape):
            raise ShapeError(
                f"{self.name} was built for inputs of shape {shape_str(hint)} (its input shape "
                f"argument) and received {shape_str(tuple(input_shape))}. A built layer keeps its "
                "weights; give it the input shape it receives, or leave the argument out to build "
                "it from its first input."
            )
        self._built_from_hint = False

    def _contradicts_input_shape(self, input_shape: Any) -> bool:
        hint = self.batch_shape
        return symbolic.is_shape(input_shape) and (
            len(hint) != len(input_shape) or hint[-1] != input_shape[-1]
        )

    def ignore_input_shape(self, position: str) -> None:
        """Drops an input shape given to a layer that is not a model's first, as Keras 2 did.

        Its provisional weights (built from that shape at construction, never confirmed by
        data or `set_weights`) are dropped too, so the model builds the layer for its real
        input before anything can refer to them.
        """
        warnings.warn(
            f"{self.name}: the input shape {shape_str(self.batch_shape)} given to a layer that is "
            f"{position} is ignored, as Keras 2 ignored it; the layer is built for the input it "
            "receives. Give the shape to the first layer or to an Input only.",
            DeprecationWarning,
            stacklevel=3,
        )
        if self._built_from_hint:
            for module in self.modules():
                if isinstance(module, Layer):
                    module.built = False
            for name, _ in list(self.named_parameters()):
                owner, _, attribute = name.rpartition(".")
                self.get_submodule(owner).register_parameter(attribute, None)
        self.batch_shape = None
        self._built_from_hint = False

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the weights for inputs of `input_shape` (samples axis included)."""
        self.built = True

    def _apply_trainable(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad_(self._trainable)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        # As in Keras, the flag reaches every layer inside (wrapped layers, a model's layers),
        # so weights they create later follow it too.
        for module in self.modules():
            if isinstance(module, Layer):
                module._trainable = bool(value)
        self._apply_trainable()

    # -- weights ------------------------------------------------------------------------------
    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """torch's `parameters()`; warns when asked from outside before the weights exist.

        Weights are made when the input shape is known (an `Input`, `input_shape=`, `build`
        or the first call): an optimizer made over an unbuilt model would never train them.
        """
        if not self.built and not sys._getframe(1).f_globals.get("__name__", "").startswith(
            "unrolled."
        ):
            warnings.warn(
                f"{self.name} is not built yet, so parameters() misses the weights it makes at "
                "its first call: an optimizer made now would never train them. Build it first: "
                "model.build((None, timesteps, features)), or start the model with "
                "Input((timesteps, features)), or call it on data once.",
                UnbuiltWeightsWarning,
                stacklevel=2,
            )
        return super().parameters(recurse)

    @property
    def weights(self) -> list[nn.Parameter]:
        """The parameters in Keras's `get_weights()` order."""
        return list(self.parameters())

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        """The weights the optimizer updates (none when the layer is frozen), in Keras's order."""
        return [w for w in self.weights if w.requires_grad] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[nn.Parameter]:
        """The other weights, in Keras's order."""
        if not self.trainable:
            return list(self.weights)
        return [w for w in self.weights if not w.requires_grad]

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in Keras's order and layout."""
        return [w.detach().cpu().numpy().copy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Copies arrays into the weights, checking count and shapes first (all or nothing)."""
        if not self.built:
            self._build_from_weights(weights)
        self._built_from_hint = False  # explicit weights make the shape final
        current = self.weights
        if len(weights) != len(current):
            raise ShapeError(
                f"{self.name}: set_weights expected {len(current)} arrays "
                f"({', '.join(shape_str(w.shape) for w in current)}); received {len(weights)}."
            )
        values = [torch.as_tensor(np.asarray(value)) for value in weights]
        for index, (value, target) in enumerate(zip(values, current)):
            if tuple(value.shape) != tuple(target.shape):
                raise ShapeError(
                    f"{self.name}: weight {index} must have shape {shape_str(target.shape)}; "
                    f"received {shape_str(value.shape)}."
                )
        with torch.no_grad():
            for value, target in zip(values, current):
                target.copy_(value.to(device=target.device, dtype=target.dtype))

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        raise ConfigError(
            f"{self.name} has no weights yet: call it on data or call build(input_shape) before set_weights."
        )

    # -- regularizers and constraints (applied by the training loop) -------------------------
    def regularization_losses(self) -> list[torch.Tensor]:
        """The penalty of every weight that has a regularizer, here and in nested layers,
        then the penalties that layers computed on their last call (`activity_losses`, e.g.
        ActivityRegularization's)."""
        losses = [rule(weight) for weight, rule in _weight_rules(self, "regularizer")]
        for module in self.modules():
            losses.extend(module.__dict__.get("activity_losses", ()))
        return losses

    def apply_constraints(self) -> None:
        """Projects every weight that has a constraint; called after each optimizer step."""
        with torch.no_grad():
            for weight, rule in _weight_rules(self, "constraint"):
                weight.copy_(rule(weight))

    def count_params(self) -> int:
        """Number of scalars in all weights, trainable or not (Keras's count)."""
        if not self.built:
            raise ConfigError(f"{self.name} is not built yet, so it has no parameters to count.")
        return sum(w.numel() for w in self.weights)

    @property
    def dtype_name(self) -> str:
        """Keras's name of the weights' type (`"float32"`, ...), as `get_config` gives it."""
        weight = next(self.parameters(), None)
        dtype = self.variable_dtype if weight is None else weight.dtype
        return dtype_policy.NAMES.get(dtype or torch.get_default_dtype(), "float32")

    def extra_repr(self) -> str:
        """What `print(layer)` shows inside the parentheses: `LSTM(4, return_sequences=True)`.

        The main sizes, then the options whose config differs from the default (see
        `layer_repr`); wrapped layers and cells follow as children, as in any torch module.
        """
        return layer_repr.describe(self)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_name,
            "activity_regularizer": self.activity_regularizer,
        }
        if self.batch_shape is not None:
            config["batch_shape"] = self.batch_shape
        config.update((name, getattr(self, name)) for name in self._config_options)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """A new layer from `get_config()`'s dictionary: Keras's inverse of `get_config`.

        The layer has fresh weights (a config holds none), built only if the config gives
        an input shape. `model.save` / `unrolled.load_model` keep the weights too.

        Example:
            >>> layer = Dense(3, activation="relu", name="head")
            >>> Dense.from_config(layer.get_config()).get_config() == layer.get_config()
            True
        """
        return cls(**config)


def _weight_rules(layer: nn.Module, kind: str) -> list[tuple[nn.Parameter, Any]]:
    # Keras names options after the weight (`kernel_regularizer`), except the recurrent
    # kernel's (`recurrent_regularizer`).
    rules = []
    for module in layer.modules():
        for name, weight in module.named_parameters(recurse=False):
            option = "recurrent" if name == "recurrent_kernel" else name
            rule = getattr(module, f"{option}_{kind}", None)
            if callable(rule):
                rules.append((weight, rule))
    return rules


def _activity_penalties(rule: Any, outputs: Any) -> list[torch.Tensor]:
    # Keras: the regularizer of every output tensor, divided by that tensor's batch size.
    penalty = regularizers.get(rule, "activity_regularizer")
    losses = []
    for tensor in symbolic.flatten(outputs):
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            loss = penalty(tensor)
            samples = tensor.shape[0] if tensor.dim() > 0 else 1
            losses.append(loss / samples if samples else torch.zeros_like(loss))
    return losses


def layer_from_spec(spec: Any) -> Any:
    """A layer from a nested `{"class_name": ..., "config": ...}`, as wrappers' `get_config`
    gives their inner layers; a layer passes through.

    The class is looked up among the `Layer` subclasses already imported, by name. Files are
    read by `unrolled.saving`, which rebuilds inner layers from its registry before a
    wrapper's `from_config` sees them.
    """
    if not isinstance(spec, dict):
        return spec
    name = spec.get("class_name")
    if not isinstance(name, str) or not isinstance(spec.get("config"), dict):
        raise ConfigError(
            f"A nested layer must be a layer or {{'class_name': ..., 'config': {{...}}}}; "
            f"received {spec!r:.200}."
        )
    found: list[type[Layer]] = []
    pending: list[type[Layer]] = [Layer]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name and cls not in found:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    if not found:
        raise ConfigError(f"Unknown layer class {name!r} in a nested layer config.")
    # Ours first when a user class has the same name.
    found.sort(key=lambda c: not c.__module__.startswith("unrolled."))
    return found[0].from_config(dict(spec["config"]))


def _plain(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    # The common eager call (tensors, flags, None) needs no walk looking for symbolic inputs.
    # Plain loops: this runs on every call, and generator expressions cost microseconds.
    for value in args:
        if type(value) is not torch.Tensor:
            return False
    for value in kwargs.values():
        if value is not None and type(value) is not torch.Tensor and type(value) is not bool:
            return False
    return True


def get_mask(tensor: Any) -> torch.Tensor | None:
    """The Keras mask a tensor carries (`_keras_mask`), or None."""
    return getattr(tensor, "_keras_mask", None)


_ACCEPTS: dict[tuple[type, str], bool] = {}


def accepts(cls: type, argument: str) -> bool:
    """Whether `cls.forward` takes `argument`; cached per class because signatures are slow to read."""
    key = (cls, argument)
    if key not in _ACCEPTS:
        _ACCEPTS[key] = argument in inspect.signature(cls.forward).parameters
    return _ACCEPTS[key]


def _probe(shape: Any, fill: int) -> Any:
    if symbolic.is_shape(shape):
        return torch.zeros(tuple(fill if d is None else d for d in shape))
    return [_probe(s, fill) for s in shape]


def _merge_probed_shapes(a: Any, b: Any) -> Any:
    # Axes that differ between the two probe runs depend on the unknown input sizes.
    if symbolic.is_shape(a):
        return tuple(x if x == y else None for x, y in zip(a, b))
    return type(a)(_merge_probed_shapes(x, y) for x, y in zip(a, b))
