"""A layer's `dtype=` argument, read as Keras reads its dtype policies.

`dtype` names the weights' and the computation's type: `"float16"`, `"bfloat16"`,
`"float32"` (the default), `"float64"`, a `torch.dtype`, a Keras `DTypePolicy` or its
config dict. Keras's mixed policies (`"mixed_float16"`, float32 weights computing in
float16) are refused with the way unrolled spells them: `compile(mixed_precision=...)`.
"""

from __future__ import annotations

from typing import Any

import torch

from unrolled.errors import ConfigError

_DTYPES = {
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
}
NAMES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}
NAMES[torch.float64] = "float64"


def weight_dtype(dtype: Any, owner: str) -> torch.dtype | None:
    """The torch dtype `dtype=` asks for; None when it was not given (the default, float32)."""
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        name: Any = NAMES.get(dtype, str(dtype))
    elif isinstance(dtype, dict):  # a Keras 3 config: {"class_name": "DTypePolicy", ...}
        name = (dtype.get("config") or {}).get("name")
    else:
        name = getattr(dtype, "name", dtype)  # a Keras DTypePolicy has .name
    name = str(name).removeprefix("torch.")
    if name.startswith("mixed_"):
        raise ConfigError(
            f"{owner}: dtype={name!r} is a mixed-precision policy (float32 weights, "
            f"{name.removeprefix('mixed_')} computation); unrolled keeps float32 weights and runs "
            f"mixed precision through model.compile(..., mixed_precision="
            f"{name.removeprefix('mixed_')!r})."
        )
    if name not in _DTYPES:
        raise ConfigError(
            f"{owner}: dtype must be one of 'float16', 'bfloat16', 'float32' or 'float64' (or "
            f"a torch floating dtype); received {dtype!r}."
        )
    return _DTYPES[name]
