"""Mixed precision: `compile(..., mixed_precision="bfloat16" | "float16")`.

The forward pass of fit, evaluate and predict runs under `torch.autocast` on the module's
device: matrix products in the lower precision, weights kept in float32. The outputs
come back as float32, so losses, metrics and `predict`'s arrays are float32 (Keras's
advice for mixed precision: a float32 output). With float16 on CUDA a `GradScaler`
scales the loss so small gradients do not flush to zero, and skips the steps whose
gradients overflowed.

On CPU, bfloat16 autocast speeds up Dense layers and the step loop; the fused recurrent
operators run in float32 under CPU autocast (oneDNN's reduced-precision RNN kernels need
CPU features many machines lack: see `unrolled.ops.fused`), so a recurrent model's
numbers stay close to float32's (tests check bfloat16 training against float32 within
the tolerance stated there). On CUDA, cuDNN runs the recurrent operators in the lower
precision too.

Example:
    >>> policy = MixedPrecision.resolve("bfloat16")
    >>> policy.dtype
    torch.bfloat16
    >>> MixedPrecision.resolve(None) is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unrolled.errors import ConfigError

# Keras's policy names and the short ones; "float32" (or None) turns mixed precision off.
POLICIES: dict[str, torch.dtype | None] = {
    "float32": None,
    "bfloat16": torch.bfloat16,
    "mixed_bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "mixed_float16": torch.float16,
}


class MixedPrecision:
    """Autocast around forward passes, float32 outputs, and a GradScaler where needed.

    Args:
        dtype: `torch.bfloat16` or `torch.float16`.
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self._scaler: Any = None

    @classmethod
    def resolve(cls, spec: Any) -> MixedPrecision | None:
        """None (float32) or the policy for `"bfloat16"`, `"float16"`, `"mixed_bfloat16"`,
        `"mixed_float16"`, a torch dtype, or a MixedPrecision.

        Raises:
            ConfigError: another value.
        """
        if spec is None or isinstance(spec, MixedPrecision):
            return spec
        if spec in (torch.bfloat16, torch.float16):
            return cls(spec)
        if spec == torch.float32:
            return None
        dtype = POLICIES.get(spec) if isinstance(spec, str) else "unknown"
        if dtype == "unknown" or (dtype is None and spec != "float32"):
            raise ConfigError(
                "`mixed_precision` must be None, 'float32', 'bfloat16', 'float16', "
                f"'mixed_bfloat16' or 'mixed_float16'. Received: mixed_precision={spec!r}"
            )
        return None if dtype is None else cls(dtype)  # type: ignore[arg-type]

    def forward(self, function: Callable[[Any], Any], x: Any) -> Any:
        """`function(x)` under autocast on the device of `x` (the module's), with float32
        floating outputs."""
        with torch.autocast(_first_tensor(x).device.type, dtype=self.dtype):
            outputs = function(x)
        return _to_float32(outputs)

    def step(self, objective: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimizer step; scaled for float16 on CUDA."""
        scaler = self._grad_scaler(objective.device)
        if scaler is None:
            objective.backward()
            optimizer.step()
            return
        scaler.scale(objective).backward()
        scaler.step(optimizer)  # unscales first, so clipnorm/clipvalue see true gradients
        scaler.update()

    def _grad_scaler(self, device: torch.device) -> Any:
        if self.dtype != torch.float16 or device.type != "cuda":
            return None
        if self._scaler is None:
            amp_scaler = getattr(torch.amp, "GradScaler", None)  # torch >= 2.3
            self._scaler = amp_scaler("cuda") if amp_scaler else torch.cuda.amp.GradScaler()
        return self._scaler

    def __repr__(self) -> str:
        return f"MixedPrecision({str(self.dtype).removeprefix('torch.')})"


def _first_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    values = x.values() if isinstance(x, dict) else x
    for value in values:
        found = _first_tensor(value)
        if found is not None:
            return found
    return None  # type: ignore[return-value]


def _to_float32(outputs: Any) -> Any:
    if isinstance(outputs, torch.Tensor):
        if outputs.dtype in (torch.float16, torch.bfloat16):
            mask = getattr(outputs, "_keras_mask", None)
            outputs = outputs.float()
            if mask is not None:
                outputs._keras_mask = mask  # type: ignore[attr-defined]
        return outputs
    if isinstance(outputs, dict):
        return {key: _to_float32(value) for key, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_to_float32(value) for value in outputs)
    return outputs
