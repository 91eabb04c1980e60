"""`BatchNormalization` and `LayerNormalization`: Keras's normalizations and their weights.

Both scale by `gamma` and shift by `beta` (Keras's names, created only with `scale=True` /
`center=True`). BatchNormalization also keeps `moving_mean` and `moving_variance`: buffers,
not parameters, so no optimizer trains them, yet `get_weights()`, `set_weights()` and saved
files hold them in Keras's order.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from unrolled import constraints, initializers, regularizers
from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input, as_weight_input
from unrolled.layers.parameters import add_weight
from unrolled.layers.weight_names import KerasWeight, name_weight
from unrolled.ops import phase

# Keras's `backend.epsilon()`: added to the count of unmasked entries in masked moments.
_KERAS_EPSILON = 1e-7


class _Normalization(Layer):
    """The `gamma`/`beta` options the two normalizations share, declared once."""

    supports_masking = True

    def _init_scale_and_offset(self, arguments: dict[str, Any]) -> None:
        """The shared options, read by name from the constructor's `locals()`: each
        layer's signature lists them for readers and type checkers."""
        self.epsilon = _number(arguments["epsilon"], "epsilon", minimum=0.0)
        self.center = bool(arguments["center"])
        self.scale = bool(arguments["scale"])
        self.beta_initializer = arguments["beta_initializer"]
        self.gamma_initializer = arguments["gamma_initializer"]
        initializers.get(self.beta_initializer, "beta_initializer")  # checked now, drawn at build
        initializers.get(self.gamma_initializer, "gamma_initializer")
        # Applied by the training loop through Layer.regularization_losses/apply_constraints.
        self.beta_regularizer = regularizers.get(arguments["beta_regularizer"], "beta_regularizer")
        self.gamma_regularizer = regularizers.get(
            arguments["gamma_regularizer"], "gamma_regularizer"
        )
        self.beta_constraint = constraints.get(arguments["beta_constraint"], "beta_constraint")
        self.gamma_constraint = constraints.get(arguments["gamma_constraint"], "gamma_constraint")
        self.register_parameter("gamma", None)  # made by build
        self.register_parameter("beta", None)
        self.input_shape_built: tuple[int | None, ...] | None = None

    def _add_scale_and_offset(
        self, shape: tuple[int, ...], with_scale: bool, with_offset: bool
    ) -> None:
        if with_scale:
            add_weight(self, "gamma", shape, self.gamma_initializer, "gamma_initializer")
        if with_offset:
            add_weight(self, "beta", shape, self.beta_initializer, "beta_initializer")

    def _scale_and_offset_config(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": self.beta_initializer,
            "gamma_initializer": self.gamma_initializer,
            "beta_regularizer": self.beta_regularizer,
            "gamma_regularizer": self.gamma_regularizer,
            "beta_constraint": self.beta_constraint,
            "gamma_constraint": self.gamma_constraint,
        }

    def _positive_axes(self, shape: Sequence[int | None], axes: Sequence[int]) -> list[int]:
        """`axes` counted from 0 for inputs of `shape`; never the samples axis."""
        rank = len(shape)
        if rank < 2:
            raise ShapeError(
                f"{self.name} expects inputs of shape (samples, ..., features); received input "
                f"shape {shape_str(shape)}."
            )
        positive = []
        for axis in axes:
            if not -rank <= axis < rank or axis % rank == 0:
                raise ShapeError(
                    f"{self.name}: axis={axis} is out of bounds (or the samples axis) for inputs "
                    f"of shape {shape_str(shape)}; use an axis between 1 and {rank - 1}, or "
                    "between -1 and {}.".format(-(rank - 1))
                )
            if shape[axis] is None:
                raise ShapeError(
                    f"{self.name} needs a known size on axis {axis} to make its weights; "
                    f"received input shape {shape_str(shape)}."
                )
            positive.append(axis % rank)
        return positive

    def _check_built_shape(self, shape: Sequence[int | None]) -> None:
        built = self.input_shape_built
        if built is None:
            return
        same = len(shape) == len(built) and all(
            b is None or s is None or s == b for s, b in zip(shape[1:], built[1:])
        )
        if not same:
            raise ShapeError(
                f"{self.name} was built for inputs of shape {shape_str(built)} and received "
                f"{shape_str(shape)}. A built layer keeps its weights; give it inputs of the "
                "shape it was built for, or use a new layer."
            )

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """The input's shape."""
        shape = tuple(input_shape)
        self._positive_axes(shape, self._axes())
        self._check_built_shape(shape)
        return shape

    def _axes(self) -> list[int]:
        raise NotImplementedError


