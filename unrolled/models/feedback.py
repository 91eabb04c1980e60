"""`Feedback`: one-to-many by feeding each output back as the next input.

The seeds' second one-to-many recipe (`stateful=True` and a manual `predict` loop),
as one layer that trains end to end: gradients flow through the fed-back outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str
from unrolled.layers.base import Layer
from unrolled.models.stepping import Stepper
from unrolled.saving import serialization
from unrolled.saving.registry import register_builtin


class Feedback(Layer):
    """Runs `layers` for `steps` timesteps from one input, each output the next input.

    Args:
        layers: a chain that maps `(samples, 1, features)` to `(samples, 1, features)`:
            recurrent layers with `return_sequences=True` and a per-step head such as
            `Dense(features)`. Its states carry from step to step.
        steps: how many timesteps to generate.

    Shapes:
        inputs `(samples, features)` (the first step); output `(samples, steps, features)`.

    Example:
        >>> ramp = Feedback([LSTM(8, return_sequences=True), Dense(1)], steps=5)
        >>> ramp(torch.zeros(3, 1)).shape
        torch.Size([3, 5, 1])
    """

    def __init__(self, layers: Sequence[Any], steps: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chain = nn.ModuleList(layers)
        self.steps = positive_int(steps, "steps")
        self.stepper = Stepper(list(self.chain), self.name)
        self.features: int | None = None
        self.build_from_hint()

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape)
        if len(shape) != 2 or shape[-1] is None:
            raise ShapeError(
                f"{self.name} takes the first step as (samples, features); received input shape "
                f"{shape_str(shape)}."
            )
        self.features = int(shape[-1])
        step_shape: Any = (shape[0], 1, self.features)
        for layer in self.chain:
            if not getattr(layer, "built", True):
                layer.build(step_shape)
            step_shape = layer.compute_output_shape(step_shape)
        if step_shape[-1] != self.features:
            raise ConfigError(
                f"{self.name} feeds each output back as the next input, so its layers must output "
                f"{self.features} feature(s) per step, as many as they take; they output {step_shape[-1]}."
            )
        self.built = True

    def forward(self, inputs: Any) -> torch.Tensor:
        x = torch.as_tensor(inputs)
        if x.dim() != 2:
            raise ShapeError(
                f"{self.name} takes the first step as (samples, features); received {shape_str(x.shape)}."
            )
        if not self.built:
            self.build((None, x.shape[-1]))
        step = x[:, None].to(next(self.parameters()).dtype)  # (B, 1, F)
        states = None
        outputs = []
        for _ in range(self.steps):
            step, states = self.stepper(step, states)  # (B, 1, F)
            outputs.append(step)
        return torch.cat(outputs, dim=1)  # (B, steps, F)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return (input_shape[0], self.steps, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layers": [
                serialization.serialize_object(layer, f"layer {index} of {self.name}")
                for index, layer in enumerate(self.chain)
            ],
            "steps": self.steps,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Feedback:
        return cls(**serialization.deserialize(dict(config), custom_objects, cls.__name__))


register_builtin("unrolled.models", Feedback)
