"""The optimizer as the fit kernels take it: its rule's code, its settings, its slots.

`UpdatePlan(optimizer, weights)` reads a Keras update rule (`training/update_rules.py`) for
the weights laid out in the kernel's flat vector (`layout.FlatWeights` order): `code`
(`codes.OPT_*`), `hyper` (`codes.HYPER_*`, float64: the rule's Python floats), `bounds`
(where each weight tensor starts, then the total), and the slots the kernel keeps in its two
vectors `(m, v)`: `slots()` flattens them (a slot the rule has not made yet starts as the
rule would make it: Adagrad's accumulator at `initial_accumulator_value`, others at 0),
`write_back(m, v)` puts them back in the optimizer's state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled.compiled import codes
from unrolled.compiled.layout import flatten, unflatten
from unrolled.training import optimizer_defaults as default
from unrolled.training.update_rules import AdagradRule, AdamRule, RMSpropRule


class UpdatePlan:
    """One optimizer's rule, settings and slots for the fit kernels."""

    def __init__(self, optimizer: Any, weights: list[torch.Tensor]) -> None:
        self.optimizer, self.weights = optimizer, weights
        self.code, self.slot_names = _rule(optimizer)
        sizes = [w.numel() for w in weights]
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def group(self) -> dict[str, Any]:
        return self.optimizer.param_groups[0]

    def hyper(self) -> np.ndarray:
        """The settings now (a scheduler may have moved the rate), in `codes.HYPER_*` order."""
        group, optimizer = self.group, self.optimizer
        # float64, as the rule's own floats: the kernel derives `1 - beta_2` and the like in
        # double before casting to float32, as torch does (float32 `0.999` leaves 1.3e-5 of
        # `1 - beta_2` wrong).
        values = np.zeros(codes.HYPER_SIZE, np.float64)
        values[codes.HYPER_LR] = group["lr"]
        values[codes.HYPER_BETA_1] = group.get("beta_1", group.get("rho", default.Adam.beta_1))
        values[codes.HYPER_BETA_2] = group.get("beta_2", default.Adam.beta_2)
        values[codes.HYPER_EPSILON] = group.get("epsilon", default.Adam.epsilon)
        values[codes.HYPER_MOMENTUM] = group.get("momentum", default.SGD.momentum)
        values[codes.HYPER_WEIGHT_DECAY] = group.get("weight_decay", 0.0) or 0.0
        values[codes.HYPER_CLIPNORM] = optimizer.clipnorm or 0.0
        values[codes.HYPER_CLIPVALUE] = optimizer.clipvalue or 0.0
        values[codes.HYPER_GLOBAL_CLIPNORM] = optimizer.global_clipnorm or 0.0
        return values

    def slots(self) -> tuple[np.ndarray, np.ndarray]:
        """The flat `(m, v)` of the rule's slots (an unused one: one float)."""
        flats = []
        for name in (*self.slot_names, "", "")[:2]:
            if not name:
                flats.append(np.zeros(1, np.float32))
                continue
            fill = _initial_value(self.optimizer, name)
            state = [self.optimizer.state[p].get(name) for p in self.weights]
            flats.append(
                flatten(
                    [
                        torch.full_like(p, fill) if s is None else s
                        for s, p in zip(state, self.weights)
                    ]
                )
            )
        return flats[0], flats[1]

    def write_back(self, m: np.ndarray, v: np.ndarray, batches: int) -> None:
        """The slots after the kernel's updates, and `iterations` advanced by `batches`."""
        self.group["iterations"] += batches
        with torch.no_grad():
            for name, flat in zip(self.slot_names, (m, v)):
                if name:
                    unflatten(flat, self.optimizer._slots(self.weights, name))


def _rule(optimizer: Any) -> tuple[int, tuple[str, ...]]:
    """The kernel's `OPT_*` code for the optimizer, and its slots kept in the kernel's
    `(m, v)` (an empty name: that vector is unused)."""
    group = optimizer.param_groups[0]
    if type(optimizer) is AdamRule:
        return codes.OPT_ADAM, ("momentum", "velocity")
    if type(optimizer) is AdagradRule:
        return codes.OPT_ADAGRAD, ("", "accumulator")
    if type(optimizer) is RMSpropRule:
        if group["momentum"]:
            return codes.OPT_RMSPROP_MOMENTUM, ("momentum", "velocity")
        return codes.OPT_RMSPROP, ("", "velocity")
    if not group["momentum"]:
        return codes.OPT_SGD, ()
    return (codes.OPT_NESTEROV if group["nesterov"] else codes.OPT_MOMENTUM), ("momentum",)


def _initial_value(optimizer: Any, slot: str) -> float:
    """What the rule fills the slot `slot` with when it makes it (`KerasRule._slots`' fill)."""
    if type(optimizer) is AdagradRule and slot == "accumulator":
        return float(optimizer.param_groups[0]["initial_accumulator_value"])
    return 0.0