class BatchNormalization(_Normalization):
    """Normalizes each feature by the batch's statistics in training, by moving ones otherwise.

    `output = (inputs - mean) / sqrt(variance + epsilon) * gamma + beta`, with `mean` and
    `variance` taken over every axis but `axis`: the current batch's in training (which also
    moves `moving_mean`/`moving_variance` towards them: `moving = moving * momentum +
    batch * (1 - momentum)`), the moving ones in inference.

    Args:
        axis: the features axis (kept); statistics are taken over all the others. A list of
            one axis, as tf.keras 2 saved it, is read as that axis.
        momentum: how much of the moving statistics each training batch keeps.
        epsilon: added to the variance before the square root.
        center, scale: make and use `beta` / `gamma`.
        beta_initializer, gamma_initializer: Keras initializer names or callables.
        moving_mean_initializer, moving_variance_initializer: likewise.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: applied by
            the training loop, as for Dense's kernel.
        synchronized: accepted as Keras accepts it; statistics are those of the batch each
            process sees (see Keras differences).
        renorm, renorm_clipping, renorm_momentum: Keras's batch renormalization; only the
            default `renorm=False` is implemented (ConfigError otherwise).

    Call:
        `layer(inputs, training=None, mask=None)`. `training=True` uses and updates the batch
        statistics, `False` the moving ones. `None` (the default) is Keras's rule: training
        inside `fit` / `train_on_batch`, inference in `predict`, `evaluate` and a plain call;
        once you set the mode yourself (`model.train()` / `model.eval()`, as a torch loop or
        Lightning does), PyTorch's rule: batch statistics in train mode. A `trainable=False` layer always runs in inference, as in Keras. With a mask of shape
        `(samples, timesteps)`, masked timesteps do not count in the batch statistics.

    Weights:
        `gamma (features,)`, `beta (features,)`, `moving_mean (features,)`,
        `moving_variance (features,)`: Keras's get_weights order. The last two are buffers:
        non-trainable, never touched by an optimizer.

    Shapes:
        inputs `(samples, ..., features)` (any rank of at least 2); output of the same shape;
        a mask passes through.

    Keras differences: `synchronized=True` is accepted but statistics are not gathered
    across processes in distributed training (Keras 3 refuses it outside TensorFlow).

    Example:
        >>> layer = BatchNormalization()
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> layer(x).detach()  # a plain call is inference: moving mean 0, variance 1
        tensor([[0.9995, 1.9990],
                [2.9985, 5.9970]])
        >>> layer(x, training=True).detach()  # the batch's statistics
        tensor([[-0.9995, -0.9999],
                [ 0.9995,  0.9999]])
        >>> layer.moving_mean.numpy()  # moved 1% of the way to the batch mean
        array([0.02, 0.04], dtype=float32)
    """

    # Its training output depends on which rows share the batch: TimeDistributed runs it
    # once per timestep, as Keras does.
    statistics_of_the_batch = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: initializers.InitializerArg = "zeros",
        gamma_initializer: initializers.InitializerArg = "ones",
        moving_mean_initializer: initializers.InitializerArg = "zeros",
        moving_variance_initializer: initializers.InitializerArg = "ones",
        beta_regularizer: regularizers.RegularizerArg = None,
        gamma_regularizer: regularizers.RegularizerArg = None,
        beta_constraint: constraints.ConstraintArg = None,
        gamma_constraint: constraints.ConstraintArg = None,
        renorm: bool = False,
        renorm_clipping: dict[str, float] | None = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]  # tf.keras 2 saved the axis as a list, e.g. [2]
        self.axis = _axis(axis, "axis")
        self.momentum = _number(momentum, "momentum", minimum=0.0, maximum=1.0)
        self._init_scale_and_offset(locals())
        initializers.get(moving_mean_initializer, "moving_mean_initializer")
        initializers.get(moving_variance_initializer, "moving_variance_initializer")
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        if renorm:
            raise ConfigError(
                f"{self.name}: renorm=True (batch renormalization) is not implemented; use "
                "renorm=False (the default)."
            )
        self.renorm = False
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = _number(renorm_momentum, "renorm_momentum", 0.0, 1.0)
        self.synchronized = bool(synchronized)
        self.register_buffer("moving_mean", None)  # made by build
        self.register_buffer("moving_variance", None)
        self.build_from_hint()

    def _axes(self) -> list[int]:
        return [self.axis]

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape)
        (axis,) = self._positive_axes(shape, self._axes())
        features = (int(shape[axis]),)
        self._add_scale_and_offset(features, self.scale, self.center)
        self._add_moving("moving_mean", features, self.moving_mean_initializer)
        self._add_moving("moving_variance", features, self.moving_variance_initializer)
        self.input_shape_built = tuple(None if i != axis else d for i, d in enumerate(shape))
        self.built = True
        self._apply_trainable()

    def _add_moving(self, name: str, shape: tuple[int, ...], initializer: Any) -> None:
        # A buffer: saved in state_dict and moved by .to(), but no optimizer sees it.
        argument = f"{name}_initializer"
        value = initializers.initial_value(initializers.get(initializer, argument), shape, argument)
        reference = self.gamma if self.gamma is not None else self.beta
        if reference is not None:
            value = value.to(device=reference.device, dtype=reference.dtype)
        elif self.variable_dtype is not None:
            value = value.to(self.variable_dtype)
        self.register_buffer(name, value)
        self._name_moving_statistics()

    _MOVING = ("moving_mean", "moving_variance")

    def _name_moving_statistics(self) -> None:
        # The buffers answer Keras's `name`, `path`, `trainable` (False) and `numpy()`, as the
        # parameters do: each is a non-trainable KerasWeight held as a buffer. torch's `.to()`
        # and copies hand back plain tensors, so this runs again after them.
        for name in self._MOVING:
            value = self._buffers.get(name)
            if value is not None and not isinstance(value, KerasWeight):
                value = KerasWeight(value, requires_grad=False)
                self._buffers[name] = value
            if value is not None:
                name_weight(self, name, value)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        result = super()._apply(fn, recurse)
        self._name_moving_statistics()
        return result

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._name_moving_statistics()

    @property
    def weights(self) -> list[torch.Tensor]:
        """`[gamma, beta, moving_mean, moving_variance]` (those that exist): Keras's order."""
        if not self.built:
            return []
        kept = [self.gamma, self.beta, self.moving_mean, self.moving_variance]
        return [w for w in kept if w is not None]

    def forward(self, inputs: Any, training: bool | None = None, mask: Any = None) -> torch.Tensor:
        x = as_input(inputs)
        self._positive_axes(tuple(x.shape), self._axes())
        self.ensure_built(x)
        self._check_built_shape(tuple(x.shape))
        assert self.moving_mean is not None and self.moving_variance is not None
        x = as_weight_input(x, self.moving_mean, self.name)
        if training is None:
            # Keras's rule (batch statistics inside fit's training step; a plain call is
            # inference) unless the user set the mode, as a torch loop or Lightning does.
            training = self.training and (phase.in_train_step() or self.mode_set_by_user)
        axis = self.axis % x.dim()
        if training and self.trainable:
            mean, variance = self._moments(x, axis, mask)
            with torch.no_grad():
                self.moving_mean.mul_(self.momentum).add_(mean.detach() * (1.0 - self.momentum))
                self.moving_variance.mul_(self.momentum).add_(
                    variance.detach() * (1.0 - self.momentum)
                )
        else:
            mean, variance = self.moving_mean, self.moving_variance
        # Keras's ops.batch_normalization: (x - mean) * (rsqrt(variance + epsilon) * gamma) + beta
        view = [1] * x.dim()
        view[axis] = -1
        factor = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            factor = factor * self.gamma
        y = (x - mean.reshape(view)) * factor.reshape(view)
        if self.beta is not None:
            y = y + self.beta.reshape(view)
        return y

    def _moments(self, x: torch.Tensor, axis: int, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean and variance per feature: `(features,)` each, as Keras computes them."""
        reduce = [d for d in range(x.dim()) if d != axis]
        if mask is None:
            mean = x.mean(dim=reduce)
            # Keras (torch backend): E[x^2] - E[x]^2, faster and as it rounds.
            variance = x.square().mean(dim=reduce) - mean.square()
            return mean, variance
        mask = torch.as_tensor(mask, device=x.device)
        if mask.dim() != x.dim() - 1:
            raise ShapeError(
                f"{self.name}: the mask must have one axis less than the inputs, e.g. "
                f"(samples, timesteps) for inputs (samples, timesteps, features); received a mask "
                f"of shape {shape_str(mask.shape)} for inputs of shape {shape_str(x.shape)}."
            )
        weights = mask.unsqueeze(-1).expand(x.shape).to(x.dtype)  # 1 where counted
        count = weights.sum(dim=reduce, keepdim=True) + _KERAS_EPSILON
        mean = (x * weights).sum(dim=reduce, keepdim=True) / count
        difference = torch.where(weights.bool(), x - mean, torch.zeros_like(x))
        variance = difference.square().sum(dim=reduce, keepdim=True) / count
        return mean.reshape(-1), variance.reshape(-1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            **self._scale_and_offset_config(),
            "moving_mean_initializer": self.moving_mean_initializer,
            "moving_variance_initializer": self.moving_variance_initializer,
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }


class LayerNormalization(_Normalization):
    """Normalizes each sample over `axis` (the features by default), then scales and shifts.

    `output = (inputs - mean) / sqrt(variance + epsilon) * gamma + beta`, with `mean` and
    `variance` taken over the axes in `axis` for each sample (and timestep) on its own, so
    training and inference compute the same thing.

    Args:
        axis: an axis or a list of axes to normalize over (not the samples axis).
        epsilon: added to the variance before the square root.
        center, scale: make and use `beta` / `gamma`.
        beta_initializer, gamma_initializer: as for BatchNormalization.
        beta_regularizer, gamma_regularizer: as for BatchNormalization.
        beta_constraint, gamma_constraint: as for BatchNormalization.
        rms_scaling: Keras's deprecated option (UserWarning, as in Keras): divides by
            `sqrt(variance + epsilon)` without subtracting the mean, and has no `beta`.

    Weights:
        `gamma`, then `beta`, each of the shape of the normalized axes (`(features,)` by
        default): Keras's names and order.

    Shapes:
        output has the input's shape; a mask passes through.

    Keras differences: Keras 3 on the torch backend fails for an axis that is not the last
    one(s) (it hands that axis's size to torch's layer_norm); we normalize over that axis, as
    Keras does on its other backends.

    Example:
        >>> LayerNormalization()(torch.tensor([[1.0, 3.0]])).detach()
        tensor([[-0.9995,  0.9995]])
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: initializers.InitializerArg = "zeros",
        gamma_initializer: initializers.InitializerArg = "ones",
        beta_regularizer: regularizers.RegularizerArg = None,
        gamma_regularizer: regularizers.RegularizerArg = None,
        beta_constraint: constraints.ConstraintArg = None,
        gamma_constraint: constraints.ConstraintArg = None,
        rms_scaling: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis:
                raise ConfigError("Argument `axis` must name at least one axis. Received: axis=[]")
            self.axis: int | list[int] = [_axis(a, "axis") for a in axis]
        else:
            self.axis = _axis(axis, "axis")
        self._init_scale_and_offset(locals())
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(
                "You passed `rms_scaling=True`, which is deprecated in Keras 3: it scales the "
                "inputs by the variance, not the root mean square.",
                UserWarning,
                stacklevel=2,
            )
        self.build_from_hint()

    def _axes(self) -> list[int]:
        return list(self.axis) if isinstance(self.axis, list) else [self.axis]

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape)
        axes = sorted(self._positive_axes(shape, self._axes()))
        weight_shape = tuple(int(shape[a]) for a in axes)  # type: ignore[arg-type]
        self._add_scale_and_offset(
            weight_shape, self.scale or self.rms_scaling, self.center and not self.rms_scaling
        )
        self.input_shape_built = tuple(d if i in axes else None for i, d in enumerate(shape))
        self.built = True
        self._apply_trainable()

    @property
    def weights(self) -> list[torch.nn.Parameter]:
        """`[gamma, beta]` (those that exist): Keras's order."""
        return [w for w in (self.gamma, self.beta) if w is not None] if self.built else []

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        axes = sorted(self._positive_axes(tuple(x.shape), self._axes()))
        self.ensure_built(x)
        self._check_built_shape(tuple(x.shape))
        reference = self.gamma if self.gamma is not None else self.beta
        if reference is not None:
            x = as_weight_input(x, reference, self.name)
        if self.rms_scaling:
            inverse = torch.rsqrt(x.var(dim=axes, keepdim=True, unbiased=False) + self.epsilon)
            y = x * inverse
            return y * self._broadcast(self.gamma, x, axes) if self.gamma is not None else y
        if axes == list(range(x.dim() - len(axes), x.dim())):
            # The trailing axes: torch's fused kernel, as Keras's torch backend uses.
            normalized = tuple(x.shape[a] for a in axes)
            return F.layer_norm(x, normalized, self.gamma, self.beta, self.epsilon)
        # Other axes: Keras's general formula (its moments: E[x^2] - E[x]^2).
        mean = x.mean(dim=axes, keepdim=True)
        variance = x.square().mean(dim=axes, keepdim=True) - mean.square()
        inverse = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inverse = inverse * self._broadcast(self.gamma, x, axes)
        offset = -mean * inverse
        if self.beta is not None:
            offset = offset + self._broadcast(self.beta, x, axes)
        return x * inverse + offset

    @staticmethod
    def _broadcast(weight: torch.Tensor, x: torch.Tensor, axes: list[int]) -> torch.Tensor:
        shape = [1] * x.dim()
        for axis, size in zip(axes, weight.shape):
            shape[axis] = size
        return weight.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            **self._scale_and_offset_config(),
            "rms_scaling": self.rms_scaling,
        }


def _axis(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(
            f"Argument `{name}` must be an integer axis (e.g. -1 for the features). "
            f"Received: {name}={value!r}"
        )
    return int(value)


def _number(
    value: Any, name: str, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"Argument `{name}` must be a number. Received: {name}={value!r}")
    number = float(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"Argument `{name}` must be {bounds}. Received: {name}={value!r}")
    return number
