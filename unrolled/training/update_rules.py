"""Keras 3's optimizer update rules as `torch.optim.Optimizer` subclasses.

torch.optim has the same algorithms with small differences in where epsilon goes
(RMSprop and Adagrad add it outside the square root, Keras inside; Adam scales it by
the bias correction), in how SGD momentum holds the learning rate, and in NAdam's
momentum schedule. Those differences matter for the numbers Keras users compare
against, so the rules below are Keras's, line for line, written with torch's
multi-tensor (`_foreach`) kernels. They are real torch optimizers: `state_dict()`,
`param_groups[i]["lr"]` and hand-written training loops all work.

Every rule shares Keras's order of operations in `apply()`: clip the gradients
(`clipnorm` per tensor, `global_clipnorm` over all, or `clipvalue`), apply decoupled
weight decay `w -= w * weight_decay * lr`, then the update, then count the step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any, ClassVar

import torch

from unrolled.training import optimizer_defaults as default

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


class KerasRule(torch.optim.Optimizer):
    """Base class: clipping, weight decay, Keras 2 `decay`, and the step counter.

    A rule's options are the fields of its `settings` record in `optimizer_defaults`, with
    that record's defaults: `AdamRule(params, lr=0.01, beta_1=0.8)`. They, `weight_decay`
    and `decay` are param-group values; clipping (`clipnorm`, `clipvalue`,
    `global_clipnorm`) is the optimizer's. Each param group keeps `iterations` (Keras's
    `optimizer.iterations`), so it is saved with `state_dict()`. Subclasses implement
    `_update(group, params, grads, lr, step)` with `step` counted from 1.
    """

    settings: ClassVar[Any]
    group_state: ClassVar[dict[str, Any]] = {}  # what a rule carries from step to step
    _CLIPPING: ClassVar[tuple[str, ...]] = ("clipnorm", "clipvalue", "global_clipnorm")

    def __init__(self, params: Params, lr: float | None = None, **options: Any) -> None:
        hyper = {
            f.name: options.pop(f.name, getattr(self.settings, f.name))
            for f in fields(self.settings)
            if f.name != "learning_rate"
        }
        lr = self.settings.learning_rate if lr is None else lr
        shared = {"weight_decay": 0.0, "decay": 0.0, "iterations": 0, "lr": lr}
        super().__init__(params, {**shared, **hyper, **self.group_state})
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            options.pop(key, None) for key in self._CLIPPING
        )
        for key in ("weight_decay", "decay"):  # one value for every group, as in Keras
            value = options.pop(key, None)
            if value is not None:
                for group in self.param_groups:
                    group[key] = float(value)
                self.defaults[key] = float(value)
        if options:
            raise TypeError(f"Unexpected optimizer option(s): {sorted(options)}")

    # torch.optim.Optimizer pickles and deep-copies only `defaults`, `state` and
    # `param_groups`; the clipping options are the rule's own and travel with them.
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update({key: getattr(self, key) for key in self._CLIPPING})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for key in self._CLIPPING:
            self.__dict__.setdefault(key, None)  # a rule pickled before they travelled

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # torch keeps the loaded slot tensors themselves (`.to()` of a tensor already on the
        # right device and dtype is that tensor), so an optimizer loaded from another's
        # `state_dict()` would update the other's moments in place. Each rule owns its slots.
        slots = {
            index: {
                name: value.clone() if isinstance(value, torch.Tensor) else value
                for name, value in values.items()
            }
            for index, values in state_dict["state"].items()
        }
        super().load_state_dict({**state_dict, "state": slots})

    @property
    def learning_rate(self) -> float:
        """Keras's `optimizer.learning_rate`: the rate of the first param group; setting it
        sets every group."""
        return float(self.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for group in self.param_groups:
            group["lr"] = float(value)

    @property
    def iterations(self) -> int:
        """Keras's `optimizer.iterations`: the number of steps taken."""
        return int(self.param_groups[0]["iterations"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            work.append((group, params, [p.grad for p in params]))
        self._clip([g for _, _, grads in work for g in grads])
        for group, params, grads in work:
            if not params:
                continue
            lr = group["lr"]
            if group["decay"]:
                # Keras 2's time-based decay, applied to the current base rate.
                lr = lr / (1.0 + group["decay"] * group["iterations"])
            if group["weight_decay"]:
                torch._foreach_mul_(params, 1.0 - group["weight_decay"] * lr)
            self._update(group, params, grads, lr, group["iterations"] + 1)
            group["iterations"] += 1
        return loss

    def _update(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        lr: float,
        step: int,
    ) -> None:
        raise NotImplementedError

    def _clip(self, grads: list[torch.Tensor]) -> None:
        if not grads:
            return
        if self.clipnorm:
            # Each gradient on its own: g * clipnorm / max(||g||, clipnorm).
            norms = torch._foreach_norm(grads)
            scales = [self.clipnorm / torch.clamp(n, min=self.clipnorm) for n in norms]
            torch._foreach_mul_(grads, scales)
        elif self.global_clipnorm:
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            scale = self.global_clipnorm * torch.clamp(1.0 / norm, max=1.0 / self.global_clipnorm)
            torch._foreach_mul_(grads, scale + (norm - norm))  # NaN/inf norms give NaN, as in Keras
        elif self.clipvalue:
            torch._foreach_clamp_min_(grads, -self.clipvalue)
            torch._foreach_clamp_max_(grads, self.clipvalue)

    def _slots(
        self, params: list[torch.Tensor], name: str, fill: float = 0.0
    ) -> list[torch.Tensor]:
        """The optimizer variable `name` of each parameter, created on first use."""
        slots = []
        for p in params:
            state = self.state[p]
            slot = state.get(name)
            if slot is None:
                slot = state[name] = torch.full_like(p, fill, memory_format=torch.preserve_format)
            slots.append(slot)
        return slots


class SGDRule(KerasRule):
    """Keras SGD: `m = momentum * m - lr * g; w += m` (Nesterov: `w += momentum * m - lr * g`).

    Keras differences from torch.optim.SGD: the velocity holds `lr * g`, so a learning
    rate change affects only new gradients (torch rescales the whole buffer).
    """

    settings = default.SGD

    def _update(self, group, params, grads, lr, step):  # type: ignore[no-untyped-def]
        momentum = group["momentum"]
        if not momentum:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        velocity = self._slots(params, "momentum")
        torch._foreach_mul_(velocity, momentum)
        torch._foreach_add_(velocity, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, velocity, alpha=momentum)
        else:
            torch._foreach_add_(params, velocity)


class AdamRule(KerasRule):
    """Keras Adam: `w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)`.

    Keras differences from torch.optim.Adam: epsilon is added to `sqrt(v)` before the
    bias correction (torch adds it after), which only matters for gradients near 1e-7.
    With `weight_decay` this is Keras's AdamW.
    """

    settings = default.Adam

    def _update(self, group, params, grads, lr, step):  # type: ignore[no-untyped-def]
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        m = self._slots(params, "momentum")
        v = self._slots(params, "velocity")
        torch._foreach_lerp_(m, grads, 1.0 - beta_1)  # m += (g - m) * (1 - b1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - beta_2)
        if group["amsgrad"]:
            v_hat = self._slots(params, "velocity_hat")
            torch._foreach_maximum_(v_hat, v)
            v = v_hat
        alpha = lr * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
        denominator = torch._foreach_sqrt(v)
        torch._foreach_add_(denominator, group["epsilon"])
        torch._foreach_addcdiv_(params, m, denominator, value=-alpha)


class RMSpropRule(KerasRule):
    """Keras RMSprop: `w -= lr * g / sqrt(v + epsilon)` with `v = rho * v + (1 - rho) * g^2`.

    Keras differences from torch.optim.RMSprop: epsilon is inside the square root
    (torch: `sqrt(v) + eps`), and momentum accumulates `lr * g / ...` rather than
    `g / ...`. `centered=True` subtracts the squared mean gradient inside the root.
    """

    settings = default.RMSprop

    def _update(self, group, params, grads, lr, step):  # type: ignore[no-untyped-def]
        rho = group["rho"]
        velocity = self._slots(params, "velocity")
        torch._foreach_mul_(velocity, rho)
        torch._foreach_addcmul_(velocity, grads, grads, value=1.0 - rho)
        if group["centered"]:
            average = self._slots(params, "average_gradient")
            torch._foreach_lerp_(average, grads, 1.0 - rho)
            denominator = torch._foreach_addcmul(velocity, average, average, value=-1.0)
            torch._foreach_add_(denominator, group["epsilon"])
        else:
            denominator = torch._foreach_add(velocity, group["epsilon"])
        torch._foreach_sqrt_(denominator)
        if group["momentum"]:
            increment = torch._foreach_div(grads, denominator)
            torch._foreach_mul_(increment, lr)
            buffer = self._slots(params, "momentum")
            torch._foreach_mul_(buffer, group["momentum"])
            torch._foreach_add_(buffer, increment)
            torch._foreach_sub_(params, buffer)
        else:
            torch._foreach_addcdiv_(params, grads, denominator, value=-lr)


class AdagradRule(KerasRule):
    """Keras Adagrad: `a += g^2; w -= lr * g / sqrt(a + epsilon)`, `a` starting at 0.1.

    Keras differences from torch.optim.Adagrad: epsilon inside the square root.
    """

    settings = default.Adagrad

    def _update(self, group, params, grads, lr, step):  # type: ignore[no-untyped-def]
        accumulator = self._slots(params, "accumulator", group["initial_accumulator_value"])
        torch._foreach_addcmul_(accumulator, grads, grads)
        denominator = torch._foreach_add(accumulator, group["epsilon"])
        torch._foreach_sqrt_(denominator)
        torch._foreach_addcdiv_(params, grads, denominator, value=-lr)


class NadamRule(KerasRule):
    """Keras Nadam: Adam with Nesterov momentum on the schedule `u_t = b1 * (1 - 0.5 * 0.96^t)`.

    This equals torch.optim.NAdam with `momentum_decay=1.0` (torch's default 0.004
    stretches the same schedule 250 times); epsilon goes after the bias correction in both.
    """

    settings = default.Nadam
    group_state = {"u_product": 1.0}

    def _update(self, group, params, grads, lr, step):  # type: ignore[no-untyped-def]
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        u_t = beta_1 * (1.0 - 0.5 * 0.96**step)
        u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (step + 1))
        u_product = group["u_product"] * u_t
        group["u_product"] = u_product
        m = self._slots(params, "momentum")
        v = self._slots(params, "velocity")
        torch._foreach_lerp_(m, grads, 1.0 - beta_1)
        torch._foreach_mul_(v, beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - beta_2)
        m_hat = torch._foreach_mul(m, u_next / (1.0 - u_product * u_next))
        torch._foreach_add_(m_hat, grads, alpha=(1.0 - u_t) / (1.0 - u_product))
        denominator = torch._foreach_div(v, 1.0 - beta_2**step)
        torch._foreach_sqrt_(denominator)
        torch._foreach_add_(denominator, group["epsilon"])
        torch._foreach_addcdiv_(params, m_hat, denominator, value=-lr)


class AdadeltaRule(KerasRule):
    """Keras Adadelta: `d = -sqrt(D + eps) / sqrt(A + eps) * g` with `A = rho * A + (1 - rho) * g^2`,
    then `D = rho * D + (1 - rho) * d^2` and `w += lr * d`.

    As torch.optim.Adadelta (whose default learning rate is 1.0; Keras's is 0.001).
    """

    settings = default.Adadelta

    def _update(self, group, params, grads, lr, step):  # type: ignore[no-untyped-def]
        rho, epsilon = group["rho"], group["epsilon"]
        accumulated_grad = self._slots(params, "accumulated_grad")
        accumulated_delta = self._slots(params, "accumulated_delta_var")
        torch._foreach_mul_(accumulated_grad, rho)
        torch._foreach_addcmul_(accumulated_grad, grads, grads, value=1.0 - rho)
        numerator = torch._foreach_add(accumulated_delta, epsilon)
        torch._foreach_sqrt_(numerator)
        denominator = torch._foreach_add(accumulated_grad, epsilon)
        torch._foreach_sqrt_(denominator)
        delta = torch._foreach_mul(numerator, grads)
        torch._foreach_div_(delta, denominator)  # -d
        torch._foreach_mul_(accumulated_delta, rho)
        torch._foreach_addcmul_(accumulated_delta, delta, delta, value=1.0 - rho)
        torch._foreach_add_(params, delta, alpha=-lr)


class AdamaxRule(KerasRule):
    """Keras Adamax: `m` as Adam's, `u = max(b2 * u, |g|)`, `w -= lr * m / ((1 - b1^t) * (u + eps))`."""

    settings = default.Adamax

    def _update(self, group, params, grads, lr, step):  # type: ignore[no-untyped-def]
        beta_1 = group["beta_1"]
        m = self._slots(params, "momentum")
        u = self._slots(params, "norm")
        torch._foreach_lerp_(m, grads, 1.0 - beta_1)
        torch._foreach_mul_(u, group["beta_2"])
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denominator = torch._foreach_add(u, group["epsilon"])
        torch._foreach_addcdiv_(params, m, denominator, value=-lr / (1.0 - beta_1**step))
