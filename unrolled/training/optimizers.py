"""Keras optimizer names and objects, turned into torch optimizers.

`Adam(learning_rate=1e-3)` holds Keras's settings and defaults; `build(parameters)`
makes the `torch.optim.Optimizer` that runs Keras's update rule (see
`update_rules.py`). `get()` resolves what `compile(optimizer=...)` accepts: a name
such as `"adam"`, one of these objects, a Keras config dict, a Keras optimizer object,
or a `torch.optim.Optimizer` already made, which is used as it is.

Given parameters first, as torch's optimizers are, the same classes build at once:
`Adam(model.parameters(), learning_rate=1e-3)` is `Adam(learning_rate=1e-3).build(
model.parameters())`, a `torch.optim.Optimizer` for any training loop (Lightning's
`configure_optimizers` included). `lr=` is accepted there as torch's name for
`learning_rate`.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = get(Adam(learning_rate=0.01, clipnorm=1.0), model.parameters())
    >>> opt.param_groups[0]["lr"]
    0.01
    >>> opt = Adam(model.parameters(), lr=0.01)  # torch's form
    >>> isinstance(opt, torch.optim.Optimizer), opt.param_groups[0]["beta_1"]
    (True, 0.9)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar

import torch

from unrolled.errors import ConfigError, InputTypeError
from unrolled.training import optimizer_defaults as default
from unrolled.training import update_rules

_COMMON = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm")


class Optimizer:
    """Keras-style optimizer settings; `build(parameters)` makes the torch optimizer.

    Called with parameters first (`Adam(model.parameters(), learning_rate=1e-3)`, or
    `params=`), a class returns the torch optimizer itself, built from these settings.

    Args:
        learning_rate: float. Legacy `lr=` is accepted with a DeprecationWarning, and
            without one in the torch form, where it is torch's name.
        weight_decay: decoupled weight decay, `w -= w * weight_decay * lr` before each update.
        clipnorm: clip each gradient tensor to this L2 norm.
        clipvalue: clip each gradient element to `[-clipvalue, clipvalue]`.
        global_clipnorm: clip all gradients together to this global L2 norm.
        decay: Keras 2 time-based decay, `lr / (1 + decay * iterations)`
            (DeprecationWarning).

    Keras differences: Keras 3 ignores `decay` and refuses `lr`; we honour both with a
    warning, as Keras 2 code expects. Learning-rate schedule objects are not accepted;
    use the `LearningRateScheduler` or `ReduceLROnPlateau` callbacks.

    torch differences (the torch form): the arguments and the update math are Keras's
    (`beta_1`, `beta_2`, `epsilon`, not `betas`, `eps`); `weight_decay` is decoupled, as in
    `torch.optim.AdamW`, not added to the gradient as in `torch.optim.Adam`.
    """

    rule: ClassVar[type[update_rules.KerasRule]]
    hyper: ClassVar[tuple[str, ...]] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        params, args, kwargs = _torch_form(cls, args, kwargs)
        if params is None:
            return super().__new__(cls)  # the settings object; __init__ runs next
        # Not an instance of cls, so Python does not run __init__ on what is returned.
        return cls(*args, **kwargs).build(params)

    def __init__(self, learning_rate: float, **kwargs: Any) -> None:
        legacy_lr = kwargs.pop("lr", None)
        if legacy_lr is not None:
            warnings.warn(
                f"{type(self).__name__}: `lr` is deprecated; use `learning_rate`.",
                DeprecationWarning,
                stacklevel=3,
            )
            learning_rate = legacy_lr
        decay = kwargs.pop("decay", None)
        if decay:
            warnings.warn(
                f"{type(self).__name__}: `decay` is deprecated (Keras 3 ignores it); it is applied "
                "here as Keras 2 did, `learning_rate / (1 + decay * iterations)`. Prefer the "
                "`LearningRateScheduler` callback.",
                DeprecationWarning,
                stacklevel=3,
            )
        kwargs.pop("name", None)
        unknown = sorted(set(kwargs) - set(_COMMON))
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: argument(s) not recognized: {unknown}. "
                f"Expected: learning_rate, {', '.join(self.hyper + _COMMON)}."
            )
        if sum(kwargs.get(k) is not None for k in ("clipnorm", "clipvalue", "global_clipnorm")) > 1:
            raise ConfigError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: { ({k: v for k, v in kwargs.items() if k.startswith(('clip', 'global'))}) }"
            )
        self.learning_rate = _number(learning_rate, "learning_rate")
        if not 0.0 <= self.learning_rate < math.inf:
            # NaN or inf turns every weight into NaN at the first step; a negative rate climbs
            # the loss.
            raise ConfigError(
                "Argument `learning_rate` must be a finite number >= 0, e.g. 0.001. "
                f"Received: learning_rate={learning_rate!r}"
            )
        self.decay = float(decay or 0.0)
        self.options = {k: kwargs.get(k) for k in _COMMON}

    def build(
        self, parameters: Iterable[torch.Tensor] | Iterable[dict[str, Any]]
    ) -> torch.optim.Optimizer:
        """A torch optimizer over `parameters` running this Keras rule."""
        hyper = {name: getattr(self, name) for name in self.hyper}
        return self.rule(
            parameters, lr=self.learning_rate, decay=self.decay, **hyper, **self.options
        )

    def get_config(self) -> dict[str, Any]:
        config = {"learning_rate": self.learning_rate}
        config.update({name: getattr(self, name) for name in self.hyper})
        config.update(self.options)
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras 3 defaults."""

    rule = update_rules.SGDRule
    hyper = ("momentum", "nesterov")

    def __init__(
        self,
        learning_rate: float = default.SGD.learning_rate,
        momentum: float = default.SGD.momentum,
        nesterov: bool = default.SGD.nesterov,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number(momentum, "momentum")
        self.nesterov = bool(nesterov)


class Adam(Optimizer):
    """Adam, Keras 3 defaults (epsilon 1e-7)."""

    rule = update_rules.AdamRule
    hyper = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self,
        learning_rate: float = default.Adam.learning_rate,
        beta_1: float = default.Adam.beta_1,
        beta_2: float = default.Adam.beta_2,
        epsilon: float = default.Adam.epsilon,
        amsgrad: bool = default.Adam.amsgrad,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1")
        self.beta_2 = _number(beta_2, "beta_2")
        self.epsilon = _epsilon(epsilon)
        self.amsgrad = bool(amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay, Keras 3 defaults (weight_decay 0.004)."""

    def __init__(
        self,
        learning_rate: float = default.AdamW.learning_rate,
        weight_decay: float = default.AdamW.weight_decay,
        beta_1: float = default.AdamW.beta_1,
        beta_2: float = default.AdamW.beta_2,
        epsilon: float = default.AdamW.epsilon,
        amsgrad: bool = default.AdamW.amsgrad,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )


class RMSprop(Optimizer):
    """RMSprop, Keras 3 defaults; epsilon inside the square root as in Keras."""

    rule = update_rules.RMSpropRule
    hyper = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self,
        learning_rate: float = default.RMSprop.learning_rate,
        rho: float = default.RMSprop.rho,
        momentum: float = default.RMSprop.momentum,
        epsilon: float = default.RMSprop.epsilon,
        centered: bool = default.RMSprop.centered,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho")
        self.momentum = _number(momentum, "momentum")
        self.epsilon = _epsilon(epsilon)
        self.centered = bool(centered)


class Adagrad(Optimizer):
    """Adagrad, Keras 3 defaults (accumulators start at 0.1)."""

    rule = update_rules.AdagradRule
    hyper = ("initial_accumulator_value", "epsilon")

    def __init__(
        self,
        learning_rate: float = default.Adagrad.learning_rate,
        initial_accumulator_value: float = default.Adagrad.initial_accumulator_value,
        epsilon: float = default.Adagrad.epsilon,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number(
            initial_accumulator_value, "initial_accumulator_value"
        )
        self.epsilon = _epsilon(epsilon)


class Nadam(Optimizer):
    """Nadam with Keras's momentum schedule `beta_1 * (1 - 0.5 * 0.96^t)`."""

    rule = update_rules.NadamRule
    hyper = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate: float = default.Nadam.learning_rate,
        beta_1: float = default.Nadam.beta_1,
        beta_2: float = default.Nadam.beta_2,
        epsilon: float = default.Nadam.epsilon,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1")
        self.beta_2 = _number(beta_2, "beta_2")
        self.epsilon = _epsilon(epsilon)


class Adadelta(Optimizer):
    """Adadelta, Keras 3 defaults (learning rate 0.001, rho 0.95)."""

    rule = update_rules.AdadeltaRule
    hyper = ("rho", "epsilon")

    def __init__(
        self,
        learning_rate: float = default.Adadelta.learning_rate,
        rho: float = default.Adadelta.rho,
        epsilon: float = default.Adadelta.epsilon,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho")
        self.epsilon = _epsilon(epsilon)


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm), Keras 3 defaults."""

    rule = update_rules.AdamaxRule
    hyper = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        learning_rate: float = default.Adamax.learning_rate,
        beta_1: float = default.Adamax.beta_1,
        beta_2: float = default.Adamax.beta_2,
        epsilon: float = default.Adamax.epsilon,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1")
        self.beta_2 = _number(beta_2, "beta_2")
        self.epsilon = _epsilon(epsilon)


_BY_NAME: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam, Adadelta, Adamax)
}


def get(
    identifier: Any, parameters: Iterable[torch.Tensor] | Iterable[dict[str, Any]]
) -> torch.optim.Optimizer:
    """The torch optimizer for `identifier` over `parameters`.

    Args:
        identifier: a name (`"adam"`, `"Adam"`, `"rmsprop"`, ...), an `Optimizer` object or
            class from this module, a config dict `{"class_name": ..., "config": {...}}`,
            a Keras optimizer object (its `get_config()` is read), a `torch.optim.Optimizer`
            instance (returned as it is) or subclass (built over `parameters`).
        parameters: the tensors to optimize, e.g. `module.parameters()`.

    Raises:
        ConfigError: unknown name or option. InputTypeError: anything else.
    """
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    return (
        resolve(identifier).build(parameters)
        if not _is_torch_class(identifier)
        else identifier(parameters)
    )


def resolve(identifier: Any) -> Optimizer:
    """The `Optimizer` settings object for a name, config dict, class or Keras object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        return _class_for(identifier)()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return _class_for(identifier["class_name"]).from_config(dict(identifier.get("config", {})))
    if hasattr(identifier, "get_config") and type(identifier).__name__.lower() in _BY_NAME:
        return _from_keras(identifier)
    raise InputTypeError(
        "Could not interpret optimizer identifier. Expected a name such as 'adam', an "
        "unrolled.optimizers object or a torch.optim.Optimizer. "
        f"Received: optimizer={identifier!r}"
    )


def _class_for(name: str) -> type[Optimizer]:
    cls = _BY_NAME.get(name.lower())
    if cls is None:
        raise ConfigError(
            f"Unknown optimizer {name!r}. Expected one of: "
            f"{', '.join(repr(n) for n in sorted(_BY_NAME))}."
        )
    return cls


def _from_keras(optimizer: Any) -> Optimizer:
    # A keras.optimizers object: keep the settings we implement, refuse the rest.
    cls = _BY_NAME[type(optimizer).__name__.lower()]
    config = optimizer.get_config()
    for unsupported in ("use_ema", "loss_scale_factor", "gradient_accumulation_steps"):
        if config.get(unsupported):
            raise ConfigError(f"Keras optimizer option `{unsupported}` is not supported.")
    keep = {"learning_rate", *cls.hyper, *_COMMON}
    learning_rate = config.get("learning_rate")
    if not isinstance(learning_rate, (int, float)):
        raise ConfigError(
            "Keras learning-rate schedules are not supported; pass a float and use the "
            f"LearningRateScheduler callback. Received: learning_rate={learning_rate!r}"
        )
    return cls(**{k: v for k, v in config.items() if k in keep})


def _torch_form(
    cls: type[Optimizer], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """`(params or None, args, kwargs)`: the parameters when called as torch's optimizers
    are, `cls(params, lr, ...)`, with `lr` renamed `learning_rate`; else the arguments as given."""
    if "params" in kwargs:  # kwargs is __new__'s own dict
        params = kwargs.pop("params")
    elif args and _is_parameters(args[0]):
        params, args = args[0], args[1:]
    else:
        return None, args, kwargs
    if "lr" in kwargs:
        if "learning_rate" in kwargs or args:
            raise ConfigError(
                f"{cls.__name__}: give the learning rate once, as `learning_rate` or its torch "
                f"name `lr`. Received: lr={kwargs['lr']!r} and "
                f"learning_rate={kwargs.get('learning_rate', args[0] if args else None)!r}"
            )
        kwargs["learning_rate"] = kwargs.pop("lr")
    return params, args, kwargs


def _is_parameters(value: Any) -> bool:
    # Parameters are an iterable of tensors or param-group dicts; a learning rate is a
    # number, which has `__float__` (as 0-d tensors and arrays do).
    return (
        isinstance(value, Iterable)
        and not isinstance(value, (str, bytes))
        and not hasattr(value, "__float__")
    )


def _epsilon(value: Any) -> float:
    # Keras 2 documented `epsilon=None` as "the backend's epsilon", which is 1e-7.
    return default.KERAS_EPSILON if value is None else _number(value, "epsilon")


def _is_torch_class(identifier: Any) -> bool:
    return isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or callable(value):
        hint = (
            " Schedules are not supported; use the LearningRateScheduler callback."
            if callable(value)
            else ""
        )
        raise ConfigError(f"Argument `{name}` must be a number.{hint} Received: {name}={value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Argument `{name}` must be a number. Received: {name}={value!r}"
        ) from None
